// How long a device had work pending (BusyClock), and what Device reports of its submissions:
// activity (running, queued) and busy time, held by the gate shader rather than by timing.
#include "server/engine/busy_clock.h"

#include <gtest/gtest.h>

#include <thread>

#include "gate.h"
#include "test_environment.h"

namespace kp::engine::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using Clock = BusyClock::Clock;

TEST(BusyClock, CountsOverlappingSubmissionsOnce) {
  const Clock::time_point t0{};
  BusyClock clock;
  EXPECT_EQ(clock.busy(t0 + milliseconds(5)), nanoseconds(0));
  clock.begin(t0 + milliseconds(10));
  clock.begin(t0 + milliseconds(12));  // overlaps the first
  EXPECT_EQ(clock.pending(), 2u);
  EXPECT_EQ(clock.busy(t0 + milliseconds(15)), milliseconds(5));  // the running stretch
  clock.end(t0 + milliseconds(20));
  EXPECT_EQ(clock.busy(t0 + milliseconds(25)), milliseconds(15));  // still one pending
  clock.end(t0 + milliseconds(30));
  EXPECT_EQ(clock.pending(), 0u);
  EXPECT_EQ(clock.busy(t0 + milliseconds(100)), milliseconds(20));  // idle since 30
  clock.begin(t0 + milliseconds(200));
  clock.end(t0 + milliseconds(203));
  EXPECT_EQ(clock.busy(t0 + milliseconds(300)), milliseconds(23));
}

TEST(BusyClock, IgnoresAnEndWithoutABeginAndTimeRunningBackwards) {
  const Clock::time_point t0{};
  BusyClock clock;
  clock.end(t0 + milliseconds(1));
  EXPECT_EQ(clock.pending(), 0u);
  clock.begin(t0 + milliseconds(10));
  EXPECT_EQ(clock.busy(t0 + milliseconds(5)), nanoseconds(0));  // a look from before it began
  clock.end(t0 + milliseconds(8));  // seen finished by a look that started before it began
  EXPECT_EQ(clock.busy(t0 + milliseconds(50)), nanoseconds(0));
}

using DeviceActivityTest = EngineTest;

TEST_F(DeviceActivityTest, HeldWorkRunsQueuesBehindAndCountsAsBusy) {
  Gate gate(device_);
  // Made before the gate closes: a new tensor's first upload would wait behind it.
  auto out = Tensor::create(device_, std::vector<float>{0, 0}, TensorType::kDevice);
  auto behind = Sequence::create(device_);
  behind->record(std::make_shared<OpTensorSyncLocal>(std::vector<std::shared_ptr<Tensor>>{out}));
  const nanoseconds before = device_->busyTime();
  ASSERT_TRUE(gate.close());
  // A second submission to the same queue waits behind the gate.
  behind->evalAsync();
  const Device::Activity held = device_->activity();
  EXPECT_EQ(held.running, 1u);
  EXPECT_EQ(held.queued, 1u);
  EXPECT_EQ(device_->pendingSubmissions(), 2u);
  // Busy time grows while the gate holds the queue (the test waits for it to grow, no sleep
  // decides anything).
  const nanoseconds during = device_->busyTime();
  EXPECT_GT(during, before);
  EXPECT_TRUE(kp::test::waitUntil([&] { return device_->busyTime() > during; }));

  gate.open();
  ASSERT_TRUE(gate.sequence()->evalAwait(UINT64_MAX));
  ASSERT_TRUE(behind->evalAwait(UINT64_MAX));
  EXPECT_TRUE(gate.held());
  const Device::Activity done = device_->activity();
  EXPECT_EQ(done.running, 0u);
  EXPECT_EQ(done.queued, 0u);
  // Idle: the busy time stops growing.
  const nanoseconds after = device_->busyTime();
  EXPECT_GT(after, during);
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(device_->busyTime(), after);
}

}  // namespace
}  // namespace kp::engine::test
