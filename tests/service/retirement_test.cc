// What happens to a session when it ends, and when its GPU hangs or is lost
// (lifecycle/retirement.h): freed once its work finished, buried with a lost device, left
// draining on a healthy one; a wedged or lost device retired with every device sharing its
// driver, the sessions on it ended with a reason naming the culprit, its memory freed once its
// work is done; other devices' sessions untouched. The watchdog's detection is tested here too.
#include <chrono>
#include <string>
#include <thread>

#include "server/engine/fault_injection.h"
#include "server/service/lifecycle/device_watchdog.h"
#include "service_fixture.h"

namespace kp::service::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class RetirementTest : public ServiceTest {
 protected:
  void TearDown() override {
    engine::FaultInjection::configure("");
    ServiceTest::TearDown();
  }

  // The devices in service, as the watchdog sees them.
  std::vector<Retirement::Trouble> inspect(milliseconds later, uint64_t runawayMs = 1000) {
    return DeviceWatchdog::inspect(pool_->inService(), runawayMs, Clock::now() + later);
  }

  // Ends the sessions on retired devices, as the watchdog does after retiring devices.
  void endSessionsOnRetiredDevices() {
    retirement_->endSessionsOnRetiredDevices(
        registry_->take([this](const Session& s) { return retirement_->reasonToEnd(s); }));
  }

  // The reason `session` ended with, as its close listener heard it.
  static std::shared_ptr<std::string> listen(Session& session) {
    auto heard = std::make_shared<std::string>();
    session.setCloseListener([heard](const std::string& reason) { *heard = reason; });
    return heard;
  }
};

TEST_F(RetirementTest, EndFreesWhatTheSessionOwnedOnceItsWorkFinished) {
  const uint64_t baseline = allocatedBytes();
  std::string id;
  auto session = open("test", &id);
  tensor(*session, {1, 2, 3});
  auto heard = listen(*session);
  EXPECT_GT(allocatedBytes(), baseline);
  registry_->close(id, kOwner, "closed by the client");
  EXPECT_TRUE(session->isClosed());
  EXPECT_EQ(*heard, "closed by the client");
  EXPECT_EQ(session->objectCount(), 0u);
  EXPECT_EQ(allocatedBytes(), baseline);
  EXPECT_EQ(retirement_->retiredCount(), 0u);
  expectError([&] { registry_->find(id, kOwner); }, base::ErrorCode::kNotFound,
              "does not exist any more (the session ended: closed by the client)");
}

TEST_F(RetirementTest, ASessionWhoseWorkStillRunsDrainsThenGoes) {
  const uint64_t baseline = allocatedBytes();
  auto session = open();
  tensor(*session, {1, 2, 3});  // device memory that must outlive the running work
  Gate gate(*session);
  ASSERT_TRUE(gate.close());
  for (auto& [s, reason] : registry_->take([](const Session&) { return "the client went"; })) {
    retirement_->end(s, reason, Clock::now());  // no waiting: the gate holds the work
  }
  EXPECT_TRUE(session->isClosed());
  EXPECT_GT(allocatedBytes(), baseline) << "nothing the running work uses may be freed";
  EXPECT_FALSE(session->device()->isLost()) << "a healthy device stays in service";
  retirement_->retryDraining();
  EXPECT_GT(allocatedBytes(), baseline) << "still running";
  gate.open();
  ASSERT_TRUE(kp::test::waitUntil([&] {
    retirement_->retryDraining();
    return allocatedBytes() == baseline;
  }));
  EXPECT_TRUE(gate.held());
  EXPECT_EQ(retirement_->retiredCount(), 0u);
}

TEST_F(RetirementTest, ASessionOnALostDeviceIsBuriedWithIt) {
  const uint64_t baseline = allocatedBytes();
  auto session = open();
  tensor(*session, {1, 2, 3});  // device memory that must outlive the running work
  Gate gate(*session);
  ASSERT_TRUE(gate.close());
  session->device()->markLost("test: the device is gone");
  auto heard = listen(*session);
  for (auto& [s, reason] : registry_->take([](const Session&) { return "the client went"; })) {
    retirement_->end(s, reason, Clock::now());
  }
  EXPECT_EQ(*heard, "the client went");
  EXPECT_EQ(retirement_->retiredCount(), 1u) << "the device was retired, the objects with it";
  EXPECT_EQ(pool_->inService().size(), 0u);
  EXPECT_EQ(pool_->resets(), 1u);
  retirement_->releaseIdle();
  EXPECT_EQ(retirement_->retiredCount(), 1u) << "its work still runs: nothing is freed";
  EXPECT_GT(allocatedBytes(), baseline);
  gate.open();
  ASSERT_TRUE(kp::test::waitUntil([&] {
    retirement_->releaseIdle();
    return retirement_->retiredCount() == 0;
  }));
  EXPECT_EQ(allocatedBytes(), baseline);
  EXPECT_TRUE(gate.held());
}

