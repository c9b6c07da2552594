// Dispatches an algorithm, optionally with push constants and a workgroup that override the
// algorithm's for this record only (Kompute's Algorithm::setPushConstants / setWorkgroup
// before a record).
#pragma once

#include <optional>

#include "server/engine/algorithm.h"
#include "server/engine/ops/op.h"

namespace kp::engine {

class OpAlgoDispatch : public Op {
 public:
  // InvalidArgument if `pushConstants` is given with a byte size other than the algorithm's,
  // or `workgroup` exceeds the device's limits (its zeros take the algorithm's defaults).
  explicit OpAlgoDispatch(std::shared_ptr<Algorithm> algorithm,
                          std::optional<Constants> pushConstants = std::nullopt,
                          std::optional<Workgroup> workgroup = std::nullopt);

  const char* name() const override { return "OpAlgoDispatch"; }
  void checkUsable() const override;
  void record(VkCommandBuffer commandBuffer) const override;
  std::vector<std::shared_ptr<Tensor>> tensors() const override;

  const std::shared_ptr<Algorithm>& algorithm() const { return algorithm_; }

 private:
  std::shared_ptr<Algorithm> algorithm_;
  std::optional<Constants> pushConstants_;
  std::optional<Workgroup> workgroup_;
};

}  // namespace kp::engine
