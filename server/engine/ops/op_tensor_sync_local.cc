#include "server/engine/ops/op_tensor_sync_local.h"

#include "server/engine/ops/op_tensor_sync_device.h"

namespace kp::engine {

OpTensorSyncLocal::OpTensorSyncLocal(std::vector<std::shared_ptr<Tensor>> tensors)
    : tensors_(std::move(tensors)) {
  checkSyncTensors(name(), tensors_);
}

void OpTensorSyncLocal::checkUsable() const { checkTensors(name(), tensors_); }

void OpTensorSyncLocal::postEval() {
  for (const auto& tensor : tensors_) tensor->pullExternalHostCopy();
}

void OpTensorSyncLocal::record(VkCommandBuffer commandBuffer) const {
  for (const auto& tensor : tensors_) tensor->recordSyncLocal(commandBuffer);
}

}  // namespace kp::engine
