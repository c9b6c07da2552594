#include "server/service/devices/device_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/base/error.h"

namespace kp::service {
namespace {

using Clock = std::chrono::steady_clock;

// After this long, a retired device whose work still runs is reported in the log (once).
constexpr auto kWedgedWarning = std::chrono::seconds(10);

}  // namespace

DevicePool::DevicePool(std::shared_ptr<engine::Instance> instance, const ServiceConfig& config)
    : instance_(instance), config_(config), current_(std::move(instance)) {}

DevicePool::~DevicePool() {
  releaseIdle();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!retired_.empty()) {
    for (const Retired& entry : retired_) {
      spdlog::warn("{} keeps {} bytes allocated until kpd exits: work submitted to it is still "
                   "running ({})",
                   entry.device->describe(), entry.device->allocatedBytes(), entry.reason);
    }
    // Freeing memory the GPU may still use is never safe: leave it to the operating system.
    new std::vector<Retired>(std::move(retired_));  // NOLINT: deliberately leaked
    retired_.clear();
  }
}

std::shared_ptr<engine::Device> DevicePool::openDevice(uint32_t index,
                                                       const std::vector<uint32_t>& families) {
  const engine::DeviceInfo& info = instance_->deviceInfo(index);
  const size_t wedged = wedgedCount(index);
  if (wedged >= config_.maxWedgedDevices) {
    engine::fail(engine::ErrorCode::kUnavailable,
                 "device " + std::to_string(index) + " cannot be opened again: " +
                     std::to_string(wedged) +
                     " retired instance(s) of it still run work that never finished, the limit "
                     "(--max-wedged-devices " +
                     std::to_string(config_.maxWedgedDevices) +
                     "); restart kpd to reclaim them");
  }
  if (freshInstance_) {
    // A device reset: the old instance may hold the wedged driver's state (on lavapipe, the
    // thread pool still running the runaway shader), so open the device on a new one.
    engine::InstanceOptions options;
    options.validation = instance_->validationEnabled();
    auto fresh = engine::Instance::create(options);
    freshInstance_ = false;
    current_ = std::move(fresh);
    spdlog::info("opened a new Vulkan instance for the devices opened from now on");
  }
  const engine::DeviceInfo& now = current_->deviceInfo(index);
  KP_REQUIRE(
      now.name == info.name && now.vendorId == info.vendorId && now.deviceId == info.deviceId,
      engine::ErrorCode::kUnavailable,
      "device " + std::to_string(index) + " is not the same device after a reset ('" + now.name +
          "' instead of '" + info.name + "'); restart kpd");
  return engine::Device::open(current_, index, families);
}

std::shared_ptr<engine::Device> DevicePool::open(uint32_t index,
                                                 const std::vector<uint32_t>& families) {
  const engine::DeviceInfo& info = instance_->deviceInfo(index);
  std::vector<uint32_t> effective = families;
  if (effective.empty()) effective.push_back(info.defaultComputeFamily());

  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_pair(index, effective);
  auto found = devices_.find(key);
  if (found != devices_.end()) {
    if (!found->second->isLost()) return found->second;
    // Lost, and not yet retired by the watchdog: do it now, the sessions on it end soon.
    auto lost = found->second;
    retiredEntry(lost, outOfService(lost->lostReason()));
  }
  auto device = openDevice(index, effective);
  spdlog::info("opened device {} ({}) with {} queue(s)", index, info.name, effective.size());
  devices_[key] = device;
  return device;
}

const engine::SpirvValidator& DevicePool::validator(uint32_t index) {
  const engine::DeviceInfo& info = instance_->deviceInfo(index);
  std::lock_guard<std::mutex> lock(mutex_);
  auto& validator = validators_[index];
  if (!validator) validator = std::make_unique<engine::SpirvValidator>(info);
  return *validator;
}

std::vector<std::pair<uint32_t, uint64_t>> DevicePool::memoryUsage() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<uint32_t, uint64_t> totals;
  for (const auto& [key, device] : devices_) totals[key.first] += device->allocatedBytes();
  for (const Retired& entry : retired_) {
    totals[entry.device->info().index] += entry.device->allocatedBytes();
  }
  return {totals.begin(), totals.end()};
}

uint32_t DevicePool::pendingSubmissions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  uint32_t pending = 0;
  for (const auto& [key, device] : devices_) pending += device->pendingSubmissions();
  for (const Retired& entry : retired_) pending += entry.device->pendingSubmissions();
  return pending;
}

// ---- recovery ----

size_t DevicePool::wedgedCount(uint32_t index) const {
  return static_cast<size_t>(std::count_if(retired_.begin(), retired_.end(), [&](const Retired& r) {
    return r.device->info().index == index;
  }));
}

