#include "server/service/lifecycle/device_watchdog.h"

#include <spdlog/spdlog.h>

#include <map>

namespace kp::service {

using base::MutexLock;

DeviceWatchdog::DeviceWatchdog(DevicePool& pool, SessionRegistry& registry, Retirement& retirement,
                               const ServiceConfig& config)
    : pool_(pool),
      registry_(registry),
      retirement_(retirement),
      config_(config),
      lastCheck_(std::chrono::steady_clock::now().time_since_epoch().count()) {
  thread_ = std::thread([this] { run(); });
}

DeviceWatchdog::~DeviceWatchdog() {
  stop();
}

void DeviceWatchdog::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notifyAll();
  if (thread_.joinable()) thread_.join();
}

void DeviceWatchdog::run() {
  MutexLock lock(mutex_);
  while (!stopping_) {
    wake_.waitFor(mutex_, kPeriod);
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

std::vector<Retirement::Trouble> DeviceWatchdog::inspect(
    const std::vector<DevicePool::InService>& devices, uint64_t runawayMs,
    std::chrono::steady_clock::time_point now) {
  // Devices that share a physical device and an instance share the driver's state.
  std::map<std::pair<const engine::Instance*, uint32_t>,
           std::vector<std::shared_ptr<engine::Device>>>
      groups;
  for (const auto& [index, device] : devices)
    groups[{&device->instance(), index}].push_back(device);
  std::vector<Retirement::Trouble> found;
  for (const auto& [group, members] : groups) {
    for (const auto& device : members) {
      if (!device->isLost()) continue;
      Retirement::Trouble lost;
      lost.devices = {device};  // a lost device fails on its own
      lost.device = device->describe();
      lost.lost = true;
      lost.lostReason = device->lostReason();
      found.push_back(std::move(lost));
    }
    if (runawayMs == 0) continue;
    Retirement::Trouble runaway;
    for (const auto& device : members) {
      if (device->isLost()) continue;
      const engine::Device::Stall stall = device->stall(now);
      const auto stalledMs = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(stall.stalled).count());
      if (!stall.pending || stalledMs < runawayMs || stalledMs < runaway.stalledMs) continue;
      runaway.device = device->describe();
      runaway.culprit = stall.owner;
      runaway.stalledMs = stalledMs;
    }
    if (runaway.device.empty()) continue;
    for (const auto& device : members) {
      if (!device->isLost()) runaway.devices.push_back(device);
    }
    found.push_back(std::move(runaway));
  }
  return found;
}

void DeviceWatchdog::check() {
  pool_.sampleBusy();
  for (Retirement::Trouble& trouble :
       inspect(pool_.inService(), config_.runawayMs, std::chrono::steady_clock::now())) {
    if (trouble.culprit != 0) trouble.culpritLabel = registry_.label(trouble.culprit);
    retirement_.retire(trouble);
  }
  retirement_.endSessionsOnRetiredDevices(
      registry_.take([this](const Session& session) { return retirement_.reasonToEnd(session); }));
  retirement_.releaseIdle();
  lastCheck_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                   std::memory_order_relaxed);
}

std::chrono::steady_clock::time_point DeviceWatchdog::lastCheck() const {
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(lastCheck_.load(std::memory_order_relaxed)));
}

}  // namespace kp::service
