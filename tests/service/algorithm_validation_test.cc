// Validation rows of algorithms: CreateAlgorithm's tensors, workgroup, specialisation and push
// constants against the shader and the device's limits, and DestroyAlgorithm.
#include <string>
#include <vector>

#include "validation_shaders.h"
#include "validation_table.h"

namespace kp::service::test::validation {

std::vector<Row> algorithmRows() {
  using namespace shaders;
  const std::string unknown = std::to_string(kUnknownHandle);
  return {
      {"algorithm naming an unknown tensor",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a, kUnknownHandle, c.c}, .glsl = c.multiplyGlsl});
       },
       kNotFound, "^tensors\\[1\\]: tensor " + unknown + " does not exist in this session$"},
      {"algorithm naming another session's tensor",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a, c.b, c.foreign}, .glsl = c.multiplyGlsl});
       },
       kNotFound, R"(^tensors\[2\]: tensor \d+ does not exist in this session$)"},
      {"algorithm binding a tensor twice",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a, c.b, c.a}, .glsl = c.multiplyGlsl});
       },
       kInvalid,
       R"(^tensors\[2\] is the same tensor as tensors\[0\]: a tensor can be bound only once$)"},
      {"algorithm binding more tensors than the device allows",
       [](ValidationContext& c) {
         const std::vector<uint64_t> tensors(c.device.max_storage_buffers_per_algorithm() + 1, c.a);
         return c.createAlgorithm({.tensors = tensors, .glsl = c.multiplyGlsl});
       },
       kInvalid, R"(^tensors: \d+ given; the device binds at most \d+ per algorithm)"},
      {"shader using more bindings than tensors bound",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .glsl = c.multiplyGlsl});
       },
       kInvalid,
       R"(^tensors: the shader uses binding [12] but the algorithm binds 1 tensor\(s\) )"
       R"(\(bindings 0\.\.0\)$)"},
      {"shader using a uniform buffer",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a, c.b}, .glsl = kUniformBuffer});
       },
       kInvalid, R"(^spirv: the shader's descriptor set 0 binding 0 is a uniform buffer)"},
      {"shader using descriptor set 1",
       [](ValidationContext& c) { return c.createAlgorithm({.tensors = {c.a}, .glsl = kSetOne}); },
       kInvalid,
       R"(^spirv: the shader uses descriptor set 1 binding 0; tensors are bound at set 0)"},
      {"shader whose push-constant block exceeds the device's maxPushConstantsSize",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .glsl = kPush4096Bytes});
       },
       kInvalid,
       R"(^spirv: the shader's push-constant block spans 4096 bytes, more than the device's )"
       R"(maxPushConstantsSize of \d+ bytes$)"},
      {"push constants beyond the device's maxPushConstantsSize",
       [](ValidationContext& c) {
         const std::string values(c.device.max_push_constants_size() + 4, '\0');
         return c.createAlgorithm(
             {.tensors = {c.a}, .glsl = kPush12Bytes, .pushConstants = constants(kF32, values)});
       },
       kInvalid, R"(^push_constants: \d+ bytes exceeds the device's maxPushConstantsSize)"},
      {"push constants that are not whole values",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a},
                                   .glsl = kPush12Bytes,
                                   .pushConstants = constants(kF32, std::string(5, '\0'))});
       },
       kInvalid, R"(^push_constants\.values has 5 bytes, not a whole number of float32 values)"},
      {"push constants without a data type",
       [](ValidationContext& c) {
         return c.createAlgorithm(
             {.tensors = {c.a},
              .glsl = kPush12Bytes,
              .pushConstants = constants(v1::DATA_TYPE_UNSPECIFIED, f32({1, 2, 3}))});
       },
       kInvalid, R"(^push_constants\.data_type is not set)"},
      {"spec constants with a byte count that is not a multiple",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a},
                                   .glsl = kSpecFloat,
                                   .specConstants = constants(kF32, std::string(6, '\0'))});
       },
       kInvalid, R"(^spec_constants\.values has 6 bytes, not a whole number of float32 values)"},
      {"spec constants with a data_type out of range",
       [](ValidationContext& c) {
         return c.createAlgorithm(
             {.tensors = {c.a},
              .glsl = kSpecFloat,
              .specConstants = constants(static_cast<v1::DataType>(42), f32({1}))});
       },
       kInvalid, R"(^spec_constants\.data_type has unknown value 42$)"},
      {"float64 spec constant for a float shader constant",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a},
                                   .glsl = kSpecFloat,
                                   .specConstants = constants(kF64, std::string(8, '\0'))});
       },
       kInvalid,
       R"(^spec_constants: constant_id 0 is a 32-bit float \(4 bytes\) in the shader, )"
       R"(but the float64 values given are 8 bytes each$)"},
      {"workgroup.x beyond maxComputeWorkGroupCount",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a},
                                   .glsl = kPush12Bytes,
                                   .workgroup = workgroup(c.device.max_work_group_count(0) + 1),
                                   .pushConstants = constants(kF32, f32({1, 2, 3}))});
       },
       kInvalid, R"(^workgroup\.x = \d+ exceeds the device's maxComputeWorkGroupCount\[0\])"},
      {"workgroup.z beyond maxComputeWorkGroupCount",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a},
                                   .glsl = kPush12Bytes,
                                   .workgroup = workgroup(1, 0, 0xFFFF'FFFFu),
                                   .pushConstants = constants(kF32, f32({1, 2, 3}))});
       },
       kInvalid,
       R"(^workgroup\.z = 4294967295 exceeds the device's maxComputeWorkGroupCount\[2\])"},
      {"default workgroup without any tensor",
       [](ValidationContext& c) {
         std::string setZero = kSetOne;
         setZero.replace(setZero.find("set = 1"), 7, "set = 0");
         return c.createAlgorithm({.tensors = {}, .glsl = setZero});
       },
       kInvalid, R"(^workgroup\.x is 0 and there is no tensor to take the default size from$)"},
      {"local size (from a spec constant) beyond maxComputeWorkGroupSize",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a},
                                   .glsl = kLocalSizeFromSpec,
                                   .specConstants = constants(kU32, u32({100000}))});
       },
       kInvalid,
       R"(^spec_constants: the shader's local size x = 100000 exceeds the device's )"
       R"(maxComputeWorkGroupSize\[0\])"},
      {"local size beyond maxComputeWorkGroupInvocations",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .glsl = kTooManyInvocations});
       },
       kInvalid,
       R"(^spirv: the shader's local size \(1024 x 2 x 1 = 2048 invocations\) exceeds )"
       R"(the device's maxComputeWorkGroupInvocations)"},
      {"shared memory beyond maxComputeSharedMemorySize",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .glsl = kTooMuchSharedMemory});
       },
       kInvalid, R"(^spirv: the shader's shared \(Workgroup\) variables take 400000 bytes)"},
      {"algorithm on a destroyed tensor",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.destroyed}, .glsl = kSpecFloat});
       },
       kNotFound, R"(^tensors\[0\]: tensor \d+ does not exist in this session$)"},
      {"DestroyAlgorithm of a destroyed algorithm",
       [](ValidationContext& c) { return c.destroyAlgorithm(c.destroyedAlgorithm); }, kNotFound,
       R"(^algorithm: algorithm \d+ does not exist in this session$)"},
  };
}

INSTANTIATE_TEST_SUITE_P(Algorithms, ValidationRow, ::testing::ValuesIn(algorithmRows()), rowName);

}  // namespace kp::service::test::validation
