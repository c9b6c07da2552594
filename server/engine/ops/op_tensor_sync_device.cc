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
  // Storage tensors may be named: they have no host data, so the sync skips them (as Kompute
  // v0.9 does: OpTensorSyncDevice(algo.get_tensors()) is a common pattern).
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