TEST_F(RetirementTest, RunawayWorkRetiresTheDeviceAndNamesTheCulprit) {
  auto culprit = open("culprit");
  auto bystander = open("bystander");
  auto heardCulprit = listen(*culprit);
  auto heardBystander = listen(*bystander);
  Gate gate(*culprit);
  ASSERT_TRUE(gate.close());

  // The watchdog sees the queue stalled once it has made no progress for --runaway-ms.
  EXPECT_TRUE(inspect(milliseconds(0), 60'000).empty()) << "not stalled for a minute yet";
  std::vector<Retirement::Trouble> found = inspect(milliseconds(2000));
  ASSERT_EQ(found.size(), 1u);
  Retirement::Trouble& trouble = found[0];
  EXPECT_FALSE(trouble.lost);
  EXPECT_EQ(trouble.culprit, culprit->serial());
  EXPECT_GE(trouble.stalledMs, 2000u);
  EXPECT_EQ(trouble.devices.size(), 1u);
  trouble.culpritLabel = registry_->label(trouble.culprit);
  EXPECT_EQ(trouble.culpritLabel, culprit->label());

  config_.runawayMs = 1000;
  retirement_->retire(trouble);
  EXPECT_TRUE(culprit->device()->isLost()) << "every wait on it ends";
  endSessionsOnRetiredDevices();
  EXPECT_EQ(registry_->size(), 0u);
  EXPECT_EQ(heardCulprit->rfind("an evaluation of this session ran for more than 1000 ms "
                                "(--runaway-ms 1000) without finishing: kpd reset device 0",
                                0),
            0u)
      << *heardCulprit;
  EXPECT_NE(heardBystander->find("was reset: an evaluation of " + culprit->label() +
                                 " ran for more than 1000 ms"),
            std::string::npos)
      << *heardBystander;
  EXPECT_NE(heardBystander->find("kpd took the device out of service"), std::string::npos);

  // A new session gets a fresh instance of the device at once, and computes.
  auto fresh = open("fresh");
  EXPECT_NE(fresh->device(), culprit->device());
  EXPECT_FALSE(fresh->device()->isLost());
  const uint64_t t = tensor(*fresh, {1, 2, 3});
  EXPECT_EQ(floats(fresh->readTensor(t)), (std::vector<float>{1, 2, 3}));

  gate.open();
  ASSERT_TRUE(kp::test::waitUntil([&] {
    retirement_->releaseIdle();
    return retirement_->retiredCount() == 0;
  }));
  EXPECT_TRUE(gate.held());
}

TEST_F(RetirementTest, ALostDeviceIsRetiredAndItsSessionsTold) {
  auto session = open();
  auto heard = listen(*session);
  const uint64_t t = tensor(*session, {1, 2, 3});
  engine::FaultInjection::configure("device-lost-after=0");
  v1::EvalRequest request;
  request.add_ops()->mutable_tensor_sync_local()->add_tensors(t);
  v1::EvalResponse response;
  expectError([&] { session->eval(request, &response, std::chrono::system_clock::time_point::max()); },
              base::ErrorCode::kDeviceLost, "vkQueueSubmit reported VK_ERROR_DEVICE_LOST");
  std::vector<Retirement::Trouble> found = inspect(milliseconds(0));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(found[0].lost);
  retirement_->retire(found[0]);
  endSessionsOnRetiredDevices();
  EXPECT_TRUE(session->isClosed());
  EXPECT_NE(heard->find("was lost: vkQueueSubmit reported VK_ERROR_DEVICE_LOST; kpd took the "
                        "device out of service and ended the sessions on it"),
            std::string::npos)
      << *heard;
  retirement_->releaseIdle();
  EXPECT_EQ(retirement_->retiredCount(), 0u) << "nothing ran on it: freed at once";
  EXPECT_EQ(allocatedBytes(), 0u);
}

TEST_F(RetirementTest, ASessionOpenedOnALostDeviceGetsAFreshOne) {
  auto first = open();
  first->device()->markLost("test: lost before the watchdog looked");
  auto second = open();
  EXPECT_NE(second->device(), first->device());
  EXPECT_EQ(retirement_->retiredCount(), 1u);
  auto heard = listen(*first);
  endSessionsOnRetiredDevices();
  EXPECT_TRUE(first->isClosed());
  EXPECT_FALSE(second->isClosed());
  EXPECT_EQ(heard->rfind("test: lost before the watchdog looked; kpd took the device", 0), 0u)
      << *heard;
}

TEST_F(RetirementTest, AtShutdownBusyDevicesAreRetiredAndTheirSessionsBuried) {
  auto session = open();
  Gate gate(*session);
  ASSERT_TRUE(gate.close());
  registry_->closeAll("the daemon is shutting down", Clock::now());
  EXPECT_EQ(retirement_->retireBusyDevices(), 1u);
  retirement_->endSessionsOnRetiredDevices({});
  retirement_->releaseIdle();
  EXPECT_EQ(retirement_->retiredCount(), 1u) << "left allocated while its work runs";
  gate.open();
  ASSERT_TRUE(kp::test::waitUntil([&] {
    retirement_->releaseIdle();
    return retirement_->retiredCount() == 0;
  }));
  EXPECT_EQ(allocatedBytes(), 0u);
}

}  // namespace
}  // namespace kp::service::test
