// An explicit buffer memory barrier on each tensor's device buffer (or its staging buffer), as
// Kompute's OpMemoryBarrier. Sequences already order consecutive ops with a barrier; this op is
// for programs that want to state one themselves.
#pragma once

#include "server/engine/ops/op.h"

namespace kp::engine {

class OpMemoryBarrier : public Op {
 public:
  // InvalidArgument for an empty or bad tensor list, or mask bits outside the ones listed in
  // op_memory_barrier.cc. Access bits that their stage mask does not support are accepted, as
  // Kompute does, and the stages they need are added to the mask.
  OpMemoryBarrier(std::vector<std::shared_ptr<Tensor>> tensors, VkAccessFlags srcAccessMask,
                  VkAccessFlags dstAccessMask, VkPipelineStageFlags srcStageMask,
                  VkPipelineStageFlags dstStageMask, bool barrierOnPrimary = true);

  const char* name() const override { return "OpMemoryBarrier"; }
  void checkUsable() const override;
  void record(VkCommandBuffer commandBuffer) const override;
  std::vector<std::shared_ptr<Tensor>> tensors() const override { return tensors_; }
  // The stage masks recorded: as given, plus the stages the access masks need.
  VkPipelineStageFlags srcStageMask() const { return srcStageMask_; }
  VkPipelineStageFlags dstStageMask() const { return dstStageMask_; }

 private:
  std::vector<std::shared_ptr<Tensor>> tensors_;
  VkAccessFlags srcAccessMask_;
  VkAccessFlags dstAccessMask_;
  VkPipelineStageFlags srcStageMask_;
  VkPipelineStageFlags dstStageMask_;
  bool barrierOnPrimary_;
};

}  // namespace kp::engine
