// The pure parts of placement (client-cpp/src/placement.h), without a daemon: the forms of
// the address, which devices are candidates and why the others are not, headroom, the
// weighted order, and place() with a fake fleet.
#include "client-cpp/src/placement.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "access_fixture.h"
#include "kp/kp.hpp"

namespace kp::test {
namespace {

namespace placement = kp::detail::placement;

// A resolver that knows one name, and counts how it was asked.
struct FakeDns {
  std::vector<std::pair<std::string, std::string>> asked;
  placement::Resolver resolver() {
    return [this](const std::string& host, const std::string& port) {
      asked.emplace_back(host, port);
      if (host != "kpd-nodes") throw UnavailableError(StatusCode::kUnavailable, "no " + host);
      return std::vector<std::string>{"10.0.0.1:" + port, "10.0.0.2:" + port, "10.0.0.1:" + port};
    };
  }
};

v1::DeviceLoad device(uint32_t index, const std::string& type, uint64_t free, uint32_t sessions = 0,
                      double busy = 0, bool available = true) {
  v1::DeviceLoad load;
  load.set_device(index);
  load.set_type(type);
  load.set_memory_free_bytes(free);
  load.set_sessions(sessions);
  load.set_busy_fraction(busy);
  load.set_available(available);
  return load;
}

v1::GetLoadResponse daemon(std::vector<v1::DeviceLoad> devices, uint32_t sessionsFree = 8,
                           bool draining = false) {
  v1::GetLoadResponse load;
  for (v1::DeviceLoad& d : devices) *load.add_devices() = std::move(d);
  load.set_sessions_free(sessionsFree);
  load.set_draining(draining);
  return load;
}

std::string whyNot(const v1::GetLoadResponse& load, const placement::Request& request) {
  std::string why;
  EXPECT_TRUE(placement::candidatesOf("a:1", load, request, &why).empty());
  return why;
}

TEST(PlacementNoDaemonTest, FleetAddressesAreCommaListsAndDnsNames) {
  EXPECT_TRUE(placement::isFleet("a:1,b:2"));
  EXPECT_TRUE(placement::isFleet("dns:kpd-nodes:50051"));
  EXPECT_FALSE(placement::isFleet("a:1"));
  EXPECT_FALSE(placement::isFleet("unix:/run/kp/kpd.sock"));
  EXPECT_FALSE(placement::isFleet("tls:gpu-a:7070"));
}

TEST(PlacementNoDaemonTest, TheListFormsAgree) {
  using List = std::vector<std::string>;
  EXPECT_EQ(placement::splitAddresses({"a:1, b:2,a:1"}), (List{"a:1", "b:2"}));
  EXPECT_EQ(placement::splitAddresses({"a:1", "b:2,c:3"}), (List{"a:1", "b:2", "c:3"}));
  EXPECT_EQ(placement::splitAddresses({" a:1 ,, ", "tls:b:2"}), (List{"a:1", "tls:b:2"}));
  EXPECT_EQ(placement::splitAddresses({","}), List{});
}

TEST(PlacementNoDaemonTest, DnsNamesExpandToEveryAddressOnce) {
  FakeDns dns;
  using List = std::vector<std::string>;
  EXPECT_EQ(placement::splitAddresses({"dns:kpd-nodes:50051,c:1"}, dns.resolver()),
            (List{"10.0.0.1:50051", "10.0.0.2:50051", "c:1"}));
  EXPECT_EQ(placement::expandDns("dns:///kpd-nodes:7", dns.resolver()),
            (List{"10.0.0.1:7", "10.0.0.2:7"}));
  EXPECT_EQ(dns.asked.back(), std::make_pair(std::string("kpd-nodes"), std::string("7")));
  for (const char* bad : {"dns:no-port", "dns:name:", "dns::50051", "dns:name:http"}) {
    try {
      placement::expandDns(bad, dns.resolver());
      ADD_FAILURE() << bad << " was accepted";
    } catch (const InvalidArgumentError& error) {
      EXPECT_TRUE(contains(error.what(), "'" + std::string(bad) + "' is not dns:NAME:PORT"));
    }
  }
  EXPECT_THROW(placement::splitAddresses({"dns:elsewhere:1"}, dns.resolver()), UnavailableError);
}

TEST(PlacementNoDaemonTest, GetaddrinfoResolvesLocalhost) {
  const std::vector<std::string> found = placement::resolveWithGetaddrinfo("localhost", "7070");
  EXPECT_NE(std::find(found.begin(), found.end(), "127.0.0.1:7070"), found.end());
  for (const std::string& target : found) {
    EXPECT_TRUE(target == "127.0.0.1:7070" || target == "[::1]:7070") << target;
  }
  try {
    placement::resolveWithGetaddrinfo("no-such-host.invalid", "7070");
    ADD_FAILURE() << "no-such-host.invalid resolved";
  } catch (const UnavailableError& error) {
    EXPECT_TRUE(contains(error.what(),
                         "cannot resolve no-such-host.invalid (dns:no-such-host.invalid:7070)"));
  }
}

TEST(PlacementNoDaemonTest, HeadroomSharesFreeMemoryAndCountsBusyTime) {
  EXPECT_DOUBLE_EQ(placement::headroom(device(0, "cpu", 1000)), 1000);
  EXPECT_DOUBLE_EQ(placement::headroom(device(0, "cpu", 1000, 1)), 500);
  EXPECT_DOUBLE_EQ(placement::headroom(device(0, "cpu", 1000, 1, 0.5)), 375);
  EXPECT_DOUBLE_EQ(placement::headroom(device(0, "cpu", 1000, 3, 1.0)), 125);
  // A device with no memory free still has headroom 1 as a candidate, so it can be chosen.
  std::string why;
  auto fits = placement::candidatesOf("a:1", daemon({device(0, "cpu", 0)}), {}, &why);
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_DOUBLE_EQ(fits[0].headroom, 1.0);
  EXPECT_EQ(why, "");
}

TEST(PlacementNoDaemonTest, CandidatesAndWhyTheOthersAreNot) {
  const placement::Request any;
  EXPECT_EQ(whyNot(daemon({device(0, "cpu", 100)}, 8, true), any), "shutting down");
  EXPECT_EQ(whyNot(daemon({device(0, "cpu", 100)}, 0), any), "no session free (--max-sessions)");
  EXPECT_EQ(whyNot(daemon({}), any), "no device");
  EXPECT_EQ(whyNot(daemon({device(0, "cpu", 100, 0, 0, false)}), any), "device 0 unavailable");

  placement::Request gpu;
  gpu.deviceType = "discrete_gpu";
  EXPECT_EQ(whyNot(daemon({device(0, "cpu", 100), device(1, "integrated_gpu", 100)}), gpu),
            "device 0 is cpu; device 1 is integrated_gpu");

  placement::Request big;
  big.memoryBytes = 4096;
  EXPECT_EQ(whyNot(daemon({device(0, "cpu", 4095)}), big), "device 0 has 4095 bytes free");

  placement::Request second;
  second.device = 1;
  EXPECT_EQ(whyNot(daemon({device(0, "cpu", 100)}), second), "no device 1");
  std::string why;
  auto fits = placement::candidatesOf(
      "a:1", daemon({device(0, "cpu", 100), device(1, "cpu", 100, 1)}), second, &why);
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_EQ(fits[0].address, "a:1");
  EXPECT_EQ(fits[0].device, 1u);
  EXPECT_DOUBLE_EQ(fits[0].headroom, 50);

  // Those that fit are kept, whatever the others are.
  big.deviceType = "discrete_gpu";
  fits = placement::candidatesOf("a:1",
                                 daemon({device(0, "discrete_gpu", 10), device(1, "cpu", 1 << 20),
                                         device(2, "discrete_gpu", 1 << 20)}),
                                 big, &why);
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_EQ(fits[0].device, 2u);
  EXPECT_EQ(why, "");
}

TEST(PlacementNoDaemonTest, WhatWasAskedIsDescribed) {
  placement::Request request;
  EXPECT_EQ(request.describe(), "");
  request.deviceType = "discrete_gpu";
  EXPECT_EQ(request.describe(), "type discrete_gpu");
  request.device = 1;
  request.memoryBytes = 8;
  EXPECT_EQ(request.describe(), "device 1, type discrete_gpu, 8 bytes free");
}

TEST(PlacementNoDaemonTest, HeadroomWeightsTheOrder) {
  placement::Engine engine(7);
  const placement::Candidate big{"big", 0, 9.0};
  const placement::Candidate small{"small", 0, 1.0};
  int bigFirst = 0;
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) {
    const auto order = placement::weightedOrder({big, small}, engine);
    ASSERT_EQ(order.size(), 2u);
    EXPECT_NE(order[0].address, order[1].address);  // each once
    if (order[0].address == "big") ++bigFirst;
  }
  const double share = static_cast<double>(bigFirst) / draws;
  EXPECT_GT(share, 0.87);  // 9 : 1
  EXPECT_LT(share, 0.93);

