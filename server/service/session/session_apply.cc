// Session::apply, the Apply RPC and the local data socket's preludes: a client's pipelined
// creations and destructions, in order, stopping at the first that fails.
#include <exception>
#include <string>
#include <vector>

#include "server/base/error.h"
#include "server/service/session/session.h"

namespace kp::service {

using base::ErrorCode;

namespace {

const char* actionName(const v1::Action& action) {
  switch (action.action_case()) {
    case v1::Action::kCreateTensor:
      return "create_tensor";
    case v1::Action::kDestroyTensor:
      return "destroy_tensor";
    case v1::Action::kCreateAlgorithm:
      return "create_algorithm";
    case v1::Action::kDestroyAlgorithm:
      return "destroy_algorithm";
    case v1::Action::kCreateSequence:
      return "create_sequence";
    case v1::Action::kDestroySequence:
      return "destroy_sequence";
    case v1::Action::ACTION_NOT_SET:
      break;
  }
  return "no action";
}

}  // namespace

void Session::apply(const v1::ApplyRequest& request, uint32_t* applied) {
  *applied = 0;
  auto inAction = [&](int i, auto&& body) {
    const v1::Action& action = request.actions(i);
    base::withContext(
        [&] { return "actions[" + std::to_string(i) + "] (" + actionName(action) + ")"; }, body);
  };
  // Consecutive create_tensor actions are made first, then their first uploads run in one
  // submission, then they join the session in order.
  std::vector<PreparedTensor> batch;
  auto addBatch = [&] {
    if (batch.empty()) return;
    std::vector<std::shared_ptr<engine::Tensor>> tensors;
    for (const PreparedTensor& prepared : batch) tensors.push_back(prepared.tensor);
    inAction(static_cast<int>(*applied), [&] { engine::Tensor::uploadInitial(*device_, tensors); });
    for (PreparedTensor& prepared : batch) {
      inAction(static_cast<int>(*applied), [&] {
        v1::CreateTensorResponse created;
        addTensor(prepared, &created);
      });
      ++*applied;
    }
    batch.clear();
  };
  for (int i = 0; i < request.actions_size(); ++i) {
    const v1::Action& action = request.actions(i);
    if (action.action_case() == v1::Action::kCreateTensor) {
      std::exception_ptr refused;
      try {
        inAction(i, [&] {
          const uint64_t handle = action.create_tensor().handle();
          for (const PreparedTensor& earlier : batch) {
            KP_REQUIRE(
                handle == 0 || earlier.handle != handle, ErrorCode::kInvalidArgument,
                "handle: tensor " + std::to_string(handle) + " already exists in this session");
          }
          batch.push_back(prepareTensor(action.create_tensor()));
        });
      } catch (const base::Error&) {
        refused = std::current_exception();
      }
      if (refused) {
        addBatch();  // the actions before it were applied
        std::rethrow_exception(refused);
      }
      continue;
    }
    addBatch();
    inAction(i, [&] {
      switch (action.action_case()) {
        case v1::Action::kDestroyTensor:
          destroyTensor(action.destroy_tensor().tensor());
          break;
        case v1::Action::kCreateAlgorithm: {
          v1::CreateAlgorithmResponse created;
          createAlgorithm(action.create_algorithm(), &created);
          break;
        }
        case v1::Action::kDestroyAlgorithm:
          destroyAlgorithm(action.destroy_algorithm().algorithm());
          break;
        case v1::Action::kCreateSequence:
          createSequence(action.create_sequence());
          break;
        case v1::Action::kDestroySequence:
          destroySequence(action.destroy_sequence().sequence());
          break;
        case v1::Action::kCreateTensor:  // above
        case v1::Action::ACTION_NOT_SET:
          base::fail(ErrorCode::kInvalidArgument, "no action set");
      }
    });
    ++*applied;
  }
  addBatch();
}

}  // namespace kp::service
