// Element-wise multiply with the built-in shader (shaders/multiply.comp):
// tensors[2] = tensors[0] * tensors[1], all float32 of one size.
#pragma once

#include "server/engine/algorithm.h"
#include "server/engine/ops/op.h"

namespace kp::engine {

class OpMult : public Op {
 public:
  // InvalidArgument unless there are exactly 3 distinct float32 tensors of equal size.
  explicit OpMult(std::vector<std::shared_ptr<Tensor>> tensors);

  const char* name() const override { return "OpMult"; }
  void checkUsable() const override;
  void record(VkCommandBuffer commandBuffer) const override;
  std::vector<std::shared_ptr<Tensor>> tensors() const override;

 private:
  std::shared_ptr<Algorithm> algorithm_;
};

}  // namespace kp::engine
