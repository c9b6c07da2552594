#include "server/service/session/op_builder.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "server/base/error.h"
#include "server/engine/ops/op_algo_dispatch.h"
#include "server/engine/ops/op_memory_barrier.h"
#include "server/engine/ops/op_mult.h"
#include "server/engine/ops/op_tensor_copy.h"
#include "server/engine/ops/op_tensor_sync_device.h"
#include "server/engine/ops/op_tensor_sync_local.h"
#include "server/service/session/convert.h"

namespace kp::service {
namespace {

using base::ErrorCode;
using TensorList = std::vector<std::shared_ptr<engine::Tensor>>;

struct Resolved {
  TensorList tensors;
  std::vector<uint64_t> handles;
};

// `distinct`: refuse a tensor named twice (the sync and barrier ops; copy and mult have the
// engine's own check). An op's tensors are then bounded by the session's object quota.
Resolved resolve(const google::protobuf::RepeatedField<uint64_t>& handles,
                 const HandleTable<engine::Tensor>& table, const std::string& field,
                 bool distinct = false) {
  Resolved resolved;
  std::unordered_map<uint64_t, int> seen;
  for (int i = 0; i < handles.size(); ++i) {
    const std::string element = field + "[" + std::to_string(i) + "]";
    resolved.tensors.push_back(table.get(handles[i], element));
    auto [first, inserted] = seen.emplace(handles[i], i);
    if (distinct && !inserted) {
      base::fail(ErrorCode::kInvalidArgument,
                 element + ": tensor " + std::to_string(handles[i]) + " is also " + field + "[" +
                     std::to_string(first->second) + "]; an op names each tensor once");
    }
    resolved.handles.push_back(handles[i]);
  }
  return resolved;
}

void addDownload(BuiltOps& built, std::unordered_set<uint64_t>& downloaded, uint64_t handle,
                 const std::shared_ptr<engine::Tensor>& tensor) {
  if (!tensor->hasHostData()) return;  // a storage tensor: its sync is skipped
  if (downloaded.insert(handle).second) built.downloads.push_back({handle, tensor});
}

}  // namespace

uint64_t opsWeight(const google::protobuf::RepeatedPtrField<v1::Op>& ops) {
  uint64_t weight = 0;
  for (const v1::Op& op : ops) {
    int tensors = 0;
    switch (op.op_case()) {
      case v1::Op::kTensorSyncDevice:
        tensors = op.tensor_sync_device().tensors_size();
        break;
      case v1::Op::kTensorSyncLocal:
        tensors = op.tensor_sync_local().tensors_size();
        break;
      case v1::Op::kTensorCopy:
        tensors = op.tensor_copy().tensors_size();
        break;
      case v1::Op::kMult:
        tensors = op.mult().tensors_size();
        break;
      case v1::Op::kMemoryBarrier:
        tensors = op.memory_barrier().tensors_size();
        break;
      default:
        break;
    }
    weight += std::max(1, tensors);
  }
  return weight;
}

BuiltOps buildOps(const google::protobuf::RepeatedPtrField<v1::Op>& ops,
                  const HandleTable<engine::Tensor>& tensors,
                  const HandleTable<engine::Algorithm>& algorithms) {
  BuiltOps built;
  std::unordered_set<uint64_t> downloaded;
  for (int i = 0; i < ops.size(); ++i) {
    const v1::Op& op = ops[i];
    const std::string field = "ops[" + std::to_string(i) + "]";
    switch (op.op_case()) {
      case v1::Op::kTensorSyncDevice: {
        Resolved r = resolve(op.tensor_sync_device().tensors(), tensors,
                             field + ".tensor_sync_device.tensors", true);
        built.ops.push_back(base::withContext(
            [&] { return field; },
            [&] { return std::make_shared<engine::OpTensorSyncDevice>(r.tensors); }));
        break;
      }
      case v1::Op::kTensorSyncLocal: {
        Resolved r = resolve(op.tensor_sync_local().tensors(), tensors,
                             field + ".tensor_sync_local.tensors", true);
        built.ops.push_back(base::withContext(
            [&] { return field; },
            [&] { return std::make_shared<engine::OpTensorSyncLocal>(r.tensors); }));
        for (size_t t = 0; t < r.tensors.size(); ++t)
          addDownload(built, downloaded, r.handles[t], r.tensors[t]);
        break;
      }
      case v1::Op::kTensorCopy: {
        Resolved r = resolve(op.tensor_copy().tensors(), tensors, field + ".tensor_copy.tensors");
        built.ops.push_back(
            base::withContext([&] { return field; },
                              [&] { return std::make_shared<engine::OpTensorCopy>(r.tensors); }));
        if (r.tensors[0]->hasHostData()) {
          for (size_t t = 1; t < r.tensors.size(); ++t) {
            if (r.tensors[t]->hasHostData())
              addDownload(built, downloaded, r.handles[t], r.tensors[t]);
          }
        }
        break;
      }
      case v1::Op::kAlgoDispatch: {
        const v1::OpAlgoDispatch& dispatch = op.algo_dispatch();
        auto algorithm = algorithms.get(dispatch.algorithm(), field + ".algo_dispatch.algorithm");
        std::optional<engine::Constants> push;
        if (dispatch.has_push_constants()) {
          push = toEngine(dispatch.push_constants(), field + ".algo_dispatch.push_constants");
        }
        std::optional<engine::Workgroup> workgroup;
        if (dispatch.has_workgroup()) {
          workgroup = engine::Workgroup{dispatch.workgroup().x(), dispatch.workgroup().y(),
                                        dispatch.workgroup().z()};
        }
        built.ops.push_back(base::withContext(
            [&] { return field + ".algo_dispatch"; },
            [&] { return std::make_shared<engine::OpAlgoDispatch>(algorithm, push, workgroup); }));
        break;
      }
      case v1::Op::kMult: {
        Resolved r = resolve(op.mult().tensors(), tensors, field + ".mult.tensors");
        built.ops.push_back(base::withContext(
            [&] { return field; }, [&] { return std::make_shared<engine::OpMult>(r.tensors); }));
        break;
      }
      case v1::Op::kMemoryBarrier: {
        const v1::OpMemoryBarrier& barrier = op.memory_barrier();
        Resolved r = resolve(barrier.tensors(), tensors, field + ".memory_barrier.tensors", true);
        built.ops.push_back(base::withContext(
            [&] { return field; },
            [&] {
              return std::make_shared<engine::OpMemoryBarrier>(
                  r.tensors, barrier.src_access_mask(), barrier.dst_access_mask(),
                  barrier.src_stage_mask(), barrier.dst_stage_mask(), barrier.barrier_on_primary());
            }));
        break;
      }
      case v1::Op::OP_NOT_SET:
        base::fail(ErrorCode::kInvalidArgument, field + " has no op set");
    }
  }
  return built;
}

}  // namespace kp::service
