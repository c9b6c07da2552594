// kp::detail::OpEncoder: turns recorded ops into what their evaluations send, and applies what
// they receive.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kp/algorithm.hpp"
#include "kp/operations/op_base.hpp"
#include "kp/tensor.hpp"
#include "kp/v1/compute.pb.h"
#include "client-cpp/src/tensor_stream.h"

namespace kp::detail {

class Session;

/// Encodes a list of ops once, for every evaluation of them until they change: the kp.v1 ops
/// (sent only when the daemon does not hold them yet), the tensors that their
/// OpTensorSyncDevice ops upload, and the tensors whose host copies the replies may update.
/// Tensors in shared memory are never uploaded or downloaded: the daemon reads and writes
/// their host copies in place.
class OpEncoder {
 public:
  /// Encodes `ops`, to send uploads within `limits` inside the requests and stream the others;
  /// throws kp::Error naming the op and field at fault.
  explicit OpEncoder(const std::vector<std::shared_ptr<OpBase>>& ops, InlineLimits limits = {});

  // ---- for OpBase::encode() ----

  /// Adds a kp.v1 op for the op being encoded.
  v1::Op* add() { return ops_.Add(); }
  /// The handle of `tensor` for the field `field` of the op being encoded ("tensors[1]"),
  /// remembering the tensor as one the reply may update.
  uint64_t tensor(const std::shared_ptr<Tensor>& tensor, const std::string& field);
  /// Uploads `tensor`'s host copy with each evaluation (once, however often it is named).
  void upload(const std::shared_ptr<Tensor>& tensor, const std::string& field);
  /// The handle of `algorithm` for the field `field` of the op being encoded.
  uint64_t algorithm(const std::shared_ptr<Algorithm>& algorithm, const std::string& field);

  // ---- for Sequence ----

  /// The encoded ops.
  const google::protobuf::RepeatedPtrField<v1::Op>& ops() const { return ops_; }
  /// Checks that every tensor and algorithm of the ops still exists, before evaluating ops
  /// encoded earlier; throws FailedPreconditionError naming the field of one that does not.
  void check() const;
  /// Sets `request.uploads` to the host copies, as they are now, of the uploaded tensors that
  /// travel inline (within the InlineLimits), reusing the request's upload messages.
  void addUploads(v1::EvalRequest& request) const;
  /// Writes the larger uploads into the daemon's host copies as streams (before evaluating).
  void streamUploads(const Session& session) const;
  /// Every tensor the ops use, each once.
  const std::vector<std::shared_ptr<Tensor>>& tensors() const { return tensors_; }
  /// Writes an evaluation's downloads into the host copies of the ops' tensors, and reads
  /// those it left pending (larger than its inline_download_limit) as streams.
  void applyDownloads(const v1::EvalResponse& response, const Session& session) const;

  /// Writes an evaluation's inline downloads into the host copies of `tensors` (a destroyed
  /// tensor's is left as it is).
  static void applyDownloads(const v1::EvalResponse& response,
                             const std::vector<std::shared_ptr<Tensor>>& tensors);

 private:
  struct Upload {
    uint64_t handle;
    std::shared_ptr<Tensor> tensor;
    bool streamed;  // beyond the InlineLimits
  };

  const InlineLimits limits_;
  size_t inlineBytes_ = 0;  // of the uploads that are not streamed

  google::protobuf::RepeatedPtrField<v1::Op> ops_;
  std::vector<std::shared_ptr<Tensor>> tensors_;
  std::vector<std::string> tensorFields_;  // where each of tensors_ was first named
  std::vector<std::pair<std::shared_ptr<Algorithm>, std::string>> algorithms_;
  std::vector<Upload> uploads_;
};

}  // namespace kp::detail
