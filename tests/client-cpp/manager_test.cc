// kp::Manager: connecting, the session's life, devices, and the errors of a missing daemon.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

using Clock = std::chrono::steady_clock;

bool waitFor(const std::function<bool()>& predicate, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

using ManagerTest = KpdTest;

TEST_F(ManagerTest, DeviceProperties) {
  const DeviceProperties properties = mgr().getDeviceProperties();
  EXPECT_FALSE(properties.deviceName.empty());
  EXPECT_EQ(properties.index, 0u);
  for (uint32_t count : properties.maxWorkGroupCount) EXPECT_GT(count, 0u);
  for (uint32_t size : properties.maxWorkGroupSize) EXPECT_GT(size, 0u);
  EXPECT_GE(properties.maxWorkGroupInvocations, 128u);
  EXPECT_GT(properties.timestampPeriod, 0.0);
  ASSERT_FALSE(properties.queueFamilies.empty());
  EXPECT_TRUE(properties.queueFamilies[properties.defaultQueueFamily].compute);
}

TEST_F(ManagerTest, ListDevices) {
  const std::vector<DeviceProperties> devices = mgr().listDevices();
  ASSERT_GE(devices.size(), 1u);
  EXPECT_EQ(devices[0].deviceName, mgr().getDeviceProperties().deviceName);
}

TEST_F(ManagerTest, AddressAndSessionStream) {
  EXPECT_EQ(mgr().address(), kpd_->address());
  EXPECT_EQ(mgr().closedReason(), "");
  EXPECT_EQ(mgr().daemonStatus().sessions, 1u);
  {
    Manager second(kpd_->address());
    EXPECT_EQ(mgr().daemonStatus().sessions, 2u);
  }
  // The second Manager's destructor ended its session.
  EXPECT_EQ(mgr().daemonStatus().sessions, 1u);
}

TEST_F(ManagerTest, DefaultAddressFromEnvironment) {
  setenv("KP_ADDRESS", kpd_->address().c_str(), 1);
  Manager fromEnvironment;
  unsetenv("KP_ADDRESS");
  EXPECT_EQ(fromEnvironment.address(), kpd_->address());
  auto tensor = fromEnvironment.tensor({1, 2, 3});
  EXPECT_TRUE(tensor->isInit());
}

TEST_F(ManagerTest, KomputesConstructorWithDesiredExtensions) {
  // Kompute's Manager(device, familyQueueIndices, desiredExtensions): the daemon's address
  // comes from the environment, the extensions are kpd's business.
  setenv("KP_ADDRESS", kpd_->address().c_str(), 1);
  const uint32_t family = mgr().getDeviceProperties().defaultQueueFamily;
  Manager kompute(0, {family}, {"VK_EXT_shader_atomic_float"});
  unsetenv("KP_ADDRESS");
  EXPECT_EQ(kompute.address(), kpd_->address());
  auto a = kompute.tensor({1, 2});
  auto b = kompute.tensor({0, 0});
  kompute.sequence()->eval<OpTensorCopy>({a, b});
  EXPECT_EQ(b->vector(), std::vector<float>({1, 2}));
  // Kompute's clear() forgets unreferenced objects: the referenced ones live on.
  kompute.clear();
  EXPECT_TRUE(a->isInit());
  kompute.sequence()->eval<OpTensorSyncLocal>({a});
  EXPECT_EQ(a->vector(), std::vector<float>({1, 2}));
}

TEST_F(ManagerTest, DevicePropertiesAsKomputesVulkanType) {
  // Kompute's getDeviceProperties() returned vk::PhysicalDeviceProperties.
  const DeviceProperties ours = mgr().getDeviceProperties();
  const vk::PhysicalDeviceProperties properties = mgr().getDeviceProperties();
  EXPECT_EQ(std::string(properties.deviceName.data()), ours.deviceName);
  EXPECT_GT(std::string(properties.deviceName.data()).size(), 0u);
  EXPECT_EQ(properties.limits.maxComputeWorkGroupSize[0], ours.maxWorkGroupSize[0]);
  EXPECT_EQ(properties.limits.maxComputeWorkGroupCount[2], ours.maxWorkGroupCount[2]);
  EXPECT_EQ(properties.limits.maxPushConstantsSize, ours.maxPushConstantsSize);
  EXPECT_EQ(properties.deviceType == vk::PhysicalDeviceType::eCpu, ours.deviceType == "cpu");
  EXPECT_EQ(VK_API_VERSION_MAJOR(properties.apiVersion), 1u);
}

TEST_F(ManagerTest, BareSocketPath) {
  const std::string path = kpd_->address().substr(5);  // without "unix:"
  Manager bare(path);
  EXPECT_EQ(bare.address(), kpd_->address());
}

TEST_F(ManagerTest, BadDeviceIndex) {
  try {
    Manager bad(ManagerOptions{kpd_->address(), 99, {}, {}});
    FAIL() << "no error";
  } catch (const NotFoundError& error) {
    EXPECT_NE(std::string(error.what()).find("device: device index 99 does not exist"),
              std::string::npos)
        << error.what();
    EXPECT_EQ(error.code(), StatusCode::kNotFound);
  }
}

TEST_F(ManagerTest, BadQueueFamily) {
  try {
    Manager bad(ManagerOptions{kpd_->address(), 0, {42}, {}});
    FAIL() << "no error";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find("queue_families: queue family 42"), std::string::npos)
        << error.what();
  }
}

