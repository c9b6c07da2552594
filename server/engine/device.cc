#include "server/engine/device.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <string>

#include "server/base/error.h"
#include "server/engine/fault_injection.h"
#include "server/engine/vk_check.h"
#include "server/engine/vk_handle.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;

using Clock = std::chrono::steady_clock;

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
    queue.mutex = std::make_unique<base::Mutex>();
    self->queues_.push_back(std::move(queue));
  }
  {
    base::MutexLock track(self->trackMutex_);
    self->progressAt_.assign(self->queues_.size(), Clock::now());
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
  // Owners destroy a device only once it is idle (see busy()) or lost for real; either way
  // this wait returns at once.
  vkDeviceWaitIdle(device_);
  orphans_.clear();
  pipelines_.reset();
  vkDestroyDevice(device_, nullptr);
}

std::string Device::describe() const {
  return "device " + std::to_string(info_.index) + " (" + info_.name + ")";
}

void Device::markLost(const std::string& reason) {
  {
    base::MutexLock lock(lostMutex_);
    if (lost_.load()) return;
    lostReason_ = reason;
    lost_.store(true, std::memory_order_release);
  }
  spdlog::warn("{} is out of service: {}", describe(), reason);
}

std::string Device::lostReason() const {
  base::MutexLock lock(lostMutex_);
  return lostReason_;
}

void Device::failLost() const {
  const std::string reason = lostReason();
  fail(ErrorCode::kDeviceLost, reason.empty() ? describe() + " was lost" : reason);
}

void Device::check(VkResult result, const char* what) {
  if (result == VK_ERROR_DEVICE_LOST) {
    markLost(describe() + " was lost: " + what + " reported VK_ERROR_DEVICE_LOST");
    failLost();
  }
  vkCheck(result, what);
}

uint32_t Device::queueFamily(uint32_t queueIndex) const {
  if (queueIndex >= queues_.size()) {
    fail(ErrorCode::kInvalidArgument, "queue index " + std::to_string(queueIndex) +
                                          " out of range: the device was opened with " +
                                          std::to_string(queues_.size()) + " queue(s)");
  }
  return queues_[queueIndex].family;
}

uint64_t Device::submit(uint32_t queueIndex, VkCommandBuffer commandBuffer, VkFence fence,
                        uint64_t owner) {
  queueFamily(queueIndex);
  if (isLost()) failLost();
  Queue& queue = queues_[queueIndex];
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &commandBuffer;
  base::MutexLock lock(*queue.mutex);
  const VkResult result = injectFault(FaultPoint::kSubmit)
                              ? VK_ERROR_DEVICE_LOST
                              : vkQueueSubmit(queue.queue, 1, &submit, fence);
  check(result, "vkQueueSubmit");
  base::MutexLock track(trackMutex_);
  const uint64_t ticket = nextTicket_++;
  const auto now = Clock::now();
  Submission submission{queueIndex, fence, now, owner, false};
  busy_.begin(now);
  if (spareNodes_.empty()) {
    inFlight_.emplace(ticket, std::move(submission));
  } else {
    auto node = std::move(spareNodes_.back());
    spareNodes_.pop_back();
    node.key() = ticket;
    node.mapped() = std::move(submission);
    inFlight_.insert(std::move(node));
  }
  return ticket;
}

void Device::completed(uint64_t ticket) {
  if (ticket == 0) return;
  base::MutexLock lock(trackMutex_);
  auto found = inFlight_.find(ticket);
  if (found == inFlight_.end()) return;
  if (!found->second.finished) noteFinished(found->second, Clock::now());
  spareNodes_.push_back(inFlight_.extract(found));
}

void Device::noteFinished(Submission& submission, Clock::time_point now,
                          Clock::time_point progress) {
  submission.finished = true;
  progressAt_[submission.queue] = progress;
  busy_.end(now);
}

VkResult Device::waitForFence(VkFence fence, uint64_t timeoutNs) {
  if (injectFault(FaultPoint::kWait)) {
    markLost(describe() + " was lost: vkWaitForFences reported VK_ERROR_DEVICE_LOST");
    return VK_ERROR_DEVICE_LOST;
  }
  const auto start = Clock::now();
  while (true) {
    if (isLost()) return VK_ERROR_DEVICE_LOST;
    const auto elapsed = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    const uint64_t left = timeoutNs > elapsed ? timeoutNs - elapsed : 0;
    const VkResult result =
        vkWaitForFences(device_, 1, &fence, VK_TRUE, std::min(left, kWaitSliceNs));
    if (result == VK_ERROR_DEVICE_LOST) {
      markLost(describe() + " was lost: vkWaitForFences reported VK_ERROR_DEVICE_LOST");
    }
    if (result != VK_TIMEOUT || left <= kWaitSliceNs) return result;
  }
}

