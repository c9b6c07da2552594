// How busy one device was over the last kWindow: the share of that time during which it had
// work pending, for GetLoad and the metrics page.
//
// A device index may have several engine Devices at once (sessions asking for other queue
// families get their own; a reset leaves the old one behind while its work runs on): each
// reports the busy time of its own life (engine::Device::busyTime), and the history adds up
// what each gained since it was last seen into one running total, which the device watchdog
// samples every round (every 100 ms). The fraction over the window is then the total now less
// the total at the window's start (interpolated between the two samples around it; 0 before
// the history's start), divided by the window, at most 1. Time before kpd opened anything counts as
// idle. Not thread-safe: DevicePool holds it under its lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>

namespace kp::service {

class BusyHistory {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kWindow{10};
  // Samples are kept at least this far apart (the watchdog's rounds, every 100 ms, are), so a
  // window holds at most about 200 of them; kMaxSamples bounds the history all the same.
  static constexpr std::chrono::milliseconds kMinSpacing{50};
  static constexpr size_t kMaxSamples = 256;

  // The total is 0 at `start`.
  explicit BusyHistory(Clock::time_point start);

  // `instance` (an engine Device of this index, or anything standing for one) reports `busy`,
  // the busy time of its life so far: what it gained since the last report joins the total.
  // An instance seen for the first time brings all of it; a smaller report than the last
  // (two callers racing) is ignored.
  void observe(const std::shared_ptr<void>& instance, std::chrono::nanoseconds busy);
  // Records the total as of `now` (the watchdog's round), forgetting the instances gone and the
  // samples no window will need again.
  void sample(Clock::time_point now);
  // The share of [now - kWindow, now] during which the device was busy (0..1), the total as of
  // the last observe() taken as the total at `now`.
  double fraction(Clock::time_point now) const;
  // The running total (for tests).
  std::chrono::nanoseconds total() const { return total_; }

 private:
  struct Sample {
    Clock::time_point at;
    std::chrono::nanoseconds total;
  };
  // The total at `at`, interpolated between samples; before the first, the first's (0 for the
  // history's start).
  std::chrono::nanoseconds totalAt(Clock::time_point at) const;

  std::chrono::nanoseconds total_{0};
  std::map<std::weak_ptr<void>, std::chrono::nanoseconds, std::owner_less<>> seen_;
  std::deque<Sample> samples_;
};

}  // namespace kp::service
