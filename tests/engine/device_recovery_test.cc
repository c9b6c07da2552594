// A device that is lost (for real or on purpose: markLost) while work runs on it: waits end at
// once with DeviceLost, nothing the work uses is freed before it finishes (busy), stall() names
// the work that holds a queue up, and injected faults (lost device, out of memory) surface as
// typed errors. Each test opens a device of its own, so that the shared one stays healthy.
// Work that must still run while a test looks is a closed Gate: it runs until the test opens it.
#include <chrono>
#include <thread>

#include "gate.h"
#include "test_environment.h"

namespace kp::engine::test {
namespace {

using kp::test::waitUntil;
using std::chrono::milliseconds;

class DeviceRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { device_ = Device::open(instance(), 0); }
  void TearDown() override {
    FaultInjection::configure("");
    // Nothing may be freed while the GPU still uses it: the tests' gates are open by now.
    EXPECT_TRUE(waitUntilIdle()) << "work still runs on the test's device";
  }

  bool waitUntilIdle() {
    return waitUntil([this] { return !device_ || !device_->busy(); });
  }

  std::shared_ptr<Device> device_;
};

TEST_F(DeviceRecoveryTest, MarkLostEndsAWaitAndKeepsTheWorkAlive) {
  Gate gate(device_);
  const auto& sequence = gate.sequence();
  ASSERT_TRUE(gate.close());
  std::thread marker([&] {
    ASSERT_TRUE(waitUntil([&] { return sequence->isAwaited(); }));
    device_->markLost("test: the device is wedged");
  });
  // The gate is closed, so only markLost can end this wait.
  expectError([&] { sequence->evalAwait(); }, ErrorCode::kDeviceLost, "test: the device is wedged");
  marker.join();
  EXPECT_EQ(gate.flag(kp::test::kGateSeenOpen), 0u);
  EXPECT_TRUE(device_->isLost());
  EXPECT_EQ(device_->lostReason(), "test: the device is wedged");
  device_->markLost("a later reason");
  EXPECT_EQ(device_->lostReason(), "test: the device is wedged") << "the first reason sticks";

  // The work still runs: the sequence refuses to free what it uses.
  EXPECT_TRUE(device_->busy());
  expectError([&] { sequence->destroy(0); }, ErrorCode::kDeviceLost, "may still run");
  EXPECT_TRUE(sequence->isInit());
  EXPECT_GT(device_->allocatedBytes(), 0u);

  // Nothing new is accepted.
  auto other = Sequence::create(device_);
  expectError([&] { other->evalAsync(); }, ErrorCode::kDeviceLost, "wedged");
  expectError(
      [&] {
        Tensor::create(device_, std::vector<float>{1, 2});
      },
      ErrorCode::kDeviceLost, "wedged");

  gate.open();
  ASSERT_TRUE(waitUntilIdle());
  EXPECT_TRUE(gate.held()) << "the work ran until it was let go";
  sequence->destroy(0);  // its work has finished: now it can go
  EXPECT_FALSE(sequence->isInit());
}

TEST_F(DeviceRecoveryTest, StallNamesTheWorkThatHoldsTheQueue) {
  EXPECT_FALSE(device_->stall().pending);
  Gate gate(device_, 42);
  ASSERT_TRUE(gate.close());
  // While the gate is closed its queue makes no progress: looked at a second later, it has
  // stalled for a second.
  const Device::Stall stall = device_->stall(std::chrono::steady_clock::now() + milliseconds(1000));
  EXPECT_TRUE(stall.pending);
  EXPECT_EQ(stall.owner, 42u);
  EXPECT_EQ(stall.queue, 0u);
  EXPECT_GE(stall.stalled, milliseconds(1000));
  gate.open();
  EXPECT_TRUE(gate.sequence()->evalAwait());
  EXPECT_TRUE(gate.held());
  EXPECT_FALSE(device_->stall().pending);
  EXPECT_FALSE(device_->busy());
}

TEST_F(DeviceRecoveryTest, InjectedLossAtSubmitFailsAndMarksTheDeviceLost) {
  Gate gate(device_);
  FaultInjection::configure("device-lost-after=0");
  expectError([&] { gate.sequence()->evalAsync(); }, ErrorCode::kDeviceLost,
              "vkQueueSubmit reported VK_ERROR_DEVICE_LOST");
  EXPECT_TRUE(device_->isLost());
  EXPECT_FALSE(gate.sequence()->isRunning());
  EXPECT_FALSE(device_->busy()) << "nothing was submitted";
  expectError([&] { gate.sequence()->evalAsync(); }, ErrorCode::kDeviceLost, "was lost");
  // The device's objects can still be freed.
  gate.sequence()->destroy();
}

TEST_F(DeviceRecoveryTest, InjectedLossAtWaitKeepsTheWorkAlive) {
  Gate gate(device_);
  ASSERT_TRUE(gate.close());
  FaultInjection::configure("device-lost-wait-after=0");
  expectError([&] { gate.sequence()->evalAwait(); }, ErrorCode::kDeviceLost,
              "vkWaitForFences reported VK_ERROR_DEVICE_LOST");
  EXPECT_TRUE(device_->isLost());
  EXPECT_TRUE(gate.sequence()->isRunning());
  EXPECT_TRUE(device_->busy());
  gate.open();
  ASSERT_TRUE(waitUntilIdle());
  EXPECT_TRUE(gate.held()) << "the work ran until it was let go";
  gate.sequence()->destroy();
}

TEST_F(DeviceRecoveryTest, FailedSetUpWorkKeepsItsTensorUntilItFinishes) {
  FaultInjection::configure("device-lost-wait-after=0");
  // A device tensor's first upload is set-up work (Device::runOnce).
  expectError([&] { Tensor::create(device_, std::vector<float>(1024, 1.0f)); },
              ErrorCode::kDeviceLost, "was lost");
  ASSERT_TRUE(waitUntilIdle());  // also frees the finished set-up work
  EXPECT_EQ(device_->allocatedBytes(), 0u) << "the tensor went once its upload had finished";
}

TEST_F(DeviceRecoveryTest, InjectedOutOfMemoryIsResourceExhaustedAndLeaksNothing) {
  FaultInjection::configure("oom-after=1");
  // A device tensor allocates twice (device-local, then staging): the second one fails.
  expectError([&] { Tensor::create(device_, std::vector<float>(1024, 1.0f)); },
              ErrorCode::kResourceExhausted, "out of device memory");
  EXPECT_EQ(device_->allocatedBytes(), 0u) << "the first allocation was freed";
  EXPECT_FALSE(device_->isLost());
  auto tensor = Tensor::create(device_, std::vector<float>{1, 2, 3});  // the next one works
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{1, 2, 3}));
}

}  // namespace
}  // namespace kp::engine::test
