// The busy fraction of a device over the last 10 s (BusyHistory): instances' busy times summed
// into a running total, sampled, and read over a sliding window. Times are made up: no clock.
#include "server/service/devices/busy_history.h"

#include <gtest/gtest.h>

#include <memory>

namespace kp::service {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = BusyHistory::Clock;

// Samples every 100 ms from `from` to `to` (the watchdog's rounds), the instance reporting the
// busy time `busyAt(t)` at each.
template <typename F>
void rounds(BusyHistory& history, const std::shared_ptr<void>& instance, Clock::time_point from,
            Clock::time_point to, F busyAt) {
  for (auto t = from; t <= to; t += milliseconds(100)) {
    history.observe(instance, busyAt(t));
    history.sample(t);
  }
}

TEST(BusyHistory, IdleIsZeroAndAlwaysBusyIsOne) {
  const Clock::time_point t0 = Clock::now();
  BusyHistory history(t0);
  auto device = std::make_shared<int>(0);
  EXPECT_EQ(history.fraction(t0 + seconds(5)), 0.0);
  // Busy from t0 + 20 s on, without a break.
  const auto busyAt = [&](Clock::time_point t) {
    return t > t0 + seconds(20) ? t - (t0 + seconds(20)) : Clock::duration(0);
  };
  rounds(history, device, t0, t0 + seconds(25), busyAt);
  EXPECT_NEAR(history.fraction(t0 + seconds(25)), 0.5, 0.02);  // half of [15 s, 25 s]
  rounds(history, device, t0 + seconds(25) + milliseconds(100), t0 + seconds(40), busyAt);
  EXPECT_NEAR(history.fraction(t0 + seconds(40)), 1.0, 1e-9);
}

TEST(BusyHistory, HalfBusyGivesAHalfAndTheWindowForgets) {
  const Clock::time_point t0 = Clock::now();
  BusyHistory history(t0);
  auto device = std::make_shared<int>(0);
  // Busy half of every second for 30 s: 500 ms on, 500 ms off.
  const auto busyAt = [&](Clock::time_point t) {
    const auto elapsed = std::chrono::duration_cast<milliseconds>(t - t0).count();
    return milliseconds(elapsed / 1000 * 500 + std::min<int64_t>(elapsed % 1000, 500));
  };
  rounds(history, device, t0, t0 + seconds(30), busyAt);
  EXPECT_NEAR(history.fraction(t0 + seconds(30)), 0.5, 0.01);
  // Then idle for 10 s: the window has forgotten the busy part; 5 s into it, half remains.
  const milliseconds last = busyAt(t0 + seconds(30));
  rounds(history, device, t0 + seconds(30) + milliseconds(100), t0 + seconds(35),
         [&](Clock::time_point) { return last; });
  EXPECT_NEAR(history.fraction(t0 + seconds(35)), 0.25, 0.01);
  rounds(history, device, t0 + seconds(35) + milliseconds(100), t0 + seconds(41),
         [&](Clock::time_point) { return last; });
  EXPECT_EQ(history.fraction(t0 + seconds(41)), 0.0);
}

TEST(BusyHistory, AddsInstancesAndKeepsWhatAGoneOneGained) {
  const Clock::time_point t0 = Clock::now();
  BusyHistory history(t0);
  auto first = std::make_shared<int>(1);
  auto second = std::make_shared<int>(2);
  history.observe(first, milliseconds(300));
  history.observe(second, milliseconds(200));
  history.sample(t0 + seconds(1));
  EXPECT_EQ(history.total(), milliseconds(500));
  // A report smaller than the last (callers racing) changes nothing; a larger one adds the
  // difference.
  history.observe(first, milliseconds(100));
  history.observe(first, milliseconds(400));
  EXPECT_EQ(history.total(), milliseconds(600));
  // The second instance goes (a retired device freed): what it gained stays in the total, and
  // a new instance at the same address would be counted from zero.
  second.reset();
  history.sample(t0 + seconds(2));
  EXPECT_EQ(history.total(), milliseconds(600));
  auto third = std::make_shared<int>(3);
  history.observe(third, milliseconds(50));
  EXPECT_EQ(history.total(), milliseconds(650));
  EXPECT_NEAR(history.fraction(t0 + seconds(2)), 0.065, 1e-6);
}

TEST(BusyHistory, NeverMoreThanOne) {
  const Clock::time_point t0 = Clock::now();
  BusyHistory history(t0);
  // Two instances of one device busy at once (sessions with other queue families).
  auto first = std::make_shared<int>(1);
  auto second = std::make_shared<int>(2);
  history.observe(first, seconds(10));
  history.observe(second, seconds(10));
  history.sample(t0 + seconds(10));
  EXPECT_EQ(history.fraction(t0 + seconds(10)), 1.0);
}

TEST(BusyHistory, KeepsBoundedSamples) {
  const Clock::time_point t0 = Clock::now();
  BusyHistory history(t0);
  auto device = std::make_shared<int>(0);
  // Far more samples than a window needs, and faster than the watchdog takes them.
  for (int i = 1; i <= 100'000; ++i) {
    history.observe(device, milliseconds(i));
    history.sample(t0 + milliseconds(i));
  }
  // Each millisecond busy: the window reads fully busy.
  EXPECT_NEAR(history.fraction(t0 + milliseconds(100'000)), 1.0, 1e-9);
}

}  // namespace
}  // namespace kp::service
