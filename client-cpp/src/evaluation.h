// kp::detail::Evaluation: what a sequence's evaluations send and receive, kept between them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "client-cpp/src/eval_transport.h"
#include "kp/operations/op_base.hpp"
#include "kp/v1/compute.pb.h"
#include "client-cpp/src/op_encoder.h"

namespace kp::detail {

class Session;

/// The data plane of one sequence: its ops as encoded (again only when they change), the
/// Eval and EvalAwait requests, and the transport with its buffers, all reused from one
/// evaluation to the next. Evaluating unchanged ops again therefore allocates nothing; with
/// their tensors in shared memory, only a small request and reply travel. Other host copies
/// travel inside the request and reply within the session's InlineLimits, as streams beyond.
/// Not thread-safe: the Sequence's lock guards it.
class Evaluation {
 public:
  /// For sequence `sequence` of `session` (which must outlive this).
  Evaluation(const Session& session, uint64_t sequence);

  /// Encodes `ops` for the evaluations to come; throws kp::Error naming the op and field at
  /// fault (encoded() is then false).
  void encode(const std::vector<std::shared_ptr<OpBase>>& ops);
  /// True once ops were encoded (and not reset()).
  bool encoded() const { return encoder_.has_value(); }
  /// Checks that the encoded ops' tensors and algorithms still exist (see OpEncoder::check).
  void check() const { encoder_->check(); }
  /// Forgets the encoded ops, and with them the tensors they keep alive.
  void reset() { encoder_.reset(); }

  /// Eval of the encoded ops, sending them too when `record` (the daemon does not hold them
  /// yet): streams the large uploads, evaluates, applies the downloads. The reply stays valid
  /// until the next call. Throws kp::Error.
  const v1::EvalResponse& eval(bool record);
  /// EvalAsync of the encoded ops (streaming the large uploads first). Throws kp::Error.
  void evalAsync(bool record);
  /// EvalAwait, waiting at most `timeoutNs`: the reply with its downloads applied when the
  /// evaluation finished, else null. The reply stays valid until the next call.
  const v1::EvalResponse* evalAwait(uint64_t timeoutNs);

 private:
  // Fills request_ for an evaluation and streams its large uploads.
  void prepare(bool record);

  const Session& session_;
  const InlineLimits limits_;
  EvalTransport transport_;
  std::optional<OpEncoder> encoder_;
  v1::EvalRequest request_;
  v1::EvalAwaitRequest await_;
};

}  // namespace kp::detail
