// Uploads the host copy of each tensor to the GPU (staging -> device buffer for device
// tensors; host tensors are read by the GPU directly, so they need no copy).
#pragma once

#include "server/engine/ops/op.h"

namespace kp::engine {

class OpTensorSyncDevice : public Op {
 public:
  // InvalidArgument for an empty list or a storage tensor (it has no host copy).
  explicit OpTensorSyncDevice(std::vector<std::shared_ptr<Tensor>> tensors);

  const char* name() const override { return "OpTensorSyncDevice"; }
  void checkUsable() const override;
  void record(VkCommandBuffer commandBuffer) const override;
  void preEval() override;
  std::vector<std::shared_ptr<Tensor>> tensors() const override { return tensors_; }
  std::vector<std::shared_ptr<Tensor>> hostInputs() const override { return tensors_; }

 private:
  std::vector<std::shared_ptr<Tensor>> tensors_;
};

// Shared by the two sync ops: non-empty and alive (storage tensors are accepted and skipped).
void checkSyncTensors(const char* op, const std::vector<std::shared_ptr<Tensor>>& tensors);

}  // namespace kp::engine
