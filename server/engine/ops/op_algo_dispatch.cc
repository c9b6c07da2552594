#include "server/engine/ops/op_algo_dispatch.h"

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;

OpAlgoDispatch::OpAlgoDispatch(std::shared_ptr<Algorithm> algorithm,
                               std::optional<Constants> pushConstants,
                               std::optional<Workgroup> workgroup)
    : algorithm_(std::move(algorithm)), pushConstants_(std::move(pushConstants)) {
  KP_REQUIRE(algorithm_ != nullptr, ErrorCode::kInvalidArgument,
             "OpAlgoDispatch: algorithm is null");
  algorithm_->checkUsable();
  if (pushConstants_) algorithm_->checkPushConstants(*pushConstants_);
  if (workgroup) workgroup_ = algorithm_->resolveWorkgroup(*workgroup, "workgroup");
}

void OpAlgoDispatch::checkUsable() const {
  algorithm_->checkUsable();
}

void OpAlgoDispatch::record(VkCommandBuffer commandBuffer) const {
  algorithm_->recordDispatch(commandBuffer, pushConstants_ ? &*pushConstants_ : nullptr,
                             workgroup_ ? &*workgroup_ : nullptr);
}

std::vector<std::shared_ptr<Tensor>> OpAlgoDispatch::tensors() const {
  return algorithm_->tensors();
}

}  // namespace kp::engine
