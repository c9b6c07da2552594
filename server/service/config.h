// Settings of the service, from kpd's command line. Defaults suit a shared GPU host.
// Exceeding a limit is RESOURCE_EXHAUSTED with the limit and its flag in the message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/engine/device_info.h"
#include "server/service/devices/shader_compiler.h"

namespace kp::service {

struct ServiceConfig {
  // What GetStatus reports as the daemon's version (main.cpp: kpd's --version text).
  std::string version;
  // The device indices served (--devices), as the Vulkan instance numbers them; empty: every
  // device. ListDevices, GetLoad and new sessions see only these.
  std::vector<uint32_t> devices;
  // GLSL compilation: the kpd-compile worker and its limits.
  CompilerLimits compiler;
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
  // Runaway work: a device on which a queue with pending work makes no progress (no submitted
  // evaluation finishes) for this long is considered wedged and is reset: it is retired, every
  // session on it ends, and the next session gets the device opened afresh. 0: never.
  // kpd's default is evalTimeoutMs + kRunawayGraceMs.
  uint64_t runawayMs = 60'000 + 5'000;
  // Retired devices whose work is still running (their memory cannot be freed) that a device
  // may leave behind; beyond this, the device is not opened again until kpd restarts.
  uint32_t maxWedgedDevices = 4;
  // Size of each arena of a session's shared memory (a larger tensor gets its own arena).
  uint64_t sharedArenaBytes = 64ull << 20;
  // The local data socket offered to sessions opened over a Unix socket (empty: none).
  std::string dataSocket;

  // Bytes of tensors (size x element size, summed over its live tensors) one session may hold.
  // 0: 75% of the device's largest device-local memory heap (see sessionMemoryLimit).
  uint64_t sessionMemoryBytes = 0;
  // Tensors + algorithms + sequences one session may hold at once; also the most evaluations
  // without a sequence (Eval with sequence = 0) it may have in flight.
  uint32_t sessionMaxObjects = 10'000;
  // Largest request or reply message, in bytes (gRPC's limit; replies are also checked before
  // an evaluation runs, so that a reply too large to send is refused up front).
  int maxMessageBytes = 256 * 1024 * 1024;
  // Most ops one sequence may record (RecordSequence, Eval with record = true), an op counting
  // once per tensor it names (at least once): this bounds the commands of a command buffer.
  uint32_t maxSequenceOps = 65'536;
  // Largest CreateSequenceRequest.total_timestamps (each timestamp is a query-pool slot).
  uint32_t maxTimestamps = 65'536;
  // Bytes of one invocation's own variables (Private and Function storage) a shader may
  // declare: drivers compile such arrays element by element (a 64 MiB local array took
  // lavapipe's compile to 680 MiB). A GPU gives an invocation far less (CUDA: 512 KiB).
  uint64_t maxShaderPrivateBytes = 1 << 20;
};

// The default --runaway-ms is the eval timeout plus this: an evaluation whose Eval gave up with
// DEADLINE_EXCEEDED may still finish (and be awaited) for this long before its device is reset.
constexpr uint64_t kRunawayGraceMs = 5'000;

// Share of the largest device-local heap a session may fill when sessionMemoryBytes is 0:
// most of the GPU for one user, while the remaining quarter stays for other sessions and the
// driver.
constexpr uint64_t kDefaultSessionMemoryPercent = 75;

// The per-session tensor memory limit in effect on `device`.
inline uint64_t sessionMemoryLimit(const ServiceConfig& config, const engine::DeviceInfo& device) {
  if (config.sessionMemoryBytes > 0) return config.sessionMemoryBytes;
  uint64_t largest = 0;
  for (const auto& heap : device.memoryHeaps) {
    if (heap.deviceLocal && heap.size > largest) largest = heap.size;
  }
  if (largest == 0) {
    for (const auto& heap : device.memoryHeaps) largest = heap.size > largest ? heap.size : largest;
  }
  return largest / 100 * kDefaultSessionMemoryPercent +
         largest % 100 * kDefaultSessionMemoryPercent / 100;
}

}  // namespace kp::service