  // Three equal candidates: each first about a third of the time; the order is a
  // permutation.
  std::map<std::string, int> firsts;
  for (int i = 0; i < 3000; ++i) {
    const auto order = placement::weightedOrder({{"a", 0, 5}, {"b", 0, 5}, {"c", 1, 5}}, engine);
    std::set<std::string> seen;
    for (const auto& c : order) seen.insert(c.address);
    ASSERT_EQ(seen.size(), 3u);
    ++firsts[order[0].address];
  }
  for (const auto& [address, count] : firsts) {
    EXPECT_GT(count, 850) << address;
    EXPECT_LT(count, 1150) << address;
  }

  // The same seed, the same order: placement is random only through the engine.
  placement::Engine one(42), two(42);
  std::vector<placement::Candidate> many;
  for (int i = 0; i < 10; ++i) many.push_back({"d" + std::to_string(i), 0, 1.0 + i});
  const auto first = placement::weightedOrder(many, one);
  const auto second = placement::weightedOrder(many, two);
  for (size_t i = 0; i < many.size(); ++i) EXPECT_EQ(first[i].address, second[i].address);
  EXPECT_TRUE(placement::weightedOrder({}, one).empty());
}

// A fleet of fake daemons for place(): their loads, and which refuse the session.
struct FakeFleet {
  std::map<std::string, v1::GetLoadResponse> loads;  // absent: unreachable
  std::map<std::string, StatusCode> refuse;          // what open throws
  std::mutex mutex;
  std::vector<std::string> asked;
  std::vector<std::string> opened;

