// Validation rows of evaluations: Eval, EvalAsync and EvalAwait (their sequence, ops and
// uploads), and the objects of an evaluation still running (not awaited), which may be neither
// written, destroyed, evaluated again nor recorded.
#include <string>
#include <vector>

#include "validation_table.h"

namespace kp::service::test::validation {

std::vector<Row> evaluationRows() {
  using CS = ComputeService;
  return {
      // -- Eval / EvalAsync / EvalAwait
      {"Eval without a sequence and without ops", [](ValidationContext& c) { return c.eval({}); },
       kInvalid, R"(^ops: evaluating without a sequence \(sequence = 0\) needs at least one op$)"},
      {"EvalAsync with sequence 0",
       [](ValidationContext& c) { return c.evalAsync({.ops = {syncLocal({c.a})}}); }, kInvalid,
       R"(^sequence: EvalAsync needs a sequence handle to await)"},
      {"EvalAsync with timeout_ms",
       [](ValidationContext& c) { return c.evalAsync({.sequence = c.sequence, .timeoutMs = 5}); },
       kInvalid, R"(^timeout_ms applies to Eval only)"},
      {"Eval with ops but record = false",
       [](ValidationContext& c) {
         return c.eval({.sequence = c.sequence, .ops = {syncLocal({c.a})}});
       },
       kInvalid, R"(^ops: 1 op\(s\) given with record = false)"},
      {"Eval of a destroyed sequence",
       [](ValidationContext& c) { return c.eval({.sequence = c.destroyedSequence}); }, kNotFound,
       R"(^sequence: sequence \d+ does not exist in this session$)"},
      {"Eval of another session's sequence handle",
       [](ValidationContext& c) {
         v1::EvalRequest request;
         request.set_session(c.other);
         request.set_sequence(c.sequence);
         return c.send(&CS::Eval, request);
       },
       kNotFound, R"(^sequence: sequence \d+ does not exist in this session$)"},
      {"Eval of a sequence whose tensor was destroyed",
       [](ValidationContext& c) { return c.eval({.sequence = c.staleSequence}); }, kPrecondition,
       R"(^sequence \d+: ops\[0\]: OpTensorCopy: tensors\[1\] was destroyed$)"},
      {"upload of the same tensor twice",
       [](ValidationContext& c) {
         return c.eval({.ops = {syncDevice({c.a})},
                        .uploads = {upload(c.a, f32({1, 2, 3})), upload(c.a, f32({1, 2, 3}))}});
       },
       kInvalid, R"(^uploads\[1\]\.tensor: tensor \d+ appears more than once in uploads$)"},
      {"upload of the wrong size",
       [](ValidationContext& c) {
         return c.eval({.ops = {syncDevice({c.a})}, .uploads = {upload(c.a, f32({1}))}});
       },
       kInvalid, R"(^uploads\[0\]\.data has 4 bytes; tensor \d+ has 12$)"},
      {"upload to a storage tensor",
       [](ValidationContext& c) {
         return c.eval(
             {.ops = {syncDevice({c.a})}, .uploads = {upload(c.storage, f32({1, 2, 3}))}});
       },
       kInvalid, R"(^uploads\[0\]\.tensor: tensor \d+ is a storage tensor)"},
      {"upload to an unknown tensor",
       [](ValidationContext& c) {
         return c.eval(
             {.ops = {syncDevice({c.a})}, .uploads = {upload(kUnknownHandle, f32({1, 2, 3}))}});
       },
       kNotFound, R"(^uploads\[0\]\.tensor: tensor \d+ does not exist in this session$)"},
      {"EvalAwait of an unknown sequence",
       [](ValidationContext& c) { return c.evalAwait(kUnknownHandle, 1); }, kNotFound,
       R"(^sequence: sequence \d+ does not exist in this session$)"},
      {"EvalAwait with sequence 0", [](ValidationContext& c) { return c.evalAwait(0, 0); },
       kNotFound, R"(^sequence: sequence 0 is not a valid handle$)"},

      // -- objects of a running evaluation
      {"WriteTensor of a tensor a running evaluation uses",
       [](ValidationContext& c) {
         return c.writeTensor(c.busy, f32({1, 2, 3}));
       },
       kPrecondition, R"(^tensor \d+ is used by a running evaluation; await it before writing)"},
      {"upload to a tensor a running evaluation uses",
       [](ValidationContext& c) {
         return c.eval({.ops = {syncLocal({c.a})}, .uploads = {upload(c.busy, f32({1, 2, 3}))}});
       },
       kPrecondition, R"(^uploads\[0\]\.tensor: tensor \d+ is used by a running evaluation)"},
      {"DestroyTensor of a tensor a running evaluation uses",
       [](ValidationContext& c) { return c.destroyTensor(c.busy); }, kPrecondition,
       R"(^tensor \d+ is used by a running evaluation; await it before destroying)"},
      {"DestroyAlgorithm of an algorithm a running evaluation uses",
       [](ValidationContext& c) { return c.destroyAlgorithm(c.busyAlgorithm); }, kPrecondition,
       R"(^algorithm \d+ is used by a running evaluation)"},
      {"Eval of a running sequence",
       [](ValidationContext& c) { return c.eval({.sequence = c.busySequence}); }, kPrecondition,
       R"(^sequence \d+ is running; await it before evaluating it again$)"},
      {"RecordSequence of a running sequence",
       [](ValidationContext& c) { return c.record({syncLocal({c.a})}, c.busySequence); },
       kPrecondition, R"(^sequence \d+ is running; await it before recording$)"},
  };
}

INSTANTIATE_TEST_SUITE_P(Evaluations, ValidationRow, ::testing::ValuesIn(evaluationRows()),
                         rowName);

}  // namespace kp::service::test::validation