DevicePool::Retired& DevicePool::retiredEntry(const std::shared_ptr<engine::Device>& device,
                                              const std::string& reason) {
  for (Retired& entry : retired_) {
    if (entry.device == device) return entry;
  }
  bool inService = false;
  for (auto it = devices_.begin(); it != devices_.end();) {
    if (it->second == device) {
      inService = true;
      it = devices_.erase(it);
    } else {
      ++it;
    }
  }
  if (inService) {
    ++resets_;
    freshInstance_ = true;
  }
  Retired entry;
  entry.device = device;
  entry.reason = reason;
  entry.since = Clock::now();
  retired_.push_back(std::move(entry));
  return retired_.back();
}

std::vector<DevicePool::Finding> DevicePool::inspect(uint64_t runawayMs) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = Clock::now();
  // Devices that share a physical device and an instance share the driver's state.
  std::map<std::pair<const engine::Instance*, uint32_t>, std::vector<std::shared_ptr<engine::Device>>>
      groups;
  for (const auto& [key, device] : devices_) {
    groups[{&device->instance(), key.first}].push_back(device);
  }
  std::vector<Finding> findings;
  for (const auto& [group, devices] : groups) {
    for (const auto& device : devices) {
      if (!device->isLost()) continue;
      Finding finding;
      finding.devices = {device};  // a lost device fails on its own
      finding.index = group.second;
      finding.device = device->describe();
      finding.lost = true;
      finding.lostReason = device->lostReason();
      findings.push_back(std::move(finding));
    }
    if (runawayMs == 0) continue;
    Finding runaway;
    for (const auto& device : devices) {
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
    runaway.index = group.second;
    for (const auto& device : devices) {
      if (!device->isLost()) runaway.devices.push_back(device);
    }
    findings.push_back(std::move(runaway));
  }
  return findings;
}

void DevicePool::retire(const std::vector<std::shared_ptr<engine::Device>>& devices,
                        const std::string& reason, const std::string& culprit,
                        const std::string& culpritReason) {
  for (const auto& device : devices) device->markLost(reason);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& device : devices) {
    Retired& entry = retiredEntry(device, reason);
    if (!culprit.empty() && entry.culprit.empty()) {
      entry.culprit = culprit;
      entry.culpritReason = culpritReason;
    }
  }
}

void DevicePool::bury(const std::shared_ptr<engine::Device>& device,
                      std::vector<std::shared_ptr<void>> objects) {
  if (!device->isLost()) device->markLost(device->describe() + " still ran work when its session went");
  std::lock_guard<std::mutex> lock(mutex_);
  Retired& entry = retiredEntry(device, outOfService(device->lostReason()));
  for (auto& object : objects) entry.objects.push_back(std::move(object));
}

void DevicePool::releaseIdle() {
  std::vector<Retired> idle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    for (auto it = retired_.begin(); it != retired_.end();) {
      if (!it->device->busy()) {
        idle.push_back(std::move(*it));
        it = retired_.erase(it);
        continue;
      }
      if (!it->warned && now - it->since > kWedgedWarning) {
        it->warned = true;
        spdlog::warn("{} was retired {} s ago and its work is still running: its {} bytes stay "
                     "allocated until that work finishes or kpd exits",
                     it->device->describe(),
                     std::chrono::duration_cast<std::chrono::seconds>(now - it->since).count(),
                     it->device->allocatedBytes());
      }
      ++it;
    }
  }
  for (Retired& entry : idle) {
    const std::string name = entry.device->describe();
    const uint64_t before = entry.device->allocatedBytes();
    entry.objects.clear();
    spdlog::info("{} (retired: {}) has no work left: freed its {} bytes", name, entry.reason,
                 before);
    entry.device.reset();
  }
}

std::vector<DevicePool::RetiredDevice> DevicePool::retiredDevices() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<RetiredDevice> result;
  for (const Retired& entry : retired_) {
    result.push_back({entry.device, entry.reason, entry.culprit, entry.culpritReason});
  }
  return result;
}

std::vector<std::shared_ptr<engine::Device>> DevicePool::busyDevices() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<engine::Device>> busy;
  for (const auto& [key, device] : devices_) {
    if (device->busy()) busy.push_back(device);
  }
  return busy;
}

uint64_t DevicePool::resets() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return resets_;
}

std::string DevicePool::outOfService(const std::string& what) {
  return what +
         "; kpd took the device out of service and ended the sessions on it: open a new session "
         "(a new instance of the device serves it)";
}

uint32_t DevicePool::retiredCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<uint32_t>(retired_.size());
}

}  // namespace kp::service
