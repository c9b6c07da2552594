// Copies tensors[0] into tensors[1..] on the GPU. As in Kompute, once the evaluation completes
// the first tensor's host copy is also copied into the others' host copies (where both have
// one), so the destinations read like the source without an extra sync.
#pragma once

#include "server/engine/ops/op.h"

namespace kp::engine {

class OpTensorCopy : public Op {
 public:
  // InvalidArgument unless there are >= 2 distinct tensors of one data type and size.
  explicit OpTensorCopy(std::vector<std::shared_ptr<Tensor>> tensors);

  const char* name() const override { return "OpTensorCopy"; }
  void checkUsable() const override;
  void record(VkCommandBuffer commandBuffer) const override;
  void postEval() override;
  std::vector<std::shared_ptr<Tensor>> tensors() const override { return tensors_; }
  std::vector<std::shared_ptr<Tensor>> hostOutputs() const override;

 private:
  std::vector<std::shared_ptr<Tensor>> tensors_;
};

}  // namespace kp::engine
