// A Manager given several daemons (ManagerOptions::address "a,b", addresses, "dns:NAME:PORT",
// $KP_ADDRESS), against real kpd processes on loopback TCP: what is skipped and why, where the
// session lands, and what happens when its daemon dies (sessions are sticky).
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "access_fixture.h"
#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

// A port on 127.0.0.1 that nothing listens on (bound, then released).
std::string unusedAddress() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

std::string joined(const std::vector<std::string>& parts) {
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : ",") + part;
  return text;
}

// Daemons on loopback TCP ports (and their private Unix sockets), $KP_ADDRESS unset.
class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetAddress_ = std::make_unique<ScopedEnv>("KP_ADDRESS", std::nullopt); }

  void TearDown() override {
    if (HasFailure()) {
      for (auto& kpd : kpds_) std::cerr << "---- kpd log ----\n" << kpd->log();
    }
    kpds_.clear();
  }

  // Starts a kpd with `extraArgs` on 127.0.0.1:<free port>; its TCP address. Fatal failures
  // if it does not start: call it in ASSERT_NO_FATAL_FAILURE().
  void start(std::string* address, const std::vector<std::string>& extraArgs = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0"};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    kpds_.push_back(std::make_unique<KpdProcess>(args));
    ASSERT_TRUE(kpds_.back()->ready()) << "kpd did not start:\n" << kpds_.back()->log();
    *address = kpds_.back()->tcpAddress();
    ASSERT_FALSE(address->empty()) << "no TCP port in kpd's log:\n" << kpds_.back()->log();
    byAddress_[*address] = kpds_.back().get();
  }

  KpdProcess& kpd(const std::string& address) { return *byAddress_.at(address); }

  static ManagerOptions fleet(const std::vector<std::string>& addresses) {
    ManagerOptions options;
    options.addresses = addresses;
    return options;
  }

 private:
  std::unique_ptr<ScopedEnv> unsetAddress_;
  std::vector<std::unique_ptr<KpdProcess>> kpds_;
  std::map<std::string, KpdProcess*> byAddress_;
};

TEST_F(FleetTest, AFullOrUnreachableDaemonIsSkipped) {
  std::string full, free;
  ASSERT_NO_FATAL_FAILURE(start(&full, {"--max-sessions", "1"}));
  ASSERT_NO_FATAL_FAILURE(start(&free));
  Manager taken(full);  // the full daemon's only session
  const std::string dead = unusedAddress();
  for (int i = 0; i < 5; ++i) {
    Manager mgr(fleet({dead, full, free}));
    EXPECT_EQ(mgr.address(), free);
    EXPECT_EQ(multiply(mgr), (std::vector<float>{4, 10, 18}));
  }
  // Alone, the full daemon is named with why.
  try {
    Manager none(fleet({dead, full}));
    ADD_FAILURE() << "placed on " << none.address();
  } catch (const UnavailableError& error) {
    EXPECT_TRUE(contains(error.what(), "no daemon could take the session: " + dead +
                                           ": unreachable (UNAVAILABLE: "));
    EXPECT_TRUE(contains(error.what(), "; " + full + ": no session free (--max-sessions)"));
  }
  // The same as one comma-separated address.
  Manager mgr(joined({dead, full, free}));
  EXPECT_EQ(mgr.address(), free);
}

TEST_F(FleetTest, SessionsSpreadOverTheDaemons) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(start(&a));
  ASSERT_NO_FATAL_FAILURE(start(&b));
  std::vector<std::unique_ptr<Manager>> managers;
  std::map<std::string, int> placed;
  for (int i = 0; i < 12; ++i) {
    managers.push_back(std::make_unique<Manager>(fleet({a, b})));
    ++placed[managers.back()->address()];
  }
  // Each open session halves its device's headroom: both daemons take some.
  EXPECT_GE(placed[a], 2);
  EXPECT_GE(placed[b], 2);
  EXPECT_EQ(placed[a] + placed[b], 12);
}

