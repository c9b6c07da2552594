// A VkBuffer with its own VkDeviceMemory, persistently mapped when host-visible.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>

#include "server/engine/vk_handle.h"

namespace kp::engine {

class Device;

class Buffer {
 public:
  Buffer() = default;
  // Allocates `size` bytes in a memory type with all `required` flags (and `preferred` ones
  // when available). Host-visible memory must also be host-coherent and is mapped.
  Buffer(Device& device, VkDeviceSize size, VkBufferUsageFlags usage,
         VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred = 0);
  // A buffer over `size` bytes of host memory at `pointer`, imported with
  // VK_EXT_external_memory_host: the GPU reads and writes those pages directly. Both must be
  // aligned to DeviceInfo::importHostPointerAlignment, and the memory must outlive the buffer.
  // Throws Error when the device cannot import it.
  static Buffer importHost(Device& device, void* pointer, VkDeviceSize size,
                           VkBufferUsageFlags usage);
  ~Buffer();

  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_.get(); }
  VkDeviceSize size() const { return size_; }
  // Host address of the buffer's bytes; nullptr when not host-visible.
  void* mapped() const { return mapped_; }
  explicit operator bool() const { return static_cast<bool>(buffer_); }

 private:
  void release();

  UniqueMemory memory_;
  UniqueBuffer buffer_;
  VkDeviceSize size_ = 0;
  VkDeviceSize allocated_ = 0;
  void* mapped_ = nullptr;
  std::atomic<uint64_t>* counter_ = nullptr;
};

}  // namespace kp::engine
