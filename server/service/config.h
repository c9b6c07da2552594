// Settings of the service, from kpd's command line. Defaults suit a shared GPU host.
#pragma once

#include <cstdint>
#include <string>

namespace kp::service {

struct ServiceConfig {
  // A session that no request names for this long ends (OpenSessionRequest.lease_seconds
  // may ask for another value up to maxLeaseSeconds).
  uint32_t defaultLeaseSeconds = 3600;
  uint32_t maxLeaseSeconds = 7 * 24 * 3600;
  // Longest an Eval waits for the GPU when the request sets no shorter timeout.
  uint64_t evalTimeoutMs = 60'000;
  // Sessions open at once, daemon-wide.
  uint32_t maxSessions = 256;
  // When a session ends, how long to wait for its running evaluations before freeing it.
  uint64_t closeWaitMs = 10'000;
  // Size of each arena of a session's shared memory (a larger tensor gets its own arena).
  uint64_t sharedArenaBytes = 64ull << 20;
  // The local data socket offered to sessions opened over a Unix socket (empty: none).
  std::string dataSocket;
};

}  // namespace kp::service
