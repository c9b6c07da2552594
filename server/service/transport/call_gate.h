// Counts the calls kpd is serving, so that shutdown can stop admitting new ones and wait for
// those in flight (a running Eval, say, until its reply is sent) before it ends the sessions.
// Session streams (OpenSession) are counted apart: they last as long as their session, so shutdown
// ends the sessions first and then waits for the streams to deliver their `closed` event.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <unordered_map>

#include "server/base/mutex.h"

namespace kp::service {

class CallGate {
 public:
  using Clock = std::chrono::steady_clock;

  // A call admitted by enterCall(); leaving its scope ends it.
  class Pass {
   public:
    explicit Pass(CallGate* gate) : gate_(gate) {}
    Pass(Pass&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    Pass& operator=(Pass&&) = delete;
    ~Pass() {
      if (gate_) gate_->callEnded();
    }
    explicit operator bool() const { return gate_ != nullptr; }

   private:
    CallGate* gate_;
  };

  // Admits a call: an empty Pass once draining has started.
  Pass enterCall();
  // Counts a call without admitting or refusing it (CallCounterFactory: from its arrival to
  // its reply sent; the handler checks draining() itself). callEnded lets go of what
  // keepUntilCallEnds kept for the call on `context`.
  void callStarted();
  void callEnded(const void* context = nullptr);
  // Keeps `held` (if not null) until the call on `context` has ended (its reply sent): e.g.
  // the charge of a reply's bytes to its session.
  void keepUntilCallEnds(const void* context, std::shared_ptr<void> held);
  // Counts a session stream until streamDone(); false (not counted) once draining started.
  bool streamStarted();
  void streamDone();

  // From now on, enterCall() and streamStarted() refuse.
  void startDraining();
  bool draining() const;
  // The drain time ran out: calls that wait (Eval) should give up now.
  void giveUp();
  bool givenUp() const;

  // Wait until no admitted call (resp. no stream) is left, or until `deadline`. True if none
  // is left.
  bool waitForCalls(Clock::time_point deadline);
  bool waitForStreams(Clock::time_point deadline);

  size_t calls() const;
  size_t streams() const;

 private:
  mutable base::Mutex mutex_;
  base::CondVar changed_;
  bool draining_ KP_GUARDED_BY(mutex_) = false;
  std::atomic<bool> givenUp_{false};
  size_t calls_ KP_GUARDED_BY(mutex_) = 0;
  std::unordered_multimap<const void*, std::shared_ptr<void>> kept_ KP_GUARDED_BY(mutex_);
  size_t streams_ KP_GUARDED_BY(mutex_) = 0;
};

}  // namespace kp::service
