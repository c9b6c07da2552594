// Downloads each tensor from the GPU into its host copy (device buffer -> staging for device
// tensors; a host tensor's host copy is the buffer the GPU wrote).
#pragma once

#include "server/engine/ops/op.h"

namespace kp::engine {

class OpTensorSyncLocal : public Op {
 public:
  // InvalidArgument for an empty list or a storage tensor (it has no host copy).
  explicit OpTensorSyncLocal(std::vector<std::shared_ptr<Tensor>> tensors);

  const char* name() const override { return "OpTensorSyncLocal"; }
  void checkUsable() const override;
  void record(VkCommandBuffer commandBuffer) const override;
  void postEval() override;
  std::vector<std::shared_ptr<Tensor>> tensors() const override { return tensors_; }
  std::vector<std::shared_ptr<Tensor>> hostOutputs() const override { return tensors_; }

 private:
  std::vector<std::shared_ptr<Tensor>> tensors_;
};

}  // namespace kp::engine