  placement::LoadOf loadOf() {
    return [this](const std::string& address) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        asked.push_back(address);
      }
      auto found = loads.find(address);
      if (found == loads.end()) {
        throw UnavailableError(StatusCode::kUnavailable, "UNAVAILABLE: connection refused");
      }
      return found->second;
    };
  }
  placement::OpenSession open() {
    return [this](const std::string& address, uint32_t index) {
      opened.push_back(address + "/" + std::to_string(index));
      auto refused = refuse.find(address);
      if (refused != refuse.end()) throwError(refused->second, "refused by " + address);
      return std::shared_ptr<kp::detail::Session>();
    };
  }
};

std::string placeFails(FakeFleet& fleet, const std::vector<std::string>& addresses,
                       const placement::Request& request = {}) {
  placement::Engine engine(1);
  try {
    placement::place(addresses, fleet.loadOf(), fleet.open(), request, engine);
  } catch (const UnavailableError& error) {
    return error.what();
  }
  ADD_FAILURE() << "placed";
  return "";
}

TEST(PlacementNoDaemonTest, PlaceSkipsWhatCannotTakeTheSessionAndSaysWhy) {
  FakeFleet fleet;
  fleet.loads["full:1"] = daemon({device(0, "cpu", 1 << 30)}, 0);
  fleet.loads["draining:1"] = daemon({device(0, "cpu", 1 << 30)}, 4, true);
  fleet.loads["cpu:1"] = daemon({device(0, "cpu", 1 << 30)});
  fleet.loads["gpu:1"] = daemon({device(0, "cpu", 1 << 20), device(1, "discrete_gpu", 1 << 30)});
  const std::vector<std::string> all = {"dead:1", "full:1", "draining:1", "cpu:1", "gpu:1"};

  placement::Request gpu;
  gpu.deviceType = "discrete_gpu";
  placement::Engine engine(3);
  placement::place(all, fleet.loadOf(), fleet.open(), gpu, engine);
  EXPECT_EQ(fleet.opened, std::vector<std::string>{"gpu:1/1"});
  EXPECT_EQ(fleet.asked.size(), all.size());

  // The only candidate refuses: every daemon is named with its reason, in the fleet's order.
  fleet.refuse["gpu:1"] = StatusCode::kResourceExhausted;
  EXPECT_EQ(placeFails(fleet, all, gpu),
            "no daemon could take the session (type discrete_gpu): "
            "dead:1: unreachable (UNAVAILABLE: connection refused); "
            "full:1: no session free (--max-sessions); draining:1: shutting down; "
            "cpu:1: device 0 is cpu; "
            "gpu:1: refused the session (refused by gpu:1)");
  EXPECT_EQ(placeFails(fleet, {"dead:1"}),
            "no daemon could take the session: dead:1: unreachable (UNAVAILABLE: connection "
            "refused)");
}

