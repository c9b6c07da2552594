#include "server/service/transport/call_gate.h"

#include <vector>

namespace kp::service {

CallGate::Pass CallGate::enterCall() {
  base::MutexLock lock(mutex_);
  if (draining_) return Pass(nullptr);
  ++calls_;
  return Pass(this);
}

void CallGate::callStarted() {
  base::MutexLock lock(mutex_);
  ++calls_;
}

void CallGate::callEnded(const void* context) {
  std::vector<std::shared_ptr<void>> released;  // let go outside the lock
  {
    base::MutexLock lock(mutex_);
    --calls_;
    if (context != nullptr) {
      auto [begin, end] = kept_.equal_range(context);
      for (auto it = begin; it != end; ++it) released.push_back(std::move(it->second));
      kept_.erase(begin, end);
    }
  }
  changed_.notifyAll();
}

void CallGate::keepUntilCallEnds(const void* context, std::shared_ptr<void> held) {
  if (!held) return;
  base::MutexLock lock(mutex_);
  kept_.emplace(context, std::move(held));
}

bool CallGate::streamStarted() {
  base::MutexLock lock(mutex_);
  if (draining_) return false;
  ++streams_;
  return true;
}

void CallGate::streamDone() {
  {
    base::MutexLock lock(mutex_);
    --streams_;
  }
  changed_.notifyAll();
}

void CallGate::startDraining() {
  base::MutexLock lock(mutex_);
  draining_ = true;
}

bool CallGate::draining() const {
  base::MutexLock lock(mutex_);
  return draining_;
}

void CallGate::giveUp() {
  givenUp_.store(true);
}

bool CallGate::givenUp() const {
  return givenUp_.load();
}

bool CallGate::waitForCalls(Clock::time_point deadline) {
  base::MutexLock lock(mutex_);
  while (calls_ != 0) {
    if (!changed_.waitUntil(mutex_, deadline)) return calls_ == 0;
  }
  return true;
}

bool CallGate::waitForStreams(Clock::time_point deadline) {
  base::MutexLock lock(mutex_);
  while (streams_ != 0) {
    if (!changed_.waitUntil(mutex_, deadline)) return streams_ == 0;
  }
  return true;
}

size_t CallGate::calls() const {
  base::MutexLock lock(mutex_);
  return calls_;
}

size_t CallGate::streams() const {
  base::MutexLock lock(mutex_);
  return streams_;
}

}  // namespace kp::service
