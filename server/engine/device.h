// A logical Vulkan device: its queues, memory types and pipeline cache. Shared (shared_ptr)
// by every tensor, algorithm and sequence created on it; thread-safe.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "device_info.h"
#include "instance.h"
#include "pipeline_cache.h"

namespace kp::engine {

class Device : public std::enable_shared_from_this<Device> {
 public:
  // Opens physical device `index` with one queue per entry of `families` (a family may repeat
  // to get several of its queues). Empty `families`: one queue of the default compute family.
  // Robust buffer access is enabled whenever the device supports it.
  static std::shared_ptr<Device> open(std::shared_ptr<Instance> instance, uint32_t index,
                                      const std::vector<uint32_t>& families = {});
  ~Device();

  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  const DeviceInfo& info() const { return info_; }
  const Instance& instance() const { return *instance_; }

  // Queues in the order of the families they were opened with.
  uint32_t queueCount() const { return static_cast<uint32_t>(queues_.size()); }
  uint32_t queueFamily(uint32_t queueIndex) const;
  const std::vector<uint32_t>& families() const { return families_; }

  // Submits one command buffer to queue `queueIndex`; submissions to one queue are serialised.
  void submit(uint32_t queueIndex, VkCommandBuffer commandBuffer, VkFence fence);

  // Index of a memory type allowed by `typeBits` with all `required` flags, preferring one that
  // also has `preferred`. Throws Error(kResourceExhausted) when none exists.
  uint32_t memoryType(uint32_t typeBits, VkMemoryPropertyFlags required,
                      VkMemoryPropertyFlags preferred = 0) const;
  VkMemoryPropertyFlags memoryTypeFlags(uint32_t type) const;

  PipelineCache& pipelines() { return *pipelines_; }

  // Memory types that can import host memory at `pointer` (VK_EXT_external_memory_host);
  // 0 when the device cannot.
  uint32_t hostPointerMemoryTypes(const void* pointer) const;

  // Bytes of device memory currently allocated through this device (all buffers).
  uint64_t allocatedBytes() const { return allocated_.load(); }
  std::atomic<uint64_t>& allocationCounter() { return allocated_; }

  void waitIdle();

  // Records commands with `record` into a one-time command buffer, submits it to queue
  // `queueIndex` and waits for it (at most `timeoutNs`). For set-up work such as initialising
  // a new tensor's memory.
  void runOnce(const std::function<void(VkCommandBuffer)>& record, uint32_t queueIndex = 0,
               uint64_t timeoutNs = 60'000'000'000ull);

 private:
  Device() = default;

  struct Queue {
    uint32_t family = 0;
    VkQueue queue = VK_NULL_HANDLE;
    std::unique_ptr<std::mutex> mutex;
  };

  std::shared_ptr<Instance> instance_;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  DeviceInfo info_;
  VkPhysicalDeviceMemoryProperties memory_{};
  std::vector<uint32_t> families_;
  std::vector<Queue> queues_;
  std::unique_ptr<PipelineCache> pipelines_;
  PFN_vkGetMemoryHostPointerPropertiesEXT getHostPointerProperties_ = nullptr;
  std::atomic<uint64_t> allocated_{0};
};

}  // namespace kp::engine
