// How long a device has had work pending: the time during which at least one submission to it
// had not been seen finished, summed since the clock started. Submissions that overlap count
// once: the clock runs from a 0 -> 1 transition of the pending count to the next 1 -> 0.
//
// Not thread-safe: Device calls it under the per-device lock it already holds to track its
// submissions, so that the submit path pays a few integer operations and no lock of its own.
#pragma once

#include <chrono>
#include <cstdint>

namespace kp::engine {

class BusyClock {
 public:
  using Clock = std::chrono::steady_clock;

  // A submission became pending at `now`.
  void begin(Clock::time_point now) {
    if (pending_++ == 0) since_ = now;
  }
  // A pending submission was seen finished at `now` (ignored when none is pending).
  void end(Clock::time_point now) {
    if (pending_ == 0) return;
    if (--pending_ == 0 && now > since_) total_ += now - since_;
  }
  // The time with work pending up to `now`, the current stretch included. Never decreases
  // from one call to the next as long as `now` does not.
  std::chrono::nanoseconds busy(Clock::time_point now) const {
    Clock::duration total = total_;
    if (pending_ > 0 && now > since_) total += now - since_;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(total);
  }
  // Submissions pending now.
  uint32_t pending() const { return pending_; }

 private:
  uint32_t pending_ = 0;
  Clock::time_point since_{};  // the start of the current stretch, while pending_ > 0
  Clock::duration total_{0};   // the stretches that ended
};

}  // namespace kp::engine
