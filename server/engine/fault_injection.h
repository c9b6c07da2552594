// Test-only fault injection: makes chosen Vulkan calls report failures that a software driver
// such as lavapipe never reports, so that the handling of a lost device and of exhausted device
// memory can be tested end to end. Off unless configured (kpd's hidden --inject-fault flag, or a
// test); while off, an injection point costs one relaxed atomic load.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace kp::engine {

// Where a fault can be injected, and what the call then reports.
enum class FaultPoint {
  kSubmit,    // vkQueueSubmit: VK_ERROR_DEVICE_LOST (nothing is submitted)
  kWait,      // vkWaitForFences: VK_ERROR_DEVICE_LOST at once (the submitted work still runs)
  kAllocate,  // vkAllocateMemory: VK_ERROR_OUT_OF_DEVICE_MEMORY (nothing is allocated)
};

class FaultInjection {
 public:
  // Arms the rules of `spec`, a comma-separated list of POINT-after=N or POINT-every=N, with
  // POINT one of device-lost (kSubmit), device-lost-wait (kWait) and oom (kAllocate):
  // `after=N` fails the (N+1)-th call at that point once, `every=N` fails every N-th call
  // (N >= 1). Calls are counted process-wide, over every device. Replaces the earlier rules;
  // an empty spec disarms. Throws Error(kInvalidArgument) naming the bad rule. Configure before
  // any device is in use.
  static void configure(const std::string& spec);
  // True when some rule is armed (a relaxed load: the cost of an injection point).
  static bool armed() { return armed_.load(std::memory_order_relaxed); }
  // Counts a call at `point`; true when a rule says this call must fail (it is then logged).
  static bool fire(FaultPoint point);
  // Faults injected since the process started.
  static uint64_t injected();
  // The spec in effect ("" when disarmed).
  static std::string spec();

 private:
  static std::atomic<bool> armed_;
};

// An injection point: true when the call at `point` must report its fault.
inline bool injectFault(FaultPoint point) {
  return FaultInjection::armed() && FaultInjection::fire(point);
}

}  // namespace kp::engine
