#include "device_pool.h"

#include <spdlog/spdlog.h>

namespace kp::service {

DevicePool::DevicePool(std::shared_ptr<engine::Instance> instance)
    : instance_(std::move(instance)) {}

std::shared_ptr<engine::Device> DevicePool::open(uint32_t index,
                                                 const std::vector<uint32_t>& families) {
  const engine::DeviceInfo& info = instance_->deviceInfo(index);
  std::vector<uint32_t> effective = families;
  if (effective.empty()) effective.push_back(info.defaultComputeFamily());

  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_pair(index, effective);
  auto found = devices_.find(key);
  if (found != devices_.end()) return found->second;
  auto device = engine::Device::open(instance_, index, effective);
  spdlog::info("opened device {} ({}) with {} queue(s)", index, info.name, effective.size());
  devices_.emplace(key, device);
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
  return {totals.begin(), totals.end()};
}

}  // namespace kp::service
