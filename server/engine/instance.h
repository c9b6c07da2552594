// The Vulkan instance and the physical devices it sees. One per process; thread-safe to read.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "server/engine/device_info.h"

namespace kp::engine {

struct InstanceOptions {
  // Enables VK_LAYER_KHRONOS_validation (when installed) and counts the errors it reports.
  bool validation = false;
};

class Instance {
 public:
  // Throws Error(kUnavailable) when no Vulkan driver can be loaded.
  static std::shared_ptr<Instance> create(const InstanceOptions& options = {});
  ~Instance();

  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  uint32_t deviceCount() const { return static_cast<uint32_t>(physicalDevices_.size()); }
  // Throws Error(kNotFound) for an index past the end.
  VkPhysicalDevice physicalDevice(uint32_t index) const;
  const DeviceInfo& deviceInfo(uint32_t index) const;
  const std::vector<DeviceInfo>& devices() const { return infos_; }

  // Whether the validation layer is active, and how many errors it has reported so far.
  bool validationEnabled() const { return messenger_ != VK_NULL_HANDLE; }
  uint64_t validationErrors() const { return validationErrors_.load(); }

 private:
  Instance() = default;
  static VKAPI_ATTR VkBool32 VKAPI_CALL onDebugMessage(
      VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
      const VkDebugUtilsMessengerCallbackDataEXT* data, void* user);

  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  std::vector<VkPhysicalDevice> physicalDevices_;
  std::vector<DeviceInfo> infos_;
  std::atomic<uint64_t> validationErrors_{0};
};

}  // namespace kp::engine
