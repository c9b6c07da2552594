// kp::OpTensorSyncDevice: upload host copies to the GPU.
#pragma once

#include "kp/operations/op_base.hpp"

namespace kp {

/// Uploads each tensor's host copy to the GPU. The bytes travel in the request of the
/// evaluation that runs the op, read from the host copies when it is evaluated (so writes
/// to data() between evaluations of a recorded sequence are uploaded each time). Storage
/// tensors cannot be synced.
class OpTensorSyncDevice : public OpBase {
 public:
  /// At least one tensor (else InvalidArgumentError).
  explicit OpTensorSyncDevice(const Tensors& tensors);

 private:
  void encode(detail::OpEncoder& encoder) const override;
  Tensors tensors_;
};

}  // namespace kp
