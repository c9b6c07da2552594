#include "client-cpp/src/evaluation.h"

#include "client-cpp/src/session.h"
#include "client-cpp/src/tensor_stream.h"

namespace kp::detail {

Evaluation::Evaluation(const Session& session, uint64_t sequence)
    : session_(session), limits_(inlineLimits(session)), transport_(session) {
  // Requests on the local data socket need no session: the connection is attached to it.
  if (!transport_.local()) {
    request_.set_session(session.id());
    await_.set_session(session.id());
  }
  request_.set_sequence(sequence);
  request_.set_inline_download_limit(limits_.each);
  await_.set_sequence(sequence);
  await_.set_inline_download_limit(limits_.each);
}

void Evaluation::encode(const std::vector<std::shared_ptr<OpBase>>& ops) {
  encoder_.emplace(ops, limits_);
}

void Evaluation::prepare(bool record) {
  request_.set_record(record);
  if (record) {
    *request_.mutable_ops() = encoder_->ops();
  } else {
    request_.clear_ops();
  }
  encoder_->addUploads(request_);
  encoder_->streamUploads(session_);
}

const v1::EvalResponse& Evaluation::eval(bool record) {
  prepare(record);
  const v1::EvalResponse& response = transport_.eval(request_);
  encoder_->applyDownloads(response, session_);
  return response;
}

void Evaluation::evalAsync(bool record) {
  prepare(record);
  transport_.evalAsync(request_);
}

const v1::EvalResponse* Evaluation::evalAwait(uint64_t timeoutNs) {
  await_.set_timeout_ns(timeoutNs);
  const v1::EvalResponse& response = transport_.evalAwait(await_);
  if (!response.finished()) return nullptr;
  encoder_->applyDownloads(response, session_);
  return &response;
}

}  // namespace kp::detail
