#include "server/engine/ops/op_tensor_sync_device.h"

#include <string>

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;

void checkSyncTensors(const char* op, const std::vector<std::shared_ptr<Tensor>>& tensors) {
  KP_REQUIRE(!tensors.empty(), ErrorCode::kInvalidArgument, std::string(op) + ": tensors is empty");
  checkTensors(op, tensors);
  for (size_t i = 0; i < tensors.size(); ++i) {
    KP_REQUIRE(tensors[i]->hasHostData(), ErrorCode::kInvalidArgument,
               std::string(op) + ": tensors[" + std::to_string(i) +
                   "] is a storage tensor, which has no host data to sync");
  }
}

OpTensorSyncDevice::OpTensorSyncDevice(std::vector<std::shared_ptr<Tensor>> tensors)
    : tensors_(std::move(tensors)) {
  checkSyncTensors(name(), tensors_);
}

void OpTensorSyncDevice::checkUsable() const { checkTensors(name(), tensors_); }

void OpTensorSyncDevice::preEval() {
  for (const auto& tensor : tensors_) tensor->pushExternalHostCopy();
}

void OpTensorSyncDevice::record(VkCommandBuffer commandBuffer) const {
  for (const auto& tensor : tensors_) tensor->recordSyncDevice(commandBuffer);
}

}  // namespace kp::engine
