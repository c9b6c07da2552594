#include "server/engine/buffer.h"

#include <string>
#include <utility>

#include "server/engine/device.h"
#include "server/base/error.h"
#include "server/engine/fault_injection.h"
#include "server/engine/vk_check.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;

Buffer::Buffer(Device& device, VkDeviceSize size, VkBufferUsageFlags usage,
               VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred)
    : size_(size) {
  VkDevice handle = device.handle();
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = size;
  info.usage = usage;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buffer = VK_NULL_HANDLE;
  vkCheck(vkCreateBuffer(handle, &info, nullptr, &buffer), "vkCreateBuffer");
  buffer_ = UniqueBuffer(handle, buffer);

  if (required & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    required |= VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  }
  VkMemoryRequirements requirements{};
  vkGetBufferMemoryRequirements(handle, buffer, &requirements);
  VkMemoryAllocateInfo allocate{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  // Every buffer has memory of its own: say so, so that drivers can place it best (e.g. large
  // pages for large buffers).
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  dedicated.buffer = buffer;
  if (device.info().apiVersion >= VK_API_VERSION_1_1) allocate.pNext = &dedicated;
  allocate.allocationSize = requirements.size;
  allocate.memoryTypeIndex = device.memoryType(requirements.memoryTypeBits, required, preferred);
  VkDeviceMemory memory = VK_NULL_HANDLE;
  const VkResult result = injectFault(FaultPoint::kAllocate)
                              ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                              : vkAllocateMemory(handle, &allocate, nullptr, &memory);
  if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY) {
    fail(ErrorCode::kResourceExhausted,
         std::string("out of device memory: ") + device.describe() + " could not allocate " +
             std::to_string(requirements.size) + " bytes (" + vkResultName(result) + "; " +
             std::to_string(device.allocatedBytes()) + " bytes allocated by kpd on it now)");
  }
  device.check(result, "vkAllocateMemory");
  memory_ = UniqueMemory(handle, memory);
  vkCheck(vkBindBufferMemory(handle, buffer, memory, 0), "vkBindBufferMemory");

  if (device.memoryTypeFlags(allocate.memoryTypeIndex) & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    vkCheck(vkMapMemory(handle, memory, 0, VK_WHOLE_SIZE, 0, &mapped_), "vkMapMemory");
  }
  allocated_ = requirements.size;
  counter_ = &device.allocationCounter();
  counter_->fetch_add(allocated_);
}

Buffer Buffer::importHost(Device& device, void* pointer, VkDeviceSize size,
                          VkBufferUsageFlags usage) {
  const uint64_t alignment = device.info().importHostPointerAlignment;
  KP_REQUIRE(alignment > 0, ErrorCode::kFailedPrecondition,
             "the device cannot import host memory (no VK_EXT_external_memory_host)");
  KP_REQUIRE(reinterpret_cast<uintptr_t>(pointer) % alignment == 0 && size % alignment == 0,
             ErrorCode::kInvalidArgument,
             "host memory to import must be aligned to " + std::to_string(alignment) + " bytes");
  const uint32_t importable = device.hostPointerMemoryTypes(pointer);
  KP_REQUIRE(importable != 0, ErrorCode::kFailedPrecondition,
             "the device cannot import this host memory");

  Buffer buffer;
  VkDevice handle = device.handle();
  VkExternalMemoryBufferCreateInfo external{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
  external.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.pNext = &external;
  info.size = size;
  info.usage = usage;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer raw = VK_NULL_HANDLE;
  vkCheck(vkCreateBuffer(handle, &info, nullptr, &raw), "vkCreateBuffer");
  buffer.buffer_ = UniqueBuffer(handle, raw);

  VkMemoryRequirements requirements{};
  vkGetBufferMemoryRequirements(handle, raw, &requirements);
  KP_REQUIRE(requirements.size <= size, ErrorCode::kFailedPrecondition,
             "the device needs more memory than the host region to import");
  VkImportMemoryHostPointerInfoEXT import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT};
  import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
  import.pHostPointer = pointer;
  VkMemoryAllocateInfo allocate{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  allocate.pNext = &import;
  allocate.allocationSize = size;
  allocate.memoryTypeIndex =
      device.memoryType(requirements.memoryTypeBits & importable,
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  VkDeviceMemory memory = VK_NULL_HANDLE;
  vkCheck(vkAllocateMemory(handle, &allocate, nullptr, &memory), "vkAllocateMemory (import)");
  buffer.memory_ = UniqueMemory(handle, memory);
  vkCheck(vkBindBufferMemory(handle, raw, memory, 0), "vkBindBufferMemory");
  buffer.size_ = size;
  buffer.mapped_ = pointer;  // the host already has it mapped
  return buffer;
}

Buffer::~Buffer() { release(); }

void Buffer::release() {
  if (counter_) counter_->fetch_sub(allocated_);
  counter_ = nullptr;
  allocated_ = 0;
  mapped_ = nullptr;  // unmapped implicitly when the memory is freed
  buffer_.reset();
  memory_.reset();
}

Buffer::Buffer(Buffer&& other) noexcept
    : memory_(std::move(other.memory_)),
      buffer_(std::move(other.buffer_)),
      size_(std::exchange(other.size_, 0)),
      allocated_(std::exchange(other.allocated_, 0)),
      mapped_(std::exchange(other.mapped_, nullptr)),
      counter_(std::exchange(other.counter_, nullptr)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    memory_ = std::move(other.memory_);
    buffer_ = std::move(other.buffer_);
    size_ = std::exchange(other.size_, 0);
    allocated_ = std::exchange(other.allocated_, 0);
    mapped_ = std::exchange(other.mapped_, nullptr);
    counter_ = std::exchange(other.counter_, nullptr);
  }
  return *this;
}

}  // namespace kp::engine