TEST_F(ManagerTest, ExplicitQueueFamilies) {
  const uint32_t family = mgr().getDeviceProperties().defaultQueueFamily;
  Manager explicitQueue(ManagerOptions{kpd_->address(), 0, {family}, {}});
  auto a = explicitQueue.tensor({1, 2});
  auto b = explicitQueue.tensor({0, 0});
  explicitQueue.sequence(0)->eval<OpTensorCopy>({a, b});
  EXPECT_EQ(b->vector(), std::vector<float>({1, 2}));
  try {
    explicitQueue.sequence(1);
    FAIL() << "no error";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find("queue_index 1 out of range"), std::string::npos)
        << error.what();
  }
}

TEST_F(ManagerTest, DestroyEndsSessionAndLaterCallsSayWhy) {
  auto tensor = mgr().tensor({1, 2, 3});
  auto sequence = mgr().sequence();
  mgr().destroy();
  mgr().destroy();  // idempotent
  EXPECT_FALSE(tensor->isInit());
  EXPECT_FALSE(sequence->isInit());
  EXPECT_EQ(mgr().closedReason(), "closed by the client");
  EXPECT_EQ(tensor->vector(), std::vector<float>({1, 2, 3}));  // the host copy stays
  try {
    mgr().tensor({1});
    FAIL() << "no error";
  } catch (const UnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("destroyed"), std::string::npos) << error.what();
  }
  EXPECT_THROW(sequence->eval<OpTensorSyncLocal>({tensor}), UnavailableError);
}

TEST_F(ManagerTest, MoveKeepsTheSession) {
  auto tensor = mgr().tensor({4, 5});
  Manager moved(std::move(mgr()));
  EXPECT_TRUE(tensor->isInit());
  auto copy = moved.tensor({0, 0});
  moved.sequence()->eval<OpTensorCopy>({tensor, copy});
  EXPECT_EQ(copy->vector(), std::vector<float>({4, 5}));
}

TEST_F(ManagerTest, CompileSource) {
  const std::vector<uint32_t> spirv = mgr().compileSource(kMultiplyGlsl);
  ASSERT_GT(spirv.size(), 5u);
  EXPECT_EQ(spirv[0], 0x07230203u);  // the SPIR-V magic number
  EXPECT_EQ(kp::compileSource(kMultiplyGlsl, kpd_->address()), spirv);
  try {
    mgr().compileSource("#version 450\nvoid main() { undefined_thing(); }\n");
    FAIL() << "no error";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find(":2:"), std::string::npos) << error.what();
  }
}

