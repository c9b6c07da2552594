#include "client-cpp/src/eval_transport.h"

#include "client-cpp/src/local/local_frame.h"
#include "client-cpp/src/session.h"
#include "client-cpp/src/tensor_stream.h"

namespace kp::detail {

namespace {

google::protobuf::ArenaOptions arenaIn(char* block, size_t bytes) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = bytes;
  return options;
}

}  // namespace

EvalTransport::EvalTransport(const Session& session)
    : session_(session), arena_(arenaIn(arenaBlock_, sizeof(arenaBlock_))) {}

bool EvalTransport::local() const {
  return session_.local() != nullptr;
}

const v1::LocalResponse& EvalTransport::callLocal(int field,
                                                  const google::protobuf::MessageLite& request) {
  writeLocalFrame(field, request, &frame_);
  arena_.Reset();  // the last reply goes; its memory is reused
  auto* reply = google::protobuf::Arena::CreateMessage<v1::LocalResponse>(&arena_);
  session_.callLocal(frame_, reply);
  return *reply;
}

const v1::EvalResponse& EvalTransport::eval(const v1::EvalRequest& request) {
  if (local()) return callLocal(v1::LocalRequest::kEvalFieldNumber, request).eval();
  session_.callInto(&Session::Stub::Eval, request, &reply_);
  return reply_;
}

void EvalTransport::evalAsync(const v1::EvalRequest& request) {
  if (local()) {
    callLocal(v1::LocalRequest::kEvalAsyncFieldNumber, request);
    return;
  }
  session_.callInto(&Session::Stub::EvalAsync, request, &asyncReply_);
}

const v1::EvalResponse& EvalTransport::evalAwait(const v1::EvalAwaitRequest& request) {
  if (local()) return callLocal(v1::LocalRequest::kEvalAwaitFieldNumber, request).eval();
  session_.callInto(&Session::Stub::EvalAwait, request, &reply_);
  return reply_;
}

void evalOnce(const Session& session, const google::protobuf::RepeatedPtrField<v1::Op>& ops) {
  EvalTransport transport(session);
  v1::EvalRequest request;
  if (!transport.local()) request.set_session(session.id());
  request.set_record(true);
  *request.mutable_ops() = ops;
  request.set_inline_download_limit(inlineLimits(session).each);
  transport.eval(request);
}

}  // namespace kp::detail