TEST(PlacementNoDaemonTest, PlaceTriesTheNextCandidateWhenOneRefuses) {
  FakeFleet fleet;
  fleet.loads["a:1"] = daemon({device(0, "cpu", 1 << 30)});
  fleet.loads["b:1"] = daemon({device(0, "cpu", 1 << 30)});
  fleet.refuse["a:1"] = StatusCode::kUnavailable;
  placement::Engine engine(5);
  for (int i = 0; i < 10; ++i) {
    fleet.opened.clear();
    placement::place({"a:1", "b:1"}, fleet.loadOf(), fleet.open(), {}, engine);
    EXPECT_EQ(fleet.opened.back(), "b:1/0");
  }
  // Other refusals are the caller's to see, not a reason to go elsewhere.
  fleet.refuse["a:1"] = StatusCode::kInvalidArgument;
  fleet.refuse["b:1"] = StatusCode::kInvalidArgument;
  EXPECT_THROW(placement::place({"a:1", "b:1"}, fleet.loadOf(), fleet.open(), {}, engine),
               InvalidArgumentError);
  EXPECT_THROW(placement::place({}, fleet.loadOf(), fleet.open(), {}, engine),
               InvalidArgumentError);
}

TEST(PlacementNoDaemonTest, PlaceAsksARandomSixteenOfALargerFleet) {
  FakeFleet fleet;
  std::vector<std::string> addresses;
  for (int i = 0; i < 100; ++i) {
    addresses.push_back("d" + std::to_string(i) + ":1");
    fleet.loads[addresses.back()] = daemon({device(0, "cpu", 1 << 30)});
  }
  placement::Engine engine(11);
  std::set<std::string> everAsked;
  for (int round = 0; round < 20; ++round) {
    fleet.asked.clear();
    placement::place(addresses, fleet.loadOf(), fleet.open(), {}, engine);
    EXPECT_EQ(fleet.asked.size(), placement::kMaxAsked);
    EXPECT_EQ(std::set<std::string>(fleet.asked.begin(), fleet.asked.end()).size(),
              placement::kMaxAsked);
    everAsked.insert(fleet.asked.begin(), fleet.asked.end());
  }
  EXPECT_GT(everAsked.size(), 60u);  // a different sample each time
}

TEST(PlacementNoDaemonTest, AddressAndAddressesAreNotBothGiven) {
  ManagerOptions options;
  options.address = "a:1";
  options.addresses = {"b:1", "c:1"};
  EXPECT_TRUE(contains(refusal<InvalidArgumentError>(options), "address 'a:1' and addresses"));
  options.address.clear();
  options.addresses = {"dns:no-port"};
  EXPECT_TRUE(contains(refusal<InvalidArgumentError>(options), "is not dns:NAME:PORT"));
}

}  // namespace
}  // namespace kp::test
