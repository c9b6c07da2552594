// Validation rows of sequences: CreateSequence's queue and timestamps, DestroySequence, and the
// ops RecordSequence records (how many, which tensors, which algorithm, which barriers).
#include <numeric>
#include <string>
#include <vector>

#include "validation_table.h"

namespace kp::service::test::validation {

std::vector<Row> sequenceRows() {
  const std::string unknown = std::to_string(kUnknownHandle);
  return {
      // -- sequences
      {"sequence on a queue_index out of range",
       [](ValidationContext& c) { return c.createSequence(5); }, kInvalid,
       R"(^queue_index 5 out of range: the session has 1 queue\(s\)$)"},
      {"sequence with 2^32-1 timestamps",
       [](ValidationContext& c) { return c.createSequence(0, 0xFFFF'FFFFu); }, kExhausted,
       R"(^total_timestamps 4294967295 exceeds the limit of 65536 \(--max-timestamps\)$)"},
      {"DestroySequence of a destroyed sequence",
       [](ValidationContext& c) { return c.destroySequence(c.destroyedSequence); }, kNotFound,
       R"(^sequence: sequence \d+ does not exist in this session$)"},
      {"RecordSequence of an unknown sequence",
       [](ValidationContext& c) { return c.record({syncLocal({c.a})}, kUnknownHandle); }, kNotFound,
       "^sequence: sequence " + unknown + " does not exist in this session$"},

      // -- RecordSequence: the ops
      {"op with nothing set",
       [](ValidationContext& c) {
         return c.record({syncLocal({c.a}), v1::Op()});
       },
       kInvalid, R"(^ops\[1\] has no op set$)"},
      {"more ops than a sequence may record",
       [](ValidationContext& c) { return c.record(std::vector<v1::Op>(65537, syncLocal({c.a}))); },
       kExhausted,
       R"(^ops: 65537 ops of weight 65537 \(an op counts once per tensor it names, )"
       R"(at least once\), more than a sequence may record \(--max-sequence-ops 65536\)$)"},
      {"one op naming more tensors than a sequence may record",
       [](ValidationContext& c) {
         std::vector<uint64_t> tensors(70000);
         std::iota(tensors.begin(), tensors.end(), uint64_t{1});
         return c.record({syncLocal(tensors)});
       },
       kExhausted, R"(^ops: 1 ops of weight 70000 .*\(--max-sequence-ops 65536\)$)"},
      {"sync-device without tensors",
       [](ValidationContext& c) { return c.record({syncDevice({})}); }, kInvalid,
       R"(^ops\[0\]: OpTensorSyncDevice: tensors is empty$)"},
      {"sync-local without tensors", [](ValidationContext& c) { return c.record({syncLocal({})}); },
       kInvalid, R"(^ops\[0\]: OpTensorSyncLocal: tensors is empty$)"},
      {"sync-local naming a tensor twice",
       [](ValidationContext& c) {
         return c.record({syncLocal({c.a, c.b, c.a})});
       },
       kInvalid,
       R"(^ops\[0\]\.tensor_sync_local\.tensors\[2\]: tensor \d+ is also )"
       R"(ops\[0\]\.tensor_sync_local\.tensors\[0\])"},
      {"sync-device of another session's tensor",
       [](ValidationContext& c) { return c.record({syncDevice({c.foreign})}); }, kNotFound,
       R"(^ops\[0\]\.tensor_sync_device\.tensors\[0\]: tensor \d+ does not exist)"},
      {"copy with a single tensor", [](ValidationContext& c) { return c.record({copy({c.a})}); },
       kInvalid, R"(^ops\[0\]: OpTensorCopy: needs at least 2 tensors)"},
      {"copy between data types",
       [](ValidationContext& c) {
         return c.record({copy({c.a, c.int3})});
       },
       kInvalid,
       R"(^ops\[0\]: OpTensorCopy: tensors\[1\] has data type int32, tensors\[0\] has float32$)"},
      {"copy between sizes",
       [](ValidationContext& c) {
         return c.record({copy({c.a, c.four})});
       },
       kInvalid, R"(^ops\[0\]: OpTensorCopy: tensors\[1\] has 4 elements, tensors\[0\] has 3$)"},
      {"mult with two tensors",
       [](ValidationContext& c) {
         return c.record({mult({c.a, c.b})});
       },
       kInvalid, R"(^ops\[0\]: OpMult: needs 3 tensors \(lhs, rhs, output\), got 2$)"},
      {"mult of int32 tensors",
       [](ValidationContext& c) {
         return c.record({mult({c.a, c.b, c.int3})});
       },
       kInvalid,
       R"(^ops\[0\]: OpMult: tensors\[2\] has data type int32; the multiply shader )"
       R"(needs float32$)"},
      {"dispatch of an unknown algorithm",
       [](ValidationContext& c) { return c.record({dispatch(kUnknownHandle)}); }, kNotFound,
       R"(^ops\[0\]\.algo_dispatch\.algorithm: algorithm \d+ does not exist)"},
      {"dispatch of a destroyed algorithm",
       [](ValidationContext& c) { return c.record({dispatch(c.destroyedAlgorithm)}); }, kNotFound,
       R"(^ops\[0\]\.algo_dispatch\.algorithm: algorithm \d+ does not exist)"},
      {"dispatch of an algorithm whose tensor was destroyed",
       [](ValidationContext& c) { return c.record({dispatch(c.orphanAlgorithm)}); }, kPrecondition,
       R"(^ops\[0\]\.algo_dispatch: the algorithm's tensors\[0\] was destroyed$)"},
      {"dispatch with push constants of another size",
       [](ValidationContext& c) {
         return c.record({dispatch(c.algorithm, constants(kF32, f32({1, 2})))});
       },
       kInvalid,
       R"(^ops\[0\]\.algo_dispatch: push_constants: 8 bytes given, but the algorithm was created with )"
       R"(12 bytes)"},
      {"dispatch with a workgroup over the device's limit",
       [](ValidationContext& c) {
         v1::Op op = dispatch(c.algorithm);
         op.mutable_algo_dispatch()->mutable_workgroup()->set_y(UINT32_MAX);
         return c.record({op});
       },
       kInvalid,
       R"(^ops\[0\]\.algo_dispatch: workgroup\.y = 4294967295 exceeds the device's )"
       R"(maxComputeWorkGroupCount\[1\] = \d+$)"},
      {"dispatch with push constants of an unknown type",
       [](ValidationContext& c) {
         return c.record(
             {dispatch(c.algorithm, constants(v1::DATA_TYPE_UNSPECIFIED, f32({1, 2, 3})))});
       },
       kInvalid, R"(^ops\[0\]\.algo_dispatch\.push_constants\.data_type is not set)"},
      {"memory barrier with an unknown access bit",
       [](ValidationContext& c) {
         return c.record({barrier({.tensors = {c.a}, .srcAccess = 1u << 31})});
       },
       kInvalid,
       R"(^ops\[0\]: OpMemoryBarrier: access masks may use only shader, transfer, host )"
       R"(and memory bits$)"},
      {"memory barrier with an empty stage mask",
       [](ValidationContext& c) { return c.record({barrier({.tensors = {c.a}, .dstStage = 0})}); },
       kInvalid, R"(^ops\[0\]: OpMemoryBarrier: stage masks must be non-zero)"},
      {"memory barrier with a graphics stage",
       [](ValidationContext& c) {  // VK_PIPELINE_STAGE_VERTEX_SHADER_BIT
         return c.record({barrier({.tensors = {c.a}, .srcStage = 0x8})});
       },
       kInvalid, R"(^ops\[0\]: OpMemoryBarrier: stage masks must be non-zero and use only )"},
      {"memory barrier on the staging buffer of a host tensor",
       [](ValidationContext& c) {
         return c.record({barrier({.tensors = {c.host}, .primary = false})});
       },
       kInvalid,
       R"(^ops\[0\]: OpMemoryBarrier: barrier_on_primary is false but a tensor has no )"
       R"(staging buffer)"},
  };
}

INSTANTIATE_TEST_SUITE_P(Sequences, ValidationRow, ::testing::ValuesIn(sequenceRows()), rowName);

}  // namespace kp::service::test::validation
