#include "server/service/devices/device_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/base/error.h"
#include "server/engine/memory_budget.h"

namespace kp::service {
namespace {

using base::ErrorCode;
using base::MutexLock;

// The devices to serve: `asked` (checked against the instance), else all of them.
std::vector<uint32_t> servedDevices(const engine::Instance& instance,
                                    const std::vector<uint32_t>& asked) {
  const uint32_t count = instance.deviceCount();
  std::vector<uint32_t> served;
  if (asked.empty()) {
    for (uint32_t index = 0; index < count; ++index) served.push_back(index);
    return served;
  }
  for (uint32_t index : asked) {
    KP_REQUIRE(index < count, ErrorCode::kInvalidArgument,
               "devices: device " + std::to_string(index) + " does not exist: this host has " +
                   std::to_string(count) + " Vulkan device(s)" +
                   (count > 0 ? ", numbered from 0 to " + std::to_string(count - 1) : "") +
                   " (kpd --list-devices lists them)");
    KP_REQUIRE(std::find(served.begin(), served.end(), index) == served.end(),
               ErrorCode::kInvalidArgument,
               "devices: device " + std::to_string(index) + " is listed twice");
    served.push_back(index);
  }
  std::sort(served.begin(), served.end());
  return served;
}

}  // namespace

DevicePool::PerDevice::PerDevice(const engine::DeviceInfo& info,
                                 std::shared_ptr<engine::Instance> first)
    : validator(info), instance(std::move(first)), busy(BusyHistory::Clock::now()) {}

DevicePool::DevicePool(std::shared_ptr<engine::Instance> instance, const ServiceConfig& config)
    : instance_(instance),
      config_(config),
      compiler_(config.compiler),
      served_(servedDevices(*instance, config.devices)) {
  for (uint32_t index : served_) {
    perDevice_.emplace(index, std::make_unique<PerDevice>(instance_->deviceInfo(index), instance_));
  }
}

std::string DevicePool::servedList() const {
  std::string list;
  for (uint32_t index : served_) list += (list.empty() ? "" : ", ") + std::to_string(index);
  return list;
}

DevicePool::PerDevice& DevicePool::perDevice(uint32_t index) const {
  auto found = perDevice_.find(index);
  KP_REQUIRE(found != perDevice_.end(), ErrorCode::kNotFound,
             "device " + std::to_string(index) +
                 " is not served by this kpd: it serves device(s) " + servedList());
  return *found->second;
}

const engine::SpirvValidator& DevicePool::validator(uint32_t index) const {
  return perDevice(index).validator;
}

size_t DevicePool::wedgedCount(uint32_t index) {
  outOfService_.erase(std::remove_if(outOfService_.begin(), outOfService_.end(),
                                     [](const auto& device) { return device.expired(); }),
                      outOfService_.end());
  size_t count = 0;
  for (const auto& weak : outOfService_) {
    if (auto device = weak.lock(); device && device->info().index == index) ++count;
  }
  return count;
}

std::shared_ptr<engine::Device> DevicePool::findInService(
    const std::pair<uint32_t, std::vector<uint32_t>>& key) const {
  MutexLock lock(mutex_);
  auto found = devices_.find(key);
  return found != devices_.end() ? found->second : nullptr;
}

std::shared_ptr<engine::Device> DevicePool::open(uint32_t index,
                                                 const std::vector<uint32_t>& families) {
  const engine::DeviceInfo& info = instance_->deviceInfo(index);
  PerDevice& slot = perDevice(index);
  std::vector<uint32_t> effective = families;
  if (effective.empty()) effective.push_back(info.defaultComputeFamily());
  const auto key = std::make_pair(index, effective);
  if (auto device = findInService(key)) return device;

  // Opening is slow (a new Vulkan instance after a reset, vkCreateDevice): it holds this
  // device's lock only, so that sessions and look-ups of other devices go on meanwhile.
  MutexLock opening(slot.opening);
  if (auto device = findInService(key)) return device;  // opened meanwhile
  {
    MutexLock lock(mutex_);
    const size_t wedged = wedgedCount(index);
    KP_REQUIRE(wedged < config_.maxWedgedDevices, ErrorCode::kUnavailable,
               "device " + std::to_string(index) +
                   " cannot be opened again: " + std::to_string(wedged) +
                   " retired instance(s) of it still run work that never finished, the limit "
                   "(--max-wedged-devices " +
                   std::to_string(config_.maxWedgedDevices) + "); restart kpd to reclaim them");
  }
  if (slot.freshInstance.exchange(false)) {
    // A device reset: the old instance may hold the wedged driver's state (on lavapipe, the
    // thread pool still running the runaway shader), so open the device on a new one. The
    // other devices stay on theirs.
    engine::InstanceOptions options;
    options.validation = instance_->validationEnabled();
    slot.instance = engine::Instance::create(options);
    spdlog::info("opened a new Vulkan instance for device {}", index);
  }
  const engine::DeviceInfo& now = slot.instance->deviceInfo(index);
  KP_REQUIRE(
      now.name == info.name && now.vendorId == info.vendorId && now.deviceId == info.deviceId,
      ErrorCode::kUnavailable,
      "device " + std::to_string(index) + " is not the same device after a reset ('" + now.name +
          "' instead of '" + info.name + "'); restart kpd");
  auto device = engine::Device::open(slot.instance, index, effective);
  spdlog::info("opened device {} ({}) with {} queue(s)", index, info.name, effective.size());
  MutexLock lock(mutex_);
  devices_[key] = device;
  return device;
}

std::vector<DevicePool::InService> DevicePool::inService() const {
  MutexLock lock(mutex_);
  std::vector<InService> result;
  for (const auto& [key, device] : devices_) result.push_back({key.first, device});
  return result;
}

bool DevicePool::takeOutOfService(const std::shared_ptr<engine::Device>& device) {
  MutexLock lock(mutex_);
  bool taken = false;
  for (auto it = devices_.begin(); it != devices_.end();) {
    if (it->second == device) {
      taken = true;
      it = devices_.erase(it);
    } else {
      ++it;
    }
  }
  if (!taken) return false;
  outOfService_.push_back(device);
  ++resets_;
  if (auto found = perDevice_.find(device->info().index); found != perDevice_.end()) {
    found->second->freshInstance = true;
  }
  return true;
}

DevicePool::Instances DevicePool::everyInstance() const {
  Instances all;
  MutexLock lock(mutex_);
  for (const auto& [key, device] : devices_) all.devices.push_back(device);
  for (auto it = outOfService_.begin(); it != outOfService_.end();) {
    if (auto device = it->lock()) {
      all.wedged[device->info().index] += 1;
      all.devices.push_back(std::move(device));
      ++it;
    } else {
      it = outOfService_.erase(it);
    }
  }
  return all;
}

std::vector<std::pair<uint32_t, uint64_t>> DevicePool::memoryUsage() const {
  std::map<uint32_t, uint64_t> totals;
  for (const auto& device : everyInstance().devices) {
    totals[device->info().index] += device->allocatedBytes();
  }
  return {totals.begin(), totals.end()};
}

uint32_t DevicePool::pendingSubmissions() const {
  uint32_t pending = 0;
  for (const auto& device : everyInstance().devices) pending += device->pendingSubmissions();
  return pending;
}

uint64_t DevicePool::resets() const {
  MutexLock lock(mutex_);
  return resets_;
}

void DevicePool::observeBusy(const std::vector<std::shared_ptr<engine::Device>>& devices,
                             bool sample) {
  std::vector<std::chrono::nanoseconds> busy;
  busy.reserve(devices.size());
  for (const auto& device : devices) busy.push_back(device->busyTime());
  for (const auto& [index, slot] : perDevice_) {
    MutexLock lock(slot->busyMutex);
    for (size_t i = 0; i < devices.size(); ++i) {
      if (devices[i]->info().index == index) slot->busy.observe(devices[i], busy[i]);
    }
    if (sample) slot->busy.sample(BusyHistory::Clock::now());
  }
}

void DevicePool::sampleBusy() {
  observeBusy(everyInstance().devices, true);
}

std::vector<DevicePool::Load> DevicePool::load() {
  const Instances all = everyInstance();
  observeBusy(all.devices, false);
  std::map<uint32_t, Load> loads;
  for (uint32_t index : served_) loads[index].index = index;
  for (const auto& device : all.devices) {
    Load& load = loads[device->info().index];
    load.usedBytes += device->allocatedBytes();
    const engine::Device::Activity activity = device->activity();
    load.running += activity.running;
    load.queued += activity.queued;
  }
  std::vector<Load> result;
  const auto now = BusyHistory::Clock::now();
  for (auto& [index, load] : loads) {
    load.freeBytes =
        engine::queryHeapBudget(instance_->physicalDevice(index), instance_->deviceInfo(index))
            .freeBytes(load.usedBytes);
    const auto wedged = all.wedged.find(index);
    load.available = wedged == all.wedged.end() || wedged->second < config_.maxWedgedDevices;
    PerDevice& slot = perDevice(index);
    {
      MutexLock lock(slot.busyMutex);
      load.busyFraction = slot.busy.fraction(now);
    }
    result.push_back(load);
  }
  return result;
}

}  // namespace kp::service
