// A device that is lost (for real or on purpose: markLost) while work runs on it: waits end at
// once with DeviceLost, nothing the work uses is freed before it finishes (busy), stall() names
// the work that holds a queue up, and injected faults (lost device, out of memory) surface as
// typed errors. Each test opens a device of its own, so that the shared one stays healthy.
#include <chrono>
#include <thread>

#include "test_environment.h"

namespace kp::engine::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// About a second of work on lavapipe with 2 cores (lavapipe caps every loop at 65535
// iterations, so the length comes from the number of invocations).
constexpr const char* kBusyShader = R"(#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer A { uint a[]; };
void main() {
  uint x = gl_GlobalInvocationID.x;
  for (uint i = 0u; i < 50000u; ++i) { x = x * 1664525u + 1013904223u + (x >> 13); }
  atomicAdd(a[0], x & 1u);
  if (gl_GlobalInvocationID.x == 0u) { a[1] = 42u; }
}
)";
constexpr uint32_t kBusyGroups = 600;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class DeviceRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { device_ = Device::open(instance(), 0); }
  void TearDown() override {
    FaultInjection::configure("");
    // Nothing may be freed while the GPU still uses it: let the work finish first.
    const auto start = Clock::now();
    while (device_ && device_->busy() && secondsSince(start) < 120) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  // A sequence that keeps the queue busy for about a second.
  std::shared_ptr<Sequence> busySequence(const std::string& owner = "test") {
    tensor_ = Tensor::create(device_, std::vector<uint32_t>{0, 0}, TensorType::kHost);
    auto algorithm =
        Algorithm::create(device_, {tensor_}, compile(kBusyShader), Workgroup{kBusyGroups, 1, 1});
    auto sequence = Sequence::create(device_, 0, 0, owner);
    sequence->record(std::make_shared<OpAlgoDispatch>(algorithm));
    return sequence;
  }

  // Waits (up to a minute) for the device's work to finish.
  bool waitUntilIdle() {
    const auto start = Clock::now();
    while (device_->busy()) {
      if (secondsSince(start) > 60) return false;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return true;
  }

  std::shared_ptr<Device> device_;
  std::shared_ptr<Tensor> tensor_;
};

TEST_F(DeviceRecoveryTest, MarkLostEndsAWaitAndKeepsTheWorkAlive) {
  auto sequence = busySequence();
  sequence->evalAsync();
  EXPECT_TRUE(device_->busy());
  std::thread marker([&] {
    std::this_thread::sleep_for(milliseconds(100));
    device_->markLost("test: the device is wedged");
  });
  const auto start = Clock::now();
  expectError([&] { sequence->evalAwait(); }, ErrorCode::kDeviceLost, "test: the device is wedged");
  marker.join();
  EXPECT_LT(secondsSince(start), 0.5) << "the wait ended when the device was marked lost";
  EXPECT_TRUE(device_->isLost());
  EXPECT_EQ(device_->lostReason(), "test: the device is wedged");
  device_->markLost("a later reason");
  EXPECT_EQ(device_->lostReason(), "test: the device is wedged") << "the first reason sticks";

  // The work still runs: the sequence refuses to free what it uses.
  ASSERT_TRUE(device_->busy()) << "the work finished too early: make it longer";
  expectError([&] { sequence->destroy(0); }, ErrorCode::kDeviceLost, "may still run");
  EXPECT_TRUE(sequence->isInit());
  EXPECT_GT(device_->allocatedBytes(), 0u);

  // Nothing new is accepted.
  auto other = Sequence::create(device_);
  other->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor_}));
  expectError([&] { other->evalAsync(); }, ErrorCode::kDeviceLost, "wedged");
  expectError([&] { Tensor::create(device_, std::vector<float>{1, 2}); }, ErrorCode::kDeviceLost,
              "wedged");

  ASSERT_TRUE(waitUntilIdle());
  sequence->destroy(0);  // its work has finished: now it can go
  EXPECT_FALSE(sequence->isInit());
}

TEST_F(DeviceRecoveryTest, StallNamesTheWorkThatHoldsTheQueue) {
  EXPECT_FALSE(device_->stall().pending);
  auto sequence = busySequence("session-a");
  sequence->evalAsync();
  std::this_thread::sleep_for(milliseconds(300));
  const Device::Stall stall = device_->stall();
  ASSERT_TRUE(stall.pending) << "the work finished too early: make it longer";
  EXPECT_EQ(stall.owner, "session-a");
  EXPECT_EQ(stall.queue, 0u);
  EXPECT_GE(stall.stalled, milliseconds(250));
  EXPECT_TRUE(sequence->evalAwait());
  EXPECT_FALSE(device_->stall().pending);
  EXPECT_FALSE(device_->busy());
  EXPECT_EQ(tensor_->vector<uint32_t>()[1], 42u);
}

TEST_F(DeviceRecoveryTest, InjectedLossAtSubmitFailsAndMarksTheDeviceLost) {
  auto sequence = busySequence();
  FaultInjection::configure("device-lost-after=0");
  expectError([&] { sequence->evalAsync(); }, ErrorCode::kDeviceLost,
              "vkQueueSubmit reported VK_ERROR_DEVICE_LOST");
  EXPECT_TRUE(device_->isLost());
  EXPECT_FALSE(sequence->isRunning());
  EXPECT_FALSE(device_->busy()) << "nothing was submitted";
  expectError([&] { sequence->evalAsync(); }, ErrorCode::kDeviceLost, "was lost");
  // The device's objects can still be freed.
  sequence->destroy();
}

TEST_F(DeviceRecoveryTest, InjectedLossAtWaitKeepsTheWorkAlive) {
  auto sequence = busySequence();
  sequence->evalAsync();
  FaultInjection::configure("device-lost-wait-after=0");
  expectError([&] { sequence->evalAwait(); }, ErrorCode::kDeviceLost,
              "vkWaitForFences reported VK_ERROR_DEVICE_LOST");
  EXPECT_TRUE(device_->isLost());
  EXPECT_TRUE(sequence->isRunning());
  ASSERT_TRUE(waitUntilIdle());
  EXPECT_EQ(tensor_->vector<uint32_t>()[1], 42u) << "the work ran to its end";
  sequence->destroy();
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
