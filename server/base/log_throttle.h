// A log line that a hostile client could make kpd write thousands of times a second (a refused
// connection, an accept that fails for want of descriptors) goes through a LogThrottle: the
// first one is written, then at most one per interval, saying how many were left out between.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kp::base {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration interval = std::chrono::seconds(10))
      : interval_(interval.count()) {}

  // True if this occurrence should be logged; then `*leftOut` is how many were not since the
  // last one logged.
  bool allow(uint64_t* leftOut) {
    const Clock::rep now = Clock::now().time_since_epoch().count();
    Clock::rep last = last_.load();
    if (last != kNever && now - last < interval_) {
      ++leftOut_;
      return false;
    }
    if (!last_.compare_exchange_strong(last, now)) {
      ++leftOut_;
      return false;
    }
    *leftOut = leftOut_.exchange(0);
    return true;
  }

 private:
  static constexpr Clock::rep kNever = 0;
  const Clock::rep interval_;
  std::atomic<Clock::rep> last_{kNever};
  std::atomic<uint64_t> leftOut_{0};
};

}  // namespace kp::base
