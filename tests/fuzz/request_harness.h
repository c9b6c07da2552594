// The request fuzzer's harness: kpd's request handling in-process, without gRPC. One Vulkan
// instance, DevicePool and SessionRegistry live for the whole process (on the default device:
// lavapipe in CI); each input opens its own sessions, runs its requests through them exactly
// as the service's handlers do (session lookup, validation, execution, status mapping), then
// closes them.
//
// A finding aborts the process with a line starting "kp request fuzzer:":
// - a request answered INTERNAL or UNKNOWN (an exception kpd did not expect, a failed Vulkan
//   call), UNAVAILABLE without a cancellation, or an error status with no message;
// - a session naming another session's object without an error (isolation);
// - a leak: once the input's sessions are closed, device memory, objects or references to
//   the device not back at their baseline;
// - a hang: a session whose GPU work cannot be freed within a minute.
// Host memory leaks and memory errors are the sanitizers' (ASan/LSan/UBSan) to find.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "server/service/config.h"
#include "server/engine/device.h"
#include "server/service/devices/device_pool.h"
#include "server/engine/instance.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::fuzz {

class FuzzInput;

// The limits the harness runs under: small, so that every quota is within the fuzzer's reach
// and every input stays fast.
service::ServiceConfig harnessConfig();

class RequestHarness {
 public:
  // The process-wide harness, created on first use. KP_FUZZ_VERBOSE=1 logs every request.
  static RequestHarness& get();

  // Runs one input: a FuzzInput, or, when the bytes do not decode as one, a single raw
  // request (first byte: its type, as RawRequest.type; the rest: its bytes).
  void run(const uint8_t* data, size_t size);
  void run(const FuzzInput& input);

  // Closes the device and the Vulkan instance (replay only: the harness is unusable after).
  // With KP_VALIDATION=1 the Vulkan validation layer watches every call of every input, and
  // any error it reported, including objects still alive when the device is destroyed, is a
  // finding.
  void shutdown();

  // Inputs run so far, and requests among them that succeeded / failed.
  uint64_t inputs() const { return inputs_; }
  uint64_t requestsOk() const { return requestsOk_; }
  uint64_t requestsFailed() const { return requestsFailed_; }

  service::SessionRegistry& registry() { return *registry_; }
  service::Retirement& retirement() { return *retirement_; }
  service::DevicePool& pool() { return *pool_; }
  const service::ServiceConfig& config() const { return config_; }
  bool verbose() const { return verbose_; }
  void countRequest(bool ok) { ++(ok ? requestsOk_ : requestsFailed_); }

 private:
  RequestHarness();
  // Aborts unless every session is gone and the device is back at its baseline.
  void checkBaseline();

  service::ServiceConfig config_;
  std::shared_ptr<engine::Instance> instance_;
  std::unique_ptr<service::DevicePool> pool_;
  std::unique_ptr<service::Retirement> retirement_;
  std::unique_ptr<service::SessionRegistry> registry_;
  std::shared_ptr<engine::Device> device_;  // the default device, held to watch its references
  long baselineDeviceRefs_ = 0;
  bool verbose_ = false;
  uint64_t inputs_ = 0;
  uint64_t requestsOk_ = 0;
  uint64_t requestsFailed_ = 0;
};

// Ends the process as a finding (see above), after printing `what`.
[[noreturn]] void finding(const std::string& what);

}  // namespace kp::fuzz