TEST_F(FleetTest, PlacementChoosesAmongTheDevicesOfEachDaemon) {
  // A kpd that sees two devices: lavapipe's ICD manifest twice (two copies), which the Vulkan
  // loader opens as two devices.
  utsname host{};
  uname(&host);
  const std::string icd = std::string("/usr/share/vulkan/icd.d/lvp_icd.") + host.machine + ".json";
  if (!std::filesystem::exists(icd)) GTEST_SKIP() << "needs lavapipe's ICD manifest " << icd;
  char pattern[] = "/tmp/kp-fleet-icd-XXXXXX";
  const std::filesystem::path dir = mkdtemp(pattern);
  std::filesystem::copy_file(icd, dir / "first.json");
  std::filesystem::copy_file(icd, dir / "second.json");
  std::string two, one;
  {
    ScopedEnv devices("VK_ICD_FILENAMES",
                      (dir / "first.json").string() + ":" + (dir / "second.json").string());
    ASSERT_NO_FATAL_FAILURE(start(&two));
  }
  ASSERT_NO_FATAL_FAILURE(start(&one));
  std::filesystem::remove_all(dir);
  ASSERT_EQ(Manager(two).listDevices().size(), 2u);

  // An index given: that index only, so device 1 of the daemon that has one.
  ManagerOptions second = fleet({one, two});
  second.device = 1;
  for (int i = 0; i < 3; ++i) {
    Manager mgr(second);
    EXPECT_EQ(mgr.address(), two);
    EXPECT_EQ(mgr.getDeviceProperties().index, 1u);
  }
  // No index: every device of the fleet takes sessions.
  std::vector<std::unique_ptr<Manager>> managers;
  std::map<std::string, int> placed;
  for (int i = 0; i < 15; ++i) {
    managers.push_back(std::make_unique<Manager>(fleet({one, two})));
    ++placed[managers.back()->address() + " device " +
             std::to_string(managers.back()->getDeviceProperties().index)];
  }
  EXPECT_EQ(placed.size(), 3u);
  for (const auto& [where, count] : placed) EXPECT_GE(count, 2) << where;
}

TEST_F(FleetTest, NothingFitsSaysWhyForEachDaemon) {
  std::string a;
  ASSERT_NO_FATAL_FAILURE(start(&a));
  const std::string type = Manager(a).getDeviceProperties().deviceType;
  if (type == "discrete_gpu") GTEST_SKIP() << "kpd serves a discrete GPU here, not lavapipe";
  const std::string dead = unusedAddress();

  ManagerOptions options;
  options.address = joined({a, dead});
  options.deviceType = "discrete_gpu";
  const std::string message = refusal<UnavailableError>(options);
  EXPECT_TRUE(contains(message, "no daemon could take the session (type discrete_gpu): "));
  EXPECT_TRUE(contains(message, a + ": device 0 is " + type));
  EXPECT_TRUE(contains(message, dead + ": unreachable (UNAVAILABLE: "));

  options.deviceType = type;
  options.memoryBytes = uint64_t(1) << 60;
  EXPECT_TRUE(contains(refusal<UnavailableError>(options),
                       a + ": device 0 has "));  // ... bytes free
  options.memoryBytes = 0;
  options.device = 3;
  EXPECT_TRUE(contains(refusal<UnavailableError>(options),
                       "no daemon could take the session (device 3, type " + type + "): " + a +
                           ": no device 3; " + dead + ": unreachable"));
}

TEST_F(FleetTest, DeviceTypeAndMemoryThatFitArePlaced) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(start(&a));
  ASSERT_NO_FATAL_FAILURE(start(&b));
  ManagerOptions options = fleet({a, b});
  options.deviceType = Manager(a).getDeviceProperties().deviceType;
  options.memoryBytes = 1 << 20;
  options.device = 0;
  Manager mgr(options);
  EXPECT_TRUE(mgr.address() == a || mgr.address() == b) << mgr.address();
  EXPECT_EQ(mgr.getDeviceProperties().index, 0u);
  EXPECT_EQ(multiply(mgr), (std::vector<float>{4, 10, 18}));
}

