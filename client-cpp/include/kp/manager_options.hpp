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
struct ManagerOptions {
  /// Where the daemon is; empty: $KP_ADDRESS, else the local socket (see Manager).
  std::string address;
  /// The device (an index of Manager::listDevices()).
  uint32_t device = 0;
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
};

}  // namespace kp
