// kp::ManagerOptions: how a Manager connects to kpd.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kp {

/// Everything a Manager can be told when it opens its session (Manager(ManagerOptions)).
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
};

}  // namespace kp
