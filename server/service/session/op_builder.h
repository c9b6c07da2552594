// Turns the kp.v1 ops of a request into engine ops, resolving handles in the session's
// tables. Validates everything; errors name the field, e.g. "ops[2].algo_dispatch.algorithm".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "server/engine/algorithm.h"
#include "server/service/session/handle_table.h"
#include "kp/v1/types.pb.h"
#include "server/engine/ops/op.h"
#include "server/engine/tensor.h"

namespace kp::service {

// A tensor whose host copy an evaluation changes, with its handle (for EvalResponse.downloads).
struct Download {
  uint64_t handle = 0;
  std::shared_ptr<engine::Tensor> tensor;
};

struct BuiltOps {
  std::vector<std::shared_ptr<engine::Op>> ops;
  // Every tensor of an OpTensorSyncLocal and every OpTensorCopy destination with a host copy,
  // once each, in op order.
  std::vector<Download> downloads;
};

// The size of `ops` as counted against the daemon's --max-sequence-ops: each op counts once
// per tensor it names, and at least once, so the limit bounds the commands a sequence records.
uint64_t opsWeight(const google::protobuf::RepeatedPtrField<v1::Op>& ops);

BuiltOps buildOps(const google::protobuf::RepeatedPtrField<v1::Op>& ops,
                  const HandleTable<engine::Tensor>& tensors,
                  const HandleTable<engine::Algorithm>& algorithms);

}  // namespace kp::service
