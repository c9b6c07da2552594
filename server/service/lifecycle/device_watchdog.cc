#include "server/service/lifecycle/device_watchdog.h"

#include <spdlog/spdlog.h>

namespace kp::service {

DeviceWatchdog::DeviceWatchdog(DevicePool& pool, SessionRegistry& registry,
                               const ServiceConfig& config)
    : pool_(pool), registry_(registry), config_(config) {
  thread_ = std::thread([this] { run(); });
}

DeviceWatchdog::~DeviceWatchdog() { stop(); }

void DeviceWatchdog::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DeviceWatchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kPeriod, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    try {
      check();
    } catch (const std::exception& error) {
      spdlog::error("device watchdog: {}", error.what());
    }
    lock.lock();
  }
}

void DeviceWatchdog::check() {
  for (const DevicePool::Finding& finding : pool_.inspect(config_.runawayMs)) {
    if (finding.lost) {
      const std::string reason = DevicePool::outOfService(finding.lostReason);
      pool_.retire(finding.devices, reason);
      spdlog::error("{}: {}", finding.device, reason);
      continue;
    }
    std::string culprit = registry_.label(finding.culprit);
    if (culprit.empty()) culprit = "a session that has ended since";
    const std::string limit = std::to_string(config_.runawayMs) + " ms (--runaway-ms " +
                              std::to_string(config_.runawayMs) + ")";
    const std::string reason =
        DevicePool::outOfService(finding.device + " was reset: an evaluation of " + culprit +
                                 " ran for more than " + limit + " without finishing");
    const std::string culpritReason =
        "an evaluation of this session ran for more than " + limit +
        " without finishing: kpd reset " + finding.device +
        " and ended the sessions on it, this one included (a shader must finish; split long "
        "work into shorter evaluations)";
    pool_.retire(finding.devices, reason, finding.culprit, culpritReason);
    spdlog::error("runaway work: {} made no progress for {} ms, stuck on an evaluation of {}: "
                  "resetting it ({} instance(s) of the device retired)",
                  finding.device, finding.stalledMs, culprit, finding.devices.size());
  }
  if (const size_t ended = registry_.endSessionsOnRetiredDevices(); ended > 0) {
    spdlog::warn("ended {} session(s) on retired devices", ended);
  }
  pool_.releaseIdle();
}

}  // namespace kp::service
