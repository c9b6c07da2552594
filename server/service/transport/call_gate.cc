#include "server/service/transport/call_gate.h"

namespace kp::service {

CallGate::Pass CallGate::enterCall() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (draining_) return Pass(nullptr);
  ++calls_;
  return Pass(this);
}

void CallGate::callStarted() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++calls_;
}

void CallGate::callEnded() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --calls_;
  }
  changed_.notify_all();
}

bool CallGate::streamStarted() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (draining_) return false;
  ++streams_;
  return true;
}

void CallGate::streamDone() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --streams_;
  }
  changed_.notify_all();
}

void CallGate::startDraining() {
  std::lock_guard<std::mutex> lock(mutex_);
  draining_ = true;
}

bool CallGate::draining() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return draining_;
}

void CallGate::giveUp() {
  givenUp_.store(true);
}

bool CallGate::givenUp() const {
  return givenUp_.load();
}

bool CallGate::waitForCalls(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_until(lock, deadline, [this] { return calls_ == 0; });
}

bool CallGate::waitForStreams(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_until(lock, deadline, [this] { return streams_ == 0; });
}

size_t CallGate::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

size_t CallGate::streams() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return streams_;
}

}  // namespace kp::service
