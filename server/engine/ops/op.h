// An operation recorded into a Sequence, as in Kompute: it records GPU commands once, and may do
// host work before submission (preEval) and after completion (postEval).
#pragma once

#include <vulkan/vulkan.h>

#include <memory>
#include <vector>

#include "server/engine/tensor.h"

namespace kp::engine {

class Op {
 public:
  virtual ~Op() = default;

  // Kompute's class name, e.g. "OpTensorSyncDevice".
  virtual const char* name() const = 0;

  // Throws Error(kFailedPrecondition) if a tensor or algorithm the op uses was destroyed.
  virtual void checkUsable() const = 0;

  // Records the op's commands. The Sequence puts a memory barrier before every op.
  virtual void record(VkCommandBuffer commandBuffer) const = 0;

  virtual void preEval() {}
  virtual void postEval() {}

  // Every tensor the op reads or writes.
  virtual std::vector<std::shared_ptr<Tensor>> tensors() const = 0;
  // Tensors whose host copy the op uploads (OpTensorSyncDevice).
  virtual std::vector<std::shared_ptr<Tensor>> hostInputs() const { return {}; }
  // Tensors whose host copy holds new values once the evaluation completes
  // (OpTensorSyncLocal, OpTensorCopy destinations).
  virtual std::vector<std::shared_ptr<Tensor>> hostOutputs() const { return {}; }
};

// Throws InvalidArgument / FailedPrecondition unless every tensor is non-null and alive.
// `op` names the op in messages.
void checkTensors(const char* op, const std::vector<std::shared_ptr<Tensor>>& tensors);

}  // namespace kp::engine