TEST_F(FleetTest, DnsNamesExpandToEveryAddress) {
  std::string a;
  ASSERT_NO_FATAL_FAILURE(start(&a));
  const std::string port = a.substr(a.rfind(':') + 1);
  // localhost may also resolve to [::1], where kpd does not listen: skipped.
  Manager mgr("dns:localhost:" + port);
  EXPECT_EQ(mgr.address(), "127.0.0.1:" + port);
  EXPECT_EQ(multiply(mgr), (std::vector<float>{4, 10, 18}));
  try {
    Manager unresolved("dns:no-such-host.invalid:" + port);
    ADD_FAILURE() << "placed on " << unresolved.address();
  } catch (const UnavailableError& error) {
    EXPECT_TRUE(contains(error.what(), "cannot resolve no-such-host.invalid"));
  }
}

TEST_F(FleetTest, KpAddressTakesTheSameForms) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(start(&a));
  ASSERT_NO_FATAL_FAILURE(start(&b));
  {
    ScopedEnv address("KP_ADDRESS", joined({unusedAddress(), a}));
    Manager mgr;
    EXPECT_EQ(mgr.address(), a);
    // Kompute's signature: device index 0 on each daemon.
    Manager kompute(0u, {}, {});
    EXPECT_EQ(kompute.address(), a);
    try {
      Manager second(1u);
      ADD_FAILURE() << "placed on " << second.address();
    } catch (const UnavailableError& error) {
      EXPECT_TRUE(contains(error.what(), "(device 1): "));
      EXPECT_TRUE(contains(error.what(), a + ": no device 1"));
    }
  }
  {
    ScopedEnv address("KP_ADDRESS", "dns:localhost:" + b.substr(b.rfind(':') + 1));
    Manager mgr;
    EXPECT_EQ(mgr.address(), b);
  }
}

TEST_F(FleetTest, ADeadDaemonsSessionFailsNamingItAndANewManagerGoesElsewhere) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(start(&a));
  ASSERT_NO_FATAL_FAILURE(start(&b));
  auto mgr = std::make_unique<Manager>(fleet({a, b}));
  const std::string placed = mgr->address();
  const std::string other = placed == a ? b : a;
  auto tensor = mgr->tensor({1, 2, 3});
  auto sequence = mgr->sequence();
  ASSERT_EQ(multiply(*mgr), (std::vector<float>{4, 10, 18}));

  kpd(placed).kill();
  // The session is not moved: its calls fail, naming the daemon.
  try {
    sequence->eval<OpTensorSyncDevice>({tensor});
    ADD_FAILURE() << "evaluated on a dead daemon";
  } catch (const UnavailableError& error) {
    EXPECT_TRUE(contains(error.what(), "cannot reach kpd at " + placed));
  }
  try {
    mgr->tensor({1});
    ADD_FAILURE() << "made a tensor on a dead daemon";
  } catch (const UnavailableError& error) {
    EXPECT_TRUE(contains(error.what(), "cannot reach kpd at " + placed));
  }
  EXPECT_FALSE(tensor->isInit());
  EXPECT_TRUE(contains(mgr->closedReason(), "connection to kpd lost"));
  mgr.reset();  // ending a session of a dead daemon does not throw; `tensor` still holds it

  // Placed among those still answering, at once: asking the dead daemon for its load must
  // not wait out the reconnect backoff of the dead session's connection (a shared gRPC
  // subchannel made each of these take 1, 1.6, 2.6 s).
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    Manager again(fleet({a, b}));
    EXPECT_EQ(again.address(), other);
    EXPECT_EQ(multiply(again), (std::vector<float>{4, 10, 18}));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace kp::test
