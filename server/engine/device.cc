#include "device.h"

#include <spdlog/spdlog.h>

#include <map>
#include <string>

#include "error.h"
#include "vk_check.h"
#include "vk_handle.h"

namespace kp::engine {

std::shared_ptr<Device> Device::open(std::shared_ptr<Instance> instance, uint32_t index,
                                     const std::vector<uint32_t>& families) {
  std::shared_ptr<Device> self(new Device());
  self->instance_ = instance;
  self->physical_ = instance->physicalDevice(index);
  self->info_ = instance->deviceInfo(index);
  vkGetPhysicalDeviceMemoryProperties(self->physical_, &self->memory_);

  self->families_ = families;
  if (self->families_.empty()) self->families_.push_back(self->info_.defaultComputeFamily());

  // How many queues of each family, and which queue of its family each entry gets.
  std::map<uint32_t, uint32_t> perFamily;
  std::vector<uint32_t> slot;
  for (uint32_t family : self->families_) {
    if (family >= self->info_.queueFamilies.size()) {
      fail(ErrorCode::kInvalidArgument,
           "queue family " + std::to_string(family) + " does not exist on device " +
               std::to_string(index) + ": it has " +
               std::to_string(self->info_.queueFamilies.size()) + " queue families");
    }
    const QueueFamilyInfo& familyInfo = self->info_.queueFamilies[family];
    if (!familyInfo.compute && !familyInfo.transfer) {
      fail(ErrorCode::kInvalidArgument,
           "queue family " + std::to_string(family) + " supports neither compute nor transfer");
    }
    slot.push_back(perFamily[family]++);
    if (perFamily[family] > familyInfo.queueCount) {
      fail(ErrorCode::kInvalidArgument, "queue family " + std::to_string(family) + " has " +
                                            std::to_string(familyInfo.queueCount) +
                                            " queue(s); more were requested");
    }
  }

  std::vector<std::vector<float>> priorities;
  std::vector<VkDeviceQueueCreateInfo> queueInfos;
  for (const auto& [family, count] : perFamily) {
    priorities.emplace_back(count, 1.0f);
    VkDeviceQueueCreateInfo queueInfo{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    queueInfo.queueFamilyIndex = family;
    queueInfo.queueCount = count;
    queueInfo.pQueuePriorities = priorities.back().data();
    queueInfos.push_back(queueInfo);
  }

  VkPhysicalDeviceFeatures features{};
  features.robustBufferAccess = self->info_.robustBufferAccess;
  features.shaderFloat64 = self->info_.shaderFloat64;
  features.shaderInt64 = self->info_.shaderInt64;
  features.shaderInt16 = self->info_.shaderInt16;

  std::vector<const char*> extensions;
  if (self->info_.externalMemoryHost) {
    extensions.push_back(VK_KHR_EXTERNAL_MEMORY_EXTENSION_NAME);
    extensions.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  }

  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  info.queueCreateInfoCount = static_cast<uint32_t>(queueInfos.size());
  info.pQueueCreateInfos = queueInfos.data();
  info.pEnabledFeatures = &features;
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  vkCheck(vkCreateDevice(self->physical_, &info, nullptr, &self->device_), "vkCreateDevice");

  for (size_t i = 0; i < self->families_.size(); ++i) {
    Queue queue;
    queue.family = self->families_[i];
    vkGetDeviceQueue(self->device_, queue.family, slot[i], &queue.queue);
    queue.mutex = std::make_unique<std::mutex>();
    self->queues_.push_back(std::move(queue));
  }
  self->pipelines_ = std::make_unique<PipelineCache>(self->device_);
  if (self->info_.externalMemoryHost) {
    self->getHostPointerProperties_ = reinterpret_cast<PFN_vkGetMemoryHostPointerPropertiesEXT>(
        vkGetDeviceProcAddr(self->device_, "vkGetMemoryHostPointerPropertiesEXT"));
  }
  spdlog::debug("opened device {} ({}) with {} queue(s)", index, self->info_.name,
                self->queues_.size());
  return self;
}

Device::~Device() {
  if (device_ == VK_NULL_HANDLE) return;
  vkDeviceWaitIdle(device_);
  pipelines_.reset();
  vkDestroyDevice(device_, nullptr);
}

uint32_t Device::queueFamily(uint32_t queueIndex) const {
  if (queueIndex >= queues_.size()) {
    fail(ErrorCode::kInvalidArgument, "queue index " + std::to_string(queueIndex) +
                                          " out of range: the device was opened with " +
                                          std::to_string(queues_.size()) + " queue(s)");
  }
  return queues_[queueIndex].family;
}

void Device::submit(uint32_t queueIndex, VkCommandBuffer commandBuffer, VkFence fence) {
  queueFamily(queueIndex);
  Queue& queue = queues_[queueIndex];
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &commandBuffer;
  std::lock_guard<std::mutex> lock(*queue.mutex);
  vkCheck(vkQueueSubmit(queue.queue, 1, &submit, fence), "vkQueueSubmit");
}

uint32_t Device::memoryType(uint32_t typeBits, VkMemoryPropertyFlags required,
                            VkMemoryPropertyFlags preferred) const {
  // Among the types with every required flag: those with the preferred flags first, then the
  // one with the fewest other flags. So device-local buffers avoid host-visible (BAR) memory
  // and staging buffers avoid device-local memory, where a device offers both kinds.
  constexpr VkMemoryPropertyFlags kPlacement = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                               VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                               VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                               VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
  int best = -1;
  int bestScore = 0;
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
    if (!(typeBits & (1u << i))) continue;
    const VkMemoryPropertyFlags flags = memory_.memoryTypes[i].propertyFlags;
    if ((flags & required) != required) continue;
    const VkMemoryPropertyFlags extra = flags & kPlacement & ~(required | preferred);
    const int score = ((flags & preferred) == preferred ? 100 : 0) - __builtin_popcount(extra);
    if (best < 0 || score > bestScore) {
      best = static_cast<int>(i);
      bestScore = score;
    }
  }
  if (best >= 0) return static_cast<uint32_t>(best);
  fail(ErrorCode::kResourceExhausted,
       "device " + info_.name + " has no memory type with flags " + std::to_string(required));
}

VkMemoryPropertyFlags Device::memoryTypeFlags(uint32_t type) const {
  return memory_.memoryTypes[type].propertyFlags;
}

void Device::runOnce(const std::function<void(VkCommandBuffer)>& record, uint32_t queueIndex,
                     uint64_t timeoutNs) {
  VkCommandPoolCreateInfo poolInfo{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  poolInfo.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  poolInfo.queueFamilyIndex = queueFamily(queueIndex);
  VkCommandPool pool = VK_NULL_HANDLE;
  vkCheck(vkCreateCommandPool(device_, &poolInfo, nullptr, &pool), "vkCreateCommandPool");
  UniqueCommandPool ownedPool(device_, pool);

  VkCommandBufferAllocateInfo allocate{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  allocate.commandPool = pool;
  allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  allocate.commandBufferCount = 1;
  VkCommandBuffer commandBuffer = VK_NULL_HANDLE;
  vkCheck(vkAllocateCommandBuffers(device_, &allocate, &commandBuffer),
          "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vkCheck(vkBeginCommandBuffer(commandBuffer, &begin), "vkBeginCommandBuffer");
  record(commandBuffer);
  vkCheck(vkEndCommandBuffer(commandBuffer), "vkEndCommandBuffer");

  VkFenceCreateInfo fenceInfo{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence = VK_NULL_HANDLE;
  vkCheck(vkCreateFence(device_, &fenceInfo, nullptr, &fence), "vkCreateFence");
  UniqueFence ownedFence(device_, fence);
  submit(queueIndex, commandBuffer, fence);
  VkResult result = vkWaitForFences(device_, 1, &fence, VK_TRUE, timeoutNs);
  if (result == VK_TIMEOUT) {
    // The pool and fence must outlive the work: wait for it before they are destroyed.
    vkDeviceWaitIdle(device_);
    fail(ErrorCode::kDeadlineExceeded, "set-up command did not finish in time");
  }
  vkCheck(result, "vkWaitForFences");
}

uint32_t Device::hostPointerMemoryTypes(const void* pointer) const {
  if (!getHostPointerProperties_ || info_.importHostPointerAlignment == 0) return 0;
  VkMemoryHostPointerPropertiesEXT properties{VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
  if (getHostPointerProperties_(device_, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
                                pointer, &properties) != VK_SUCCESS) {
    return 0;
  }
  return properties.memoryTypeBits;
}

void Device::waitIdle() { vkCheck(vkDeviceWaitIdle(device_), "vkDeviceWaitIdle"); }

}  // namespace kp::engine
