#include "kp/sequence.hpp"

#include <algorithm>
#include <chrono>

#include "kp/error.hpp"
#include "op_encoder.h"
#include "session.h"

namespace kp {
namespace {

// EvalAwait waits in slices of at most this long, so that the daemon's own wait limit is
// never hit and a vanished daemon is noticed.
constexpr uint64_t kAwaitSliceNs = 10'000'000'000ULL;

}  // namespace

Sequence::Sequence(std::shared_ptr<detail::Session> session, uint32_t queueIndex,
                   uint32_t totalTimestamps)
    : session_(std::move(session)), totalTimestamps_(totalTimestamps) {
  v1::CreateSequenceRequest request;
  request.set_session(session_->id());
  request.set_queue_index(queueIndex);
  request.set_total_timestamps(totalTimestamps);
  handle_ = session_->call(&detail::Session::Stub::CreateSequence, request).sequence();
}

Sequence::~Sequence() {
  try {
    destroy();
  } catch (const std::exception&) {
    // Best effort: the session's end frees the sequence anyway.
  }
}

// ---- recording ----

std::shared_ptr<Sequence> Sequence::record(std::shared_ptr<OpBase> op) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  recordLocked(std::move(op));
  return shared_from_this();
}

void Sequence::recordLocked(std::shared_ptr<OpBase> op) {
  if (!op) throw InvalidArgumentError(StatusCode::kInvalidArgument, "record: the op is null");
  requireUsable("record");
  requireIdle("record");
  if (!recording_) {
    ops_.clear();
    recording_ = true;
  }
  ops_.push_back(std::move(op));
  sent_ = false;
}

void Sequence::clear() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  clearLocked();
}

void Sequence::clearLocked() {
  requireIdle("clear");
  ops_.clear();
  recording_ = false;
  sent_ = false;
}

void Sequence::begin() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  requireIdle("begin");
  if (recording_) return;
  ops_.clear();
  recording_ = true;
  sent_ = false;
}

void Sequence::end() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  requireIdle("end");
  recording_ = false;
}

void Sequence::rerecord() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  requireIdle("rerecord");
  recording_ = false;
  sent_ = false;
}

// ---- evaluation ----

namespace {

// The request of an evaluation of `ops`: the ops themselves unless the daemon has them, and
// the uploads. Returns the tensors whose host copies the reply may update.
std::vector<std::shared_ptr<Tensor>> buildRequest(const std::vector<std::shared_ptr<OpBase>>& ops,
                                                  bool sent, v1::EvalRequest& request) {
  detail::OpEncoder encoder(ops);
  if (!sent) {
    request.set_record(true);
    encoder.moveOpsInto(request);
  }
  encoder.addUploads(request);
  return encoder.tensors();
}

}  // namespace

std::shared_ptr<Sequence> Sequence::eval() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  evalLocked();
  return shared_from_this();
}

std::shared_ptr<Sequence> Sequence::eval(std::shared_ptr<OpBase> op) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  clearLocked();
  recordLocked(std::move(op));
  evalLocked();
  return shared_from_this();
}

void Sequence::evalLocked() {
  requireUsable("eval");
  requireIdle("eval");
  v1::EvalRequest request;
  request.set_session(session_->id());
  request.set_sequence(handle_);
  std::vector<std::shared_ptr<Tensor>> tensors = buildRequest(ops_, sent_, request);
  v1::EvalResponse response;
  try {
    response = session_->call(&detail::Session::Stub::Eval, request);
  } catch (const DeadlineExceededError&) {
    // The daemon keeps running it: it can be awaited like an evalAsync().
    recording_ = false;
    sent_ = true;
    running_ = true;
    pendingTensors_ = std::move(tensors);
    throw;
  }
  recording_ = false;
  sent_ = true;
  detail::OpEncoder::applyDownloads(response, tensors);
  timestamps_.assign(response.timestamps().begin(), response.timestamps().end());
}

std::shared_ptr<Sequence> Sequence::evalAsync() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  evalAsyncLocked();
  return shared_from_this();
}

std::shared_ptr<Sequence> Sequence::evalAsync(std::shared_ptr<OpBase> op) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  clearLocked();
  recordLocked(std::move(op));
  evalAsyncLocked();
  return shared_from_this();
}

void Sequence::evalAsyncLocked() {
  requireUsable("evalAsync");
  requireIdle("evalAsync");
  v1::EvalRequest request;
  request.set_session(session_->id());
  request.set_sequence(handle_);
  std::vector<std::shared_ptr<Tensor>> tensors = buildRequest(ops_, sent_, request);
  session_->call(&detail::Session::Stub::EvalAsync, request);
  recording_ = false;
  sent_ = true;
  running_ = true;
  pendingTensors_ = std::move(tensors);
}

std::shared_ptr<Sequence> Sequence::evalAwait(uint64_t timeoutNs) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  if (!running_) return shared_from_this();
  requireUsable("evalAwait");
  using Clock = std::chrono::steady_clock;
  const bool forever = timeoutNs == UINT64_MAX;
  const Clock::time_point start = Clock::now();
  auto remainingNs = [&]() -> uint64_t {
    const auto elapsed = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    return timeoutNs > elapsed ? timeoutNs - elapsed : 0;
  };
  while (true) {
    v1::EvalAwaitRequest request;
    request.set_session(session_->id());
    request.set_sequence(handle_);
    request.set_timeout_ns(forever ? kAwaitSliceNs : std::min(kAwaitSliceNs, remainingNs()));
    v1::EvalResponse response = session_->call(&detail::Session::Stub::EvalAwait, request);
    if (response.finished()) {
      running_ = false;
      std::vector<std::shared_ptr<Tensor>> tensors = std::move(pendingTensors_);
      pendingTensors_.clear();
      detail::OpEncoder::applyDownloads(response, tensors);
      timestamps_.assign(response.timestamps().begin(), response.timestamps().end());
      return shared_from_this();
    }
    if (!forever && remainingNs() == 0) return shared_from_this();  // still running
  }
}

// ---- state ----

std::vector<std::uint64_t> Sequence::getTimestamps() const {
  if (totalTimestamps_ == 0) {
    throw FailedPreconditionError(
        StatusCode::kFailedPrecondition,
        "getTimestamps: timestamps are not enabled: create the sequence with totalTimestamps > 0");
  }
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return timestamps_;
}

bool Sequence::isInit() const {
  return !destroyed_ && session_->isOpen();
}

void Sequence::destroy() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  if (destroyed_.exchange(true)) return;
  ops_.clear();
  pendingTensors_.clear();
  running_ = false;
  recording_ = false;
  v1::DestroySequenceRequest request;
  request.set_session(session_->id());
  request.set_sequence(handle_);
  session_->release(&detail::Session::Stub::DestroySequence, request);
}

void Sequence::requireUsable(const char* what) const {
  if (destroyed_) {
    throw FailedPreconditionError(StatusCode::kFailedPrecondition,
                                  std::string(what) + ": the sequence was destroyed");
  }
}

void Sequence::requireIdle(const char* what) const {
  if (running_) {
    throw FailedPreconditionError(
        StatusCode::kFailedPrecondition,
        std::string(what) + ": the sequence is running; call evalAwait() first");
  }
}

}  // namespace kp
