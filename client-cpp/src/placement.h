// Placing a new session on one of several daemons (a fleet), as the Python client's
// kp._placement.
//
// A Manager given several addresses — ManagerOptions::addresses, a comma-separated address
// "a,b,c", $KP_ADDRESS of that form, or "dns:NAME:PORT" (every address the name resolves to,
// such as a Kubernetes headless Service) — asks each daemon for its load (GetLoad, at once,
// each bounded by kLoadTimeout), keeps the devices that can take the session (the daemon
// reachable and not shutting down, a session free, the device available, of the asked type,
// with the asked device memory free, the asked index if one was given), and opens the session
// on one of them, chosen at random in proportion to its headroom, so that clients starting
// together spread instead of all picking the same idlest device. Past kMaxAsked daemons, a
// random kMaxAsked are asked. A daemon that refuses the session (RESOURCE_EXHAUSTED,
// UNAVAILABLE) is skipped for the next candidate.
//
// Sessions are sticky: a session stays where it was placed and is never moved. If that daemon
// dies, its calls fail with UnavailableError naming it; the program opens a new Manager, which
// is placed among the daemons still answering.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kp/v1/compute.pb.h"

namespace kp::detail {

class Security;
class Session;

namespace placement {

/// The prefix of an address that names every address of a DNS name: "dns:NAME:PORT".
inline constexpr const char* kDnsPrefix = "dns:";
/// How long one daemon may take to report its load before it is skipped.
inline constexpr std::chrono::seconds kLoadTimeout{2};
/// The most daemons asked for their load per new session: a larger fleet is sampled at
/// random (the best of a random few spreads load nearly as well as asking everyone).
inline constexpr size_t kMaxAsked = 16;

/// The random engine placement draws from (seeded from std::random_device by default).
using Engine = std::mt19937_64;

/// "host:port" for each address of `host` (getaddrinfo, stream sockets); IPv6 ones as
/// "[ip]:port". Throws UnavailableError when the name cannot be resolved.
using Resolver =
    std::function<std::vector<std::string>(const std::string& host, const std::string& port)>;
std::vector<std::string> resolveWithGetaddrinfo(const std::string& host, const std::string& port);

/// True when `address` names several daemons ("a,b") or a DNS name that may resolve to
/// several ("dns:...").
bool isFleet(const std::string& address);

/// "dns:NAME:PORT" (or "dns:///NAME:PORT") -> every address of NAME with PORT, each once.
/// InvalidArgumentError when `entry` is not of that form.
std::vector<std::string> expandDns(const std::string& entry,
                                   const Resolver& resolve = resolveWithGetaddrinfo);

/// The daemons that `entries` name: each entry split at commas (blanks around the parts
/// trimmed, empty parts dropped), "dns:" parts expanded; each daemon once, in order.
std::vector<std::string> splitAddresses(const std::vector<std::string>& entries,
                                        const Resolver& resolve = resolveWithGetaddrinfo);

/// What the session asks of a device.
struct Request {
  /// Only this device index on each daemon; unset: any.
  std::optional<uint32_t> device;
  /// Only devices of this type ("discrete_gpu", "integrated_gpu", "virtual_gpu", "cpu");
  /// empty: any.
  std::string deviceType;
  /// Only devices with at least this much device memory free.
  uint64_t memoryBytes = 0;

  /// "device 1, type discrete_gpu, 4096 bytes free" (the parts asked), for messages.
  std::string describe() const;
};

/// A device of a daemon that could take the session, and its headroom.
struct Candidate {
  std::string address;
  uint32_t device = 0;
  double headroom = 1.0;
};

/// How much more a device can take: its free memory shared among its sessions plus the new
/// one, less for the part of the time it is busy.
double headroom(const v1::DeviceLoad& device);

/// The devices of the daemon at `address` that fit `request` (headroom at least 1), and in
/// `why` why none does when none does (for messages): "shutting down", "no session free
/// (--max-sessions)", "device 0 is cpu", "device 0 unavailable", "device 0 has N bytes free",
/// "no device 2".
std::vector<Candidate> candidatesOf(const std::string& address, const v1::GetLoadResponse& load,
                                    const Request& request, std::string* why);

/// `candidates` in a random order where each comes next with probability proportional to
/// its headroom.
std::vector<Candidate> weightedOrder(std::vector<Candidate> candidates, Engine& engine);

/// The daemon's GetLoad answer; throws kp::Error when it does not give one.
using LoadOf = std::function<v1::GetLoadResponse(const std::string& address)>;
/// Opens the session on `device` of the daemon at `address`; throws kp::Error when it cannot.
using OpenSession =
    std::function<std::shared_ptr<Session>(const std::string& address, uint32_t device)>;

/// GetLoad of the daemon that `security` is for, over a channel of its own, bounded by
/// `timeout`; UnavailableError "CODE: details" when it fails.
v1::GetLoadResponse loadOf(const Security& security,
                           std::chrono::milliseconds timeout = kLoadTimeout);

/// Opens a session on the daemon and device with the most headroom (see the top of this
/// file): asks `loadOf` of every daemon (a random kMaxAsked of more) at once, then
/// `openSession` on the candidates in weightedOrder() until one opens; a candidate that
/// throws UnavailableError or ResourceExhaustedError is skipped, other errors propagate.
/// UnavailableError "no daemon could take the session (<what was asked>): <address>: <why>;
/// ..." naming every daemon that was skipped and why, when none can; InvalidArgumentError
/// when `addresses` is empty.
std::shared_ptr<Session> place(std::vector<std::string> addresses, const LoadOf& loadOf,
                               const OpenSession& openSession, const Request& request,
                               Engine& engine);

}  // namespace placement
}  // namespace kp::detail
