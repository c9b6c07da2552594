#include "server/service/devices/device_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/base/error.h"

namespace kp::service {

using base::MutexLock;

DevicePool::DevicePool(std::shared_ptr<engine::Instance> instance, const ServiceConfig& config)
    : instance_(instance),
      config_(config),
      compiler_(config.compiler),
      current_(std::move(instance)) {}

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

std::shared_ptr<engine::Device> DevicePool::openDevice(uint32_t index,
                                                       const std::vector<uint32_t>& families) {
  const engine::DeviceInfo& info = instance_->deviceInfo(index);
  const size_t wedged = wedgedCount(index);
  KP_REQUIRE(wedged < config_.maxWedgedDevices, base::ErrorCode::kUnavailable,
             "device " + std::to_string(index) + " cannot be opened again: " +
                 std::to_string(wedged) +
                 " retired instance(s) of it still run work that never finished, the limit "
                 "(--max-wedged-devices " +
                 std::to_string(config_.maxWedgedDevices) + "); restart kpd to reclaim them");
  if (freshInstance_) {
    // A device reset: the old instance may hold the wedged driver's state (on lavapipe, the
    // thread pool still running the runaway shader), so open the device on a new one.
    engine::InstanceOptions options;
    options.validation = instance_->validationEnabled();
    current_ = engine::Instance::create(options);
    freshInstance_ = false;
    spdlog::info("opened a new Vulkan instance for the devices opened from now on");
  }
  const engine::DeviceInfo& now = current_->deviceInfo(index);
  KP_REQUIRE(
      now.name == info.name && now.vendorId == info.vendorId && now.deviceId == info.deviceId,
      base::ErrorCode::kUnavailable,
      "device " + std::to_string(index) + " is not the same device after a reset ('" + now.name +
          "' instead of '" + info.name + "'); restart kpd");
  return engine::Device::open(current_, index, families);
}

std::shared_ptr<engine::Device> DevicePool::open(uint32_t index,
                                                 const std::vector<uint32_t>& families) {
  const engine::DeviceInfo& info = instance_->deviceInfo(index);
  std::vector<uint32_t> effective = families;
  if (effective.empty()) effective.push_back(info.defaultComputeFamily());

  MutexLock lock(mutex_);
  auto key = std::make_pair(index, effective);
  auto found = devices_.find(key);
  if (found != devices_.end()) return found->second;
  auto device = openDevice(index, effective);
  spdlog::info("opened device {} ({}) with {} queue(s)", index, info.name, effective.size());
  devices_[key] = device;
  return device;
}

const engine::SpirvValidator& DevicePool::validator(uint32_t index) {
  const engine::DeviceInfo& info = instance_->deviceInfo(index);
  MutexLock lock(mutex_);
  auto& validator = validators_[index];
  if (!validator) validator = std::make_unique<engine::SpirvValidator>(info);
  return *validator;
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
  freshInstance_ = true;
  return true;
}

std::vector<std::shared_ptr<engine::Device>> DevicePool::everyInstance() const {
  std::vector<std::shared_ptr<engine::Device>> all;
  for (const auto& [key, device] : devices_) all.push_back(device);
  for (const auto& weak : outOfService_) {
    if (auto device = weak.lock()) all.push_back(std::move(device));
  }
  return all;
}

std::vector<std::pair<uint32_t, uint64_t>> DevicePool::memoryUsage() const {
  MutexLock lock(mutex_);
  std::map<uint32_t, uint64_t> totals;
  for (const auto& device : everyInstance()) {
    totals[device->info().index] += device->allocatedBytes();
  }
  return {totals.begin(), totals.end()};
}

uint32_t DevicePool::pendingSubmissions() const {
  MutexLock lock(mutex_);
  uint32_t pending = 0;
  for (const auto& device : everyInstance()) pending += device->pendingSubmissions();
  return pending;
}

uint64_t DevicePool::resets() const {
  MutexLock lock(mutex_);
  return resets_;
}

}  // namespace kp::service
