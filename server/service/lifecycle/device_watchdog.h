// Recovers devices that can no longer serve, on a thread of its own:
// - a lost device (the driver answered VK_ERROR_DEVICE_LOST);
// - a wedged device: one of its queues has work pending but made no progress (no submission on
//   it finished) for ServiceConfig::runawayMs, because a shader never finishes.
// Such a device is retired (DevicePool::retire: every wait on it ends, the next session gets
// the device opened afresh), every session on it ends at once with a reason saying what
// happened and whose evaluation caused it, and once the old device's work has finished its
// memory is freed (DevicePool::releaseIdle). Sessions on other devices never notice.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/service/config.h"
#include "server/service/devices/device_pool.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::service {

class DeviceWatchdog {
 public:
  // How often the devices are checked.
  static constexpr std::chrono::milliseconds kPeriod{100};

  // Starts the thread.
  DeviceWatchdog(DevicePool& pool, SessionRegistry& registry, const ServiceConfig& config);
  ~DeviceWatchdog();

  DeviceWatchdog(const DeviceWatchdog&) = delete;
  DeviceWatchdog& operator=(const DeviceWatchdog&) = delete;

  // One round of checks (the thread calls it every kPeriod).
  void check();
  // Stops the thread (idempotent).
  void stop();

 private:
  void run();

  DevicePool& pool_;
  SessionRegistry& registry_;
  const ServiceConfig& config_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kp::service
