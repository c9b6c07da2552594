// kp::OpTensorSyncLocal: download GPU memory into host copies.
#pragma once

#include "kp/operations/op_base.hpp"

namespace kp {

/// Downloads each tensor from the GPU into its host copy. The bytes come back in the reply
/// of the evaluation that runs the op and are written into the tensors' host copies before
/// eval() (or evalAwait()) returns. Storage tensors cannot be synced.
class OpTensorSyncLocal : public OpBase {
 public:
  /// At least one tensor (else InvalidArgumentError).
  explicit OpTensorSyncLocal(const Tensors& tensors);

 private:
  void encode(detail::OpEncoder& encoder) const override;
  Tensors tensors_;
};

}  // namespace kp
