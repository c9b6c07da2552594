#include "kp/sequence.hpp"

#include <algorithm>
#include <chrono>

#include "client-cpp/src/evaluation.h"
#include "kp/error.hpp"
#include "client-cpp/src/session.h"

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
  evaluation_ = std::make_unique<detail::Evaluation>(*session_, handle_);
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
    evaluation_->reset();
    recording_ = true;
    cleared_ = false;
  }
  ops_.push_back(std::move(op));
  sent_ = false;
}

void Sequence::clear() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  clearLocked();
}

void Sequence::clearLocked() {
  // As Kompute's: recording ends and the next record() starts afresh, but what was recorded
  // stays in the command buffer, so an eval() before any new record() still runs it.
  requireIdle("clear");
  recording_ = false;
  cleared_ = true;
}

void Sequence::begin() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  requireIdle("begin");
  if (recording_) return;
  ops_.clear();
  evaluation_->reset();
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
  if (cleared_) {  // Kompute's clear() emptied the op list: the new recording is empty
    ops_.clear();
    evaluation_->reset();
    cleared_ = false;
  }
  recording_ = false;
  sent_ = false;
}

// ---- evaluation ----

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

void Sequence::prepareLocked() {
  if (sent_ && evaluation_->encoded()) {
    evaluation_->check();
  } else {
    evaluation_->encode(ops_);
  }
}

void Sequence::evalLocked() {
  requireUsable("eval");
  requireIdle("eval");
  prepareLocked();
  try {
    const v1::EvalResponse& response = evaluation_->eval(!sent_);
    timestamps_.assign(response.timestamps().begin(), response.timestamps().end());
  } catch (const DeadlineExceededError&) {
    // The daemon keeps running it: it can be awaited like an evalAsync().
    recording_ = false;
    sent_ = true;
    running_ = true;
    throw;
  }
  recording_ = false;
  sent_ = true;
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
  prepareLocked();
  evaluation_->evalAsync(!sent_);
  recording_ = false;
  sent_ = true;
  running_ = true;
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
    const v1::EvalResponse* response =
        evaluation_->evalAwait(forever ? kAwaitSliceNs : std::min(kAwaitSliceNs, remainingNs()));
    if (response != nullptr) {
      running_ = false;
      timestamps_.assign(response->timestamps().begin(), response->timestamps().end());
      return shared_from_this();
    }
    if (!forever && remainingNs() == 0) {  // still running: the wait ends, as in Kompute
      running_ = false;
      abandoned_ = true;
      return shared_from_this();
    }
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
  evaluation_->reset();
  running_ = false;
  abandoned_ = false;
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

void Sequence::requireIdle(const char* what) {
  if (abandoned_) {
    abandoned_ = false;
    while (true) {
      const v1::EvalResponse* response = evaluation_->evalAwait(kAwaitSliceNs);
      if (response != nullptr) {
        timestamps_.assign(response->timestamps().begin(), response->timestamps().end());
        break;
      }
    }
  }
  if (running_) {
    throw FailedPreconditionError(
        StatusCode::kFailedPrecondition,
        std::string(what) + ": the sequence is running; call evalAwait() first");
  }
}

}  // namespace kp