bool Device::fencePending(VkFence fence) const {
  return vkGetFenceStatus(device_, fence) == VK_NOT_READY;
}

void Device::reapOrphans() {
  for (auto it = orphans_.begin(); it != orphans_.end();) {
    if (fencePending(it->fence.get())) {
      ++it;
      continue;
    }
    auto found = inFlight_.find(it->ticket);
    if (found != inFlight_.end()) {
      if (!found->second.finished) noteFinished(found->second, Clock::now());
      inFlight_.erase(found);
    }
    it = orphans_.erase(it);
  }
}

Device::Stall Device::stall(Clock::time_point now) {
  base::MutexLock lock(trackMutex_);
  Stall worst;
  std::vector<bool> seen(queues_.size(), false);
  for (auto& [ticket, submission] : inFlight_) {
    if (submission.finished) continue;
    if (!fencePending(submission.fence)) {
      noteFinished(submission, Clock::now(), now);
      continue;
    }
    if (seen[submission.queue]) continue;  // only the oldest pending one of each queue
    seen[submission.queue] = true;
    worst.pending = true;
    const auto since = std::max(submission.submitted, progressAt_[submission.queue]);
    const auto stalled = std::chrono::duration_cast<std::chrono::nanoseconds>(now - since);
    if (stalled >= worst.stalled) {
      worst.stalled = stalled;
      worst.queue = submission.queue;
      worst.owner = submission.owner;
    }
  }
  return worst;
}

uint32_t Device::countPending(uint32_t limit) {
  uint32_t pending = 0;
  for (auto& [ticket, submission] : inFlight_) {
    if (submission.finished) continue;
    if (fencePending(submission.fence)) {
      if (++pending == limit) break;
      continue;
    }
    noteFinished(submission, Clock::now());
  }
  return pending;
}

bool Device::busy() {
  base::MutexLock lock(trackMutex_);
  reapOrphans();
  return countPending(1) > 0;
}

uint32_t Device::pendingSubmissions() {
  base::MutexLock lock(trackMutex_);
  return countPending(UINT32_MAX);
}

Device::Activity Device::activity() {
  base::MutexLock lock(trackMutex_);
  Activity activity;
  std::vector<bool> running(queues_.size(), false);
  for (auto& [ticket, submission] : inFlight_) {
    if (submission.finished) continue;
    if (!fencePending(submission.fence)) {
      noteFinished(submission, Clock::now());
      continue;
    }
    if (running[submission.queue]) {
      ++activity.queued;
    } else {
      running[submission.queue] = true;
      ++activity.running;
    }
  }
  return activity;
}

std::chrono::nanoseconds Device::busyTime() {
  base::MutexLock lock(trackMutex_);
  countPending(UINT32_MAX);
  return busy_.busy(Clock::now());
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
                     uint64_t timeoutNs, std::vector<std::shared_ptr<void>> keepAlive) {
  if (isLost()) failLost();
  {
    base::MutexLock lock(trackMutex_);
    reapOrphans();
  }
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
  const uint64_t ticket = submit(queueIndex, commandBuffer, fence);
  const VkResult result = waitForFence(fence, timeoutNs);
  if (result == VK_SUCCESS) {
    completed(ticket);
    return;
  }
  // The work may still run: what it uses stays allocated until its fence signals.
  {
    base::MutexLock lock(trackMutex_);
    orphans_.push_back({std::move(ownedPool), std::move(ownedFence), ticket, std::move(keepAlive)});
  }
  if (result == VK_TIMEOUT) {
    fail(ErrorCode::kDeadlineExceeded,
         "set-up command (e.g. a new tensor's first upload) did not finish within " +
             std::to_string(timeoutNs / 1'000'000) + " ms on " + describe());
  }
  if (result == VK_ERROR_DEVICE_LOST) failLost();
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

void Device::waitIdle() {
  if (isLost()) failLost();
  check(vkDeviceWaitIdle(device_), "vkDeviceWaitIdle");
}

}  // namespace kp::engine
