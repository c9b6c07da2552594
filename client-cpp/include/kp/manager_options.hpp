// kp::ManagerOptions: how a Manager connects to kpd.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kp {

/// Everything a Manager can be told when it opens its session (Manager(ManagerOptions)).
///
/// Access control (kpd's --tls-cert, --tls-client-ca, --token-file), as the Python client's
/// kp.Manager(token=, tls_ca=, tls_cert=, tls_key=) and with the same environment variables:
/// TLS is used for "tls:host:port" addresses, and for "host:port" ones when a CA or a client
/// certificate is given (here or in the environment). kpd serves its Unix sockets without TLS
/// (file permissions protect them): for a Unix socket the TLS variables are ignored, and TLS
/// options are an error. Each PEM option is a file path, or the PEM text itself (text that
/// starts with "-----BEGIN"). A file that cannot be read gives InvalidArgumentError naming the
/// option (or variable) and the file.
///
/// Several daemons (a fleet), as the Python client's kp.Manager(address=...): an address
/// "a:7070,b:7070,c:7070", "dns:NAME:PORT" (every address NAME resolves to, e.g. a Kubernetes
/// headless Service), `addresses` of such entries, or $KP_ADDRESS of those forms. The Manager
/// then places its session: it asks each daemon (a random 16 of more) for its load at once,
/// each bounded by 2 s, skips the unreachable, the draining, the full (--max-sessions) and
/// devices that are unavailable, not of `deviceType`, short of `memoryBytes` free or (when
/// `device` is set) of another index, and opens the session on a device chosen at random in
/// proportion to its headroom (free memory shared among its sessions plus the new one, less
/// for the time it is busy); a daemon that refuses the session (RESOURCE_EXHAUSTED,
/// UNAVAILABLE) is skipped for the next. When none can take it: UnavailableError "no daemon
/// could take the session (<what was asked>): <address>: <why>; ...". The session stays
/// where it was placed (Manager::address() says where); when that daemon dies, its calls
/// throw UnavailableError naming it, and a new Manager is placed among those still answering.
struct ManagerOptions {
  /// Where the daemon is: one address ("unix:/path", "/path", "host:port", "tls:host:port"),
  /// several separated by commas, or "dns:NAME:PORT" (see above). Empty: `addresses`, else
  /// $KP_ADDRESS, else the local socket (see Manager).
  std::string address;
  /// The device (an index of Manager::listDevices()). Unset: device 0 of a single daemon; of
  /// a fleet, whichever device placement chooses. Set: that index on every daemon.
  std::optional<uint32_t> device;
  /// Vulkan queue family indices, one queue per entry (a family may repeat); empty: the
  /// device's default compute queue. A sequence's queueIndex picks an entry of this list.
  std::vector<uint32_t> familyQueueIndices;
  /// The same-host fast path. When the daemon runs on this host (the address is a Unix
  /// socket) it offers a local data socket: tensors' host copies then live in memory shared
  /// with the daemon, which reads and writes them in place, and evaluations travel over that
  /// socket without gRPC. true: use it when offered; false: never (host copies travel over
  /// gRPC). Unset: use it unless the environment variable KP_SHARED_MEMORY is "0".
  std::optional<bool> sharedMemory;
  /// The bearer token of a kpd started with --token-file, sent with every call as the
  /// metadata "authorization: Bearer <token>" (on every kind of address). One word; empty:
  /// $KP_TOKEN, else the contents of the file $KP_TOKEN_FILE, else none. A missing or wrong
  /// token gives UnauthenticatedError with kpd's message.
  std::string token;
  /// The CA certificate that signed kpd's certificate. Giving it selects TLS for a
  /// "host:port" address. Empty: $KP_TLS_CA, else the system's CAs.
  std::string tlsCa;
  /// The client certificate and its private key, for a kpd that requires client
  /// certificates (--tls-client-ca); give both or neither. Empty (both): $KP_TLS_CERT and
  /// $KP_TLS_KEY. When any of tlsCa, tlsCert, tlsKey is given, none of the KP_TLS_*
  /// variables is read.
  std::string tlsCert;
  std::string tlsKey;
  /// Several daemons, as a list (each entry may itself be any form of `address`); give this
  /// or `address`, not both (InvalidArgumentError). One entry is the same as `address`.
  std::vector<std::string> addresses;
  /// When placing among several daemons: only devices of this type ("discrete_gpu",
  /// "integrated_gpu", "virtual_gpu", "cpu"; DeviceProperties::deviceType). Empty: any.
  std::string deviceType;
  /// When placing among several daemons: only devices with at least this many bytes of
  /// device memory free.
  uint64_t memoryBytes = 0;
};

}  // namespace kp
