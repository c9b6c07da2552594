// Validation rows of tensors: CreateTensor's fields and quota, and DestroyTensor, ReadTensor and
// WriteTensor of handles that are not the session's, of storage tensors, of the wrong size.
#include <string>
#include <vector>

#include "validation_table.h"

namespace kp::service::test::validation {

std::vector<Row> tensorRows() {
  const std::string unknown = std::to_string(kUnknownHandle);
  return {
      // -- CreateTensor
      {"tensor without data_type", [](ValidationContext& c) { return c.createTensor({.size = 3}); },
       kInvalid, R"(^data_type is not set \(DATA_TYPE_UNSPECIFIED\)$)"},
      {"tensor with data_type out of range",
       [](ValidationContext& c) {
         return c.createTensor({.dataType = static_cast<v1::DataType>(99), .size = 3});
       },
       kInvalid, R"(^data_type has unknown value 99$)"},
      {"tensor with tensor_type out of range",
       [](ValidationContext& c) {
         return c.createTensor(
             {.dataType = kF32, .tensorType = static_cast<v1::TensorType>(7), .size = 3});
       },
       kInvalid, R"(^tensor_type has unknown value 7$)"},
      {"tensor of size zero",
       [](ValidationContext& c) { return c.createTensor({.dataType = kF32, .size = 0}); }, kInvalid,
       R"(^size must be greater than zero \(got 0\): a zero-sized tensor, which Kompute refuses too$)"},
      {"tensor of 2^62 float64 elements (byte count overflows)",
       [](ValidationContext& c) { return c.createTensor({.dataType = kF64, .size = 1ull << 62}); },
       kInvalid, R"(^size 4611686018427387904 is too large)"},
      {"tensor of 2^64-1 float32 elements",
       [](ValidationContext& c) { return c.createTensor({.dataType = kF32, .size = ~0ull}); },
       kInvalid, R"(^size 18446744073709551615 is too large)"},
      {"tensor of 4 TiB: beyond the session memory quota",
       [](ValidationContext& c) { return c.createTensor({.dataType = kF32, .size = 1ull << 40}); },
       kExhausted,
       R"(session device memory quota exceeded: .* \+ 4398046511104 bytes \(4\.0 TiB\) )"
       R"(requested > \d+ bytes .*--session-memory-bytes)"},
      {"tensor data of the wrong length",
       [](ValidationContext& c) {
         return c.createTensor({.dataType = kF32, .size = 3, .data = std::string(5, '\0')});
       },
       kInvalid, R"(^data has 5 bytes; a tensor of 3 float32 elements needs 12)"},
      {"float64 tensor data of a float32 length",
       [](ValidationContext& c) {
         return c.createTensor({.dataType = kF64, .size = 3, .data = f32({1, 2, 3})});
       },
       kInvalid, R"(^data has 12 bytes; a tensor of 3 float64 elements needs 24)"},

      // -- DestroyTensor / ReadTensor / WriteTensor
      {"DestroyTensor of handle 0", [](ValidationContext& c) { return c.destroyTensor(0); },
       kNotFound, R"(^tensor: tensor 0 is not a valid handle$)"},
      {"DestroyTensor of an unknown handle",
       [](ValidationContext& c) { return c.destroyTensor(kUnknownHandle); }, kNotFound,
       "^tensor: tensor " + unknown + " does not exist in this session$"},
      {"DestroyTensor of another session's tensor",
       [](ValidationContext& c) { return c.destroyTensor(c.foreign); }, kNotFound,
       R"(does not exist in this session)"},
      {"DestroyTensor of a destroyed tensor",
       [](ValidationContext& c) { return c.destroyTensor(c.destroyed); }, kNotFound,
       R"(does not exist in this session)"},
      {"ReadTensor of another session's tensor",
       [](ValidationContext& c) { return c.readTensor(c.foreign); }, kNotFound,
       R"(^tensor: tensor \d+ does not exist in this session$)"},
      {"ReadTensor of a storage tensor",
       [](ValidationContext& c) { return c.readTensor(c.storage); }, kPrecondition,
       R"(is a storage tensor: it has no host data)"},
      {"WriteTensor of the wrong size",
       [](ValidationContext& c) { return c.writeTensor(c.a, f32({1})); }, kInvalid,
       R"(^data has 4 bytes; tensor \d+ has 12$)"},
      {"WriteTensor of a storage tensor",
       [](ValidationContext& c) {
         return c.writeTensor(c.storage, f32({1, 2, 3}));
       },
       kPrecondition, R"(is a storage tensor: it has no host data)"},
      {"WriteTensor of a destroyed tensor",
       [](ValidationContext& c) {
         return c.writeTensor(c.destroyed, f32({1, 2, 3}));
       },
       kNotFound, R"(does not exist in this session)"},
  };
}

INSTANTIATE_TEST_SUITE_P(Tensors, ValidationRow, ::testing::ValuesIn(tensorRows()), rowName);

}  // namespace kp::service::test::validation
