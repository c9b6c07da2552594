// kp::detail::EvalTransport: how evaluation requests reach kpd, over the local data socket or
// gRPC.
#pragma once

#include <google/protobuf/arena.h>

#include <string>

#include "kp/v1/compute.pb.h"
#include "kp/v1/local.pb.h"

namespace kp::detail {

class Session;

/// Sends Eval, EvalAsync and EvalAwait requests the way the session goes: as frames on the
/// local data socket when it has one (the request is serialized once, straight into the
/// frame), else as gRPC calls. Keeps its buffers from call to call, and parses local replies
/// into an arena that starts in a block of its own: evaluating again allocates nothing unless
/// a reply outgrows that block. Not thread-safe: one per sequence (or per caller).
class EvalTransport {
 public:
  /// `session` must outlive the transport.
  explicit EvalTransport(const Session& session);

  EvalTransport(const EvalTransport&) = delete;
  EvalTransport& operator=(const EvalTransport&) = delete;

  /// True when requests go over the local data socket (they then need no `session` field).
  bool local() const;

  /// Eval; the reply stays valid until the next call. Throws kp::Error.
  const v1::EvalResponse& eval(const v1::EvalRequest& request);
  /// EvalAsync. Throws kp::Error.
  void evalAsync(const v1::EvalRequest& request);
  /// EvalAwait; the reply stays valid until the next call. Throws kp::Error.
  const v1::EvalResponse& evalAwait(const v1::EvalAwaitRequest& request);

 private:
  // Sends `request` as LocalRequest field `field` and returns the reply.
  const v1::LocalResponse& callLocal(int field, const google::protobuf::MessageLite& request);

  static constexpr size_t kArenaBlockBytes = 8 * 1024;

  const Session& session_;
  std::string frame_;
  alignas(16) char arenaBlock_[kArenaBlockBytes];
  google::protobuf::Arena arena_;
  v1::EvalResponse reply_;
  v1::EvalAsyncResponse asyncReply_;
};

/// Evaluates `ops` once on a temporary sequence (EvalRequest.sequence 0) and waits. Nothing is
/// uploaded with it and its downloads are dropped: for the initial data of new tensors.
void evalOnce(const Session& session, const google::protobuf::RepeatedPtrField<v1::Op>& ops);

}  // namespace kp::detail
