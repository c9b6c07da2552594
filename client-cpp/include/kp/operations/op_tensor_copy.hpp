// kp::OpTensorCopy: copy one tensor into others on the GPU.
#pragma once

#include "kp/operations/op_base.hpp"

namespace kp {

/// Copies tensors[0] into tensors[1..] on the GPU. As in Kompute, once the evaluation
/// completes, the destinations' host copies also take the source's host copy (when both
/// have one), with no OpTensorSyncLocal needed.
class OpTensorCopy : public OpBase {
 public:
  /// At least two tensors of one data type and size (else InvalidArgumentError).
  explicit OpTensorCopy(const Tensors& tensors);

 private:
  void encode(detail::OpEncoder& encoder) const override;
  Tensors tensors_;
};

}  // namespace kp
