// RAII ownership of Vulkan objects that belong to a VkDevice. Move-only; destroys the handle
// with its matching vkDestroy*/vkFree* function when it goes out of scope.
#pragma once

#include <vulkan/vulkan.h>

#include <utility>

namespace kp::engine {

template <typename T, void (*Destroy)(VkDevice, T, const VkAllocationCallbacks*)>
class DeviceObject {
 public:
  DeviceObject() = default;
  DeviceObject(VkDevice device, T handle) : device_(device), handle_(handle) {}
  ~DeviceObject() { reset(); }

  DeviceObject(const DeviceObject&) = delete;
  DeviceObject& operator=(const DeviceObject&) = delete;
  DeviceObject(DeviceObject&& other) noexcept
      : device_(other.device_), handle_(std::exchange(other.handle_, T(VK_NULL_HANDLE))) {}
  DeviceObject& operator=(DeviceObject&& other) noexcept {
    if (this != &other) {
      reset();
      device_ = other.device_;
      handle_ = std::exchange(other.handle_, T(VK_NULL_HANDLE));
    }
    return *this;
  }

  T get() const { return handle_; }
  explicit operator bool() const { return handle_ != VK_NULL_HANDLE; }

  void reset() {
    if (handle_ != VK_NULL_HANDLE) Destroy(device_, handle_, nullptr);
    handle_ = VK_NULL_HANDLE;
  }

  // Gives up ownership without destroying the handle (for objects the GPU may still use when
  // their owner goes: they are left allocated on purpose).
  T release() { return std::exchange(handle_, T(VK_NULL_HANDLE)); }

 private:
  VkDevice device_ = VK_NULL_HANDLE;
  T handle_ = VK_NULL_HANDLE;
};

using UniqueBuffer = DeviceObject<VkBuffer, &vkDestroyBuffer>;
using UniqueMemory = DeviceObject<VkDeviceMemory, &vkFreeMemory>;
using UniqueFence = DeviceObject<VkFence, &vkDestroyFence>;
using UniqueCommandPool = DeviceObject<VkCommandPool, &vkDestroyCommandPool>;
using UniqueQueryPool = DeviceObject<VkQueryPool, &vkDestroyQueryPool>;
using UniqueDescriptorPool = DeviceObject<VkDescriptorPool, &vkDestroyDescriptorPool>;
using UniqueDescriptorSetLayout =
    DeviceObject<VkDescriptorSetLayout, &vkDestroyDescriptorSetLayout>;
using UniquePipelineLayout = DeviceObject<VkPipelineLayout, &vkDestroyPipelineLayout>;
using UniquePipeline = DeviceObject<VkPipeline, &vkDestroyPipeline>;
using UniquePipelineCache = DeviceObject<VkPipelineCache, &vkDestroyPipelineCache>;
using UniqueShaderModule = DeviceObject<VkShaderModule, &vkDestroyShaderModule>;

}  // namespace kp::engine