TEST(ManagerNoDaemon, ClearErrorNamingTheAddressQuickly) {
  const std::string address = "unix:/tmp/kp-client-cpp-nobody/kpd.sock";
  const auto started = Clock::now();
  try {
    Manager mgr(address);
    FAIL() << "no error";
  } catch (const UnavailableError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("cannot reach kpd at " + address, 0), 0u)
        << error.what();
    EXPECT_EQ(error.code(), StatusCode::kUnavailable);
  }
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(15));
}

TEST(ManagerNoDaemon, SilentServerTimesOut) {
  // A Unix socket that accepts connections but never speaks: the connect deadline applies.
  char pattern[] = "/tmp/kp-client-cpp-silent-XXXXXX";
  const std::string dir = mkdtemp(pattern);
  const std::string path = dir + "/silent.sock";
  const int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 8), 0);

  const auto started = Clock::now();
  try {
    Manager mgr("unix:" + path);
    FAIL() << "no error";
  } catch (const UnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("cannot reach kpd at unix:" + path), std::string::npos)
        << error.what();
  }
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(15));
  close(listener);
  std::filesystem::remove_all(dir);
}

TEST(ManagerDaemon, DaemonThatGoesAway) {
  KpdProcess kpd;
  ASSERT_TRUE(kpd.ready());
  Manager mgr(kpd.address());
  auto tensor = mgr.tensor({1, 2, 3});
  auto sequence = mgr.sequence()->record<OpTensorSyncLocal>({tensor});
  sequence->eval();
  kpd.kill();
  const auto started = Clock::now();
  try {
    sequence->eval();
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(kpd.address()), std::string::npos) << error.what();
  }
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(15));
  EXPECT_TRUE(waitFor([&] { return !tensor->isInit(); }, std::chrono::seconds(5)));
  EXPECT_NE(mgr.closedReason(), "");
}

TEST(ManagerDaemon, SessionClosedByDaemonShutdownReportsReason) {
  KpdProcess kpd;
  ASSERT_TRUE(kpd.ready());
  Manager mgr(kpd.address());
  auto tensor = mgr.tensor({1});
  EXPECT_EQ(kpd.terminate(), 0);
  ASSERT_TRUE(waitFor([&] { return !mgr.closedReason().empty(); }, std::chrono::seconds(5)));
  EXPECT_NE(mgr.closedReason().find("shutting down"), std::string::npos) << mgr.closedReason();
  EXPECT_FALSE(tensor->isInit());
}

TEST(ManagerDaemon, IdleSessionEndsAfterItsLease) {
  KpdProcess kpd({"--lease-seconds", "1"});
  ASSERT_TRUE(kpd.ready());
  Manager mgr(kpd.address());
  auto tensor = mgr.tensor({1, 2, 3});
  ASSERT_TRUE(waitFor([&] { return !mgr.closedReason().empty(); }, std::chrono::seconds(15)));
  EXPECT_NE(mgr.closedReason().find("idle"), std::string::npos) << mgr.closedReason();
  EXPECT_FALSE(tensor->isInit());
  try {
    mgr.sequence();
    FAIL() << "no error";
  } catch (const NotFoundError& error) {
    EXPECT_NE(std::string(error.what()).find("session ended: idle"), std::string::npos)
        << error.what();
  }
}

TEST(ManagerDaemon, ReconnectToRestartedDaemon) {
  KpdProcess first;
  ASSERT_TRUE(first.ready());
  Manager mgr(first.address());
  EXPECT_EQ(first.terminate(), 0);
  EXPECT_THROW(mgr.tensor({1}), Error);
  KpdProcess second;
  ASSERT_TRUE(second.ready());
  Manager again(second.address());
  auto a = again.tensor({4, 5});
  auto b = again.tensor({0, 0});
  again.sequence()->eval<OpTensorCopy>({a, b});
  EXPECT_EQ(b->vector(), std::vector<float>({4, 5}));
}

}  // namespace
}  // namespace kp::test
