// kp::detail::OpEncoder: turns recorded ops into what one evaluation sends, and applies what
// it receives.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kp/operations/op_base.hpp"
#include "kp/tensor.hpp"
#include "kp/v1/compute.pb.h"

namespace kp::detail {

/// Encodes a list of ops once per evaluation: the kp.v1 ops (sent only when they changed),
/// the uploads of their OpTensorSyncDevice tensors (read from the host copies now), and the
/// tensors whose host copies the reply may update.
class OpEncoder {
 public:
  /// Encodes `ops`; throws kp::Error naming the op and field at fault.
  explicit OpEncoder(const std::vector<std::shared_ptr<OpBase>>& ops);

  // ---- for OpBase::encode() ----

  /// Adds a kp.v1 op for the op being encoded.
  v1::Op* add() { return ops_.Add(); }
  /// The handle of `tensor` for the field `field` of the op being encoded ("tensors[1]"),
  /// remembering the tensor as one the reply may update.
  uint64_t tensor(const std::shared_ptr<Tensor>& tensor, const std::string& field);
  /// Uploads `tensor`'s host copy with the evaluation (once, however often it is named).
  void upload(const std::shared_ptr<Tensor>& tensor, const std::string& field);

  // ---- for Sequence ----

  /// Moves the encoded ops into `request` (when the daemon does not hold them yet).
  void moveOpsInto(v1::EvalRequest& request);
  /// Adds the uploads to `request`.
  void addUploads(v1::EvalRequest& request) const;
  /// Every tensor the ops use.
  const std::vector<std::shared_ptr<Tensor>>& tensors() const { return tensors_; }

  /// Writes an evaluation's downloads into the host copies of `tensors`.
  static void applyDownloads(const v1::EvalResponse& response,
                             const std::vector<std::shared_ptr<Tensor>>& tensors);

 private:
  google::protobuf::RepeatedPtrField<v1::Op> ops_;
  std::vector<std::shared_ptr<Tensor>> tensors_;
  std::vector<std::pair<uint64_t, std::shared_ptr<Tensor>>> uploads_;
};

}  // namespace kp::detail
