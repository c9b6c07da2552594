// Watches the devices in service, on a thread of its own, for two kinds of trouble:
// - a lost device (the driver answered VK_ERROR_DEVICE_LOST);
// - a wedged device: one of its queues has work pending but made no progress (no submission on
//   it finished) for ServiceConfig::runawayMs, because a shader never finishes.
// It only detects: what happens then (the device retired, the sessions on it ended, naming the
// culprit) is lifecycle/retirement.h.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "server/base/mutex.h"
#include "server/service/config.h"
#include "server/service/devices/device_pool.h"
#include "server/service/lifecycle/retirement.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::service {

class DeviceWatchdog {
 public:
  // How often the devices are checked.
  static constexpr std::chrono::milliseconds kPeriod{100};

  // Starts the thread.
  DeviceWatchdog(DevicePool& pool, SessionRegistry& registry, Retirement& retirement,
                 const ServiceConfig& config);
  ~DeviceWatchdog();

  DeviceWatchdog(const DeviceWatchdog&) = delete;
  DeviceWatchdog& operator=(const DeviceWatchdog&) = delete;

  // What is wrong with the devices in `devices` now: those lost, and those whose queue with
  // work pending made no progress for `runawayMs` (0: never look), each with the devices that
  // share its driver state (same physical device and Vulkan instance).
  static std::vector<Retirement::Trouble> inspect(const std::vector<DevicePool::InService>& devices,
                                                  uint64_t runawayMs,
                                                  std::chrono::steady_clock::time_point now);
  // One round: samples how busy each device is (GetLoad's busy_fraction), inspects, hands what
  // it found to the retirement, ends the sessions on retired devices and frees the retired
  // devices whose work finished (the thread calls it every kPeriod).
  void check();
  // Stops the thread (idempotent).
  void stop();
  // When the last check() finished (construction time before the first): a round takes the
  // device pool's and the session registry's locks, as submissions do, so a round that is
  // long overdue means the submission path is stuck (kpd's systemd watchdog reads it).
  std::chrono::steady_clock::time_point lastCheck() const;

 private:
  void run();

  DevicePool& pool_;
  SessionRegistry& registry_;
  Retirement& retirement_;
  const ServiceConfig& config_;
  base::Mutex mutex_;
  base::CondVar wake_;
  bool stopping_ KP_GUARDED_BY(mutex_) = false;
  std::thread thread_;
  std::atomic<std::chrono::steady_clock::rep> lastCheck_;
};

}  // namespace kp::service
