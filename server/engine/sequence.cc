#include "server/engine/sequence.h"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "server/engine/device.h"
#include "server/base/error.h"
#include "server/engine/vk_check.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

constexpr VkPipelineStageFlags kGpuStages =
    VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;

// Orders every op after the ones before it (in this and earlier submissions to the queue):
// writes by copies and shaders become visible to later copies and shaders.
void recordOpBarrier(VkCommandBuffer commandBuffer) {
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  vkCmdPipelineBarrier(commandBuffer, kGpuStages, kGpuStages, 0, 1, &barrier, 0, nullptr, 0,
                       nullptr);
}

// Makes the GPU's writes visible to the host once the fence signals.
void recordHostBarrier(VkCommandBuffer commandBuffer) {
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(commandBuffer, kGpuStages, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0,
                       nullptr, 0, nullptr);
}

}  // namespace

std::shared_ptr<Sequence> Sequence::create(std::shared_ptr<Device> device, uint32_t queueIndex,
                                           uint32_t totalTimestamps, uint64_t owner) {
  const uint32_t family = device->queueFamily(queueIndex);
  if (totalTimestamps > 0) {
    const auto& familyInfo = device->info().queueFamilies[family];
    KP_REQUIRE(familyInfo.timestampValidBits > 0 && device->info().timestampPeriodNs > 0,
               ErrorCode::kFailedPrecondition,
               "total_timestamps: queue family " + std::to_string(family) +
                   " cannot write timestamps on this device");
  }

  std::shared_ptr<Sequence> sequence(new Sequence());
  sequence->device_ = device;
  sequence->queueIndex_ = queueIndex;
  sequence->totalTimestamps_ = totalTimestamps;
  sequence->owner_ = owner;
  VkDevice handle = device->handle();

  VkCommandPoolCreateInfo poolInfo{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  poolInfo.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  poolInfo.queueFamilyIndex = family;
  VkCommandPool pool = VK_NULL_HANDLE;
  vkCheck(vkCreateCommandPool(handle, &poolInfo, nullptr, &pool), "vkCreateCommandPool");
  sequence->commandPool_ = UniqueCommandPool(handle, pool);

  VkCommandBufferAllocateInfo allocate{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  allocate.commandPool = pool;
  allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  allocate.commandBufferCount = 1;
  vkCheck(vkAllocateCommandBuffers(handle, &allocate, &sequence->commandBuffer_),
          "vkAllocateCommandBuffers");

  VkFenceCreateInfo fenceInfo{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence = VK_NULL_HANDLE;
  vkCheck(vkCreateFence(handle, &fenceInfo, nullptr, &fence), "vkCreateFence");
  sequence->fence_ = UniqueFence(handle, fence);

  if (totalTimestamps > 0) {
    VkQueryPoolCreateInfo queryInfo{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    queryInfo.queryType = VK_QUERY_TYPE_TIMESTAMP;
    queryInfo.queryCount = totalTimestamps;
    VkQueryPool queryPool = VK_NULL_HANDLE;
    vkCheck(vkCreateQueryPool(handle, &queryInfo, nullptr, &queryPool), "vkCreateQueryPool");
    sequence->queryPool_ = UniqueQueryPool(handle, queryPool);
  }
  return sequence;
}

Sequence::~Sequence() {
  try {
    destroy();
    return;
  } catch (const std::exception& error) {
    spdlog::error("a sequence is left allocated: {}", error.what());
  }
  // Its work may still run on a lost device: leave everything it uses allocated rather than
  // free memory the GPU may still read or write.
  commandPool_.release();
  fence_.release();
  queryPool_.release();
  new std::vector<std::shared_ptr<Op>>(std::move(ops_));  // NOLINT: deliberately leaked
}

void Sequence::requireIdle(const char* what) const {
  KP_REQUIRE(commandPool_ ? true : false, ErrorCode::kFailedPrecondition,
             std::string("cannot ") + what + ": the sequence was destroyed");
  KP_REQUIRE(
      !running_, ErrorCode::kFailedPrecondition,
      std::string("cannot ") + what + ": the sequence is running (await it first with eval_await)");
}

Sequence& Sequence::record(std::shared_ptr<Op> op) {
  KP_REQUIRE(op != nullptr, ErrorCode::kInvalidArgument, "cannot record a null op");
  base::MutexLock lock(mutex_);
  requireIdle("record an op");
  if (!recording_) {
    ops_.clear();
    recording_ = true;
  }
  ops_.push_back(std::move(op));
  commandBufferStale_ = true;
  timestampsValid_ = false;
  return *this;
}

void Sequence::clear() {
  base::MutexLock lock(mutex_);
  requireIdle("clear");
  ops_.clear();
  recording_ = false;
  commandBufferStale_ = true;
  timestampsValid_ = false;
}

void Sequence::rerecord() {
  base::MutexLock lock(mutex_);
  requireIdle("rerecord");
  for (const auto& op : ops_) op->checkUsable();
  recordCommandBuffer();
}

void Sequence::recordCommandBuffer() {
  vkCheck(vkResetCommandBuffer(commandBuffer_, 0), "vkResetCommandBuffer");
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  vkCheck(vkBeginCommandBuffer(commandBuffer_, &begin), "vkBeginCommandBuffer");
  VkQueryPool queryPool = queryPool_.get();
  if (queryPool) {
    vkCmdResetQueryPool(commandBuffer_, queryPool, 0, totalTimestamps_);
    vkCmdWriteTimestamp(commandBuffer_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queryPool, 0);
  }
  for (size_t i = 0; i < ops_.size(); ++i) {
    recordOpBarrier(commandBuffer_);
    ops_[i]->record(commandBuffer_);
    if (queryPool && i + 1 < totalTimestamps_) {
      vkCmdWriteTimestamp(commandBuffer_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queryPool,
                          static_cast<uint32_t>(i + 1));
    }
  }
  recordHostBarrier(commandBuffer_);
  vkCheck(vkEndCommandBuffer(commandBuffer_), "vkEndCommandBuffer");
  commandBufferStale_ = false;
  recording_ = false;
  timestampsValid_ = false;
}

void Sequence::eval() {
  evalAsync();
  evalAwait(UINT64_MAX);
}

void Sequence::evalAsync(const std::function<void()>& beforeSubmit) {
  base::MutexLock lock(mutex_);
  // A thread may still be returning from the previous evaluation's fence wait. Wait for it
  // before checking the state: the wait releases the mutex, so another evalAsync could start
  // an evaluation meanwhile, and a check made before the wait would let this call submit the
  // running command buffer a second time.
  while (awaiters_ != 0) noAwaiters_.wait(mutex_);
  requireIdle("evaluate");
  checkOpsUsable();
  if (beforeSubmit) beforeSubmit();
  if (commandBufferStale_ || recording_) recordCommandBuffer();
  for (const auto& op : ops_) op->preEval();
  VkFence fence = fence_.get();
  vkCheck(vkResetFences(device_->handle(), 1, &fence), "vkResetFences");
  ticket_ = device_->submit(queueIndex_, commandBuffer_, fence, owner_);
  running_ = true;
}

VkResult Sequence::waitForFence(uint64_t timeoutNs) {
  VkFence fence = fence_.get();
  ++awaiters_;
  mutex_.unlock();
  VkResult result = device_->waitForFence(fence, timeoutNs);
  mutex_.lock();
  if (--awaiters_ == 0) noAwaiters_.notifyAll();
  return result;
}

bool Sequence::evalAwait(uint64_t timeoutNs) {
  base::MutexLock lock(mutex_);
  if (!running_) return true;
  VkResult result = waitForFence(timeoutNs);
  if (result == VK_TIMEOUT) return false;
  if (result == VK_ERROR_DEVICE_LOST) device_->failLost();
  vkCheck(result, "vkWaitForFences");
  if (!running_) return true;  // another thread completed this evaluation
  running_ = false;
  device_->completed(std::exchange(ticket_, 0));
  timestampsValid_ = true;
  for (const auto& op : ops_) op->postEval();
  return true;
}

bool Sequence::isRunning() const {
  base::MutexLock lock(mutex_);
  return running_;
}

bool Sequence::isExecuting() const {
  base::MutexLock lock(mutex_);
  if (!running_) return false;
  return vkGetFenceStatus(device_->handle(), fence_.get()) == VK_NOT_READY;
}

bool Sequence::isAwaited() const {
  base::MutexLock lock(mutex_);
  return awaiters_ > 0;
}

bool Sequence::isRecording() const {
  base::MutexLock lock(mutex_);
  return recording_;
}

bool Sequence::isInit() const {
  base::MutexLock lock(mutex_);
  return static_cast<bool>(commandPool_);
}

void Sequence::checkOpsUsable() const {
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& op = *ops_[i];
    base::withContext([i] { return "ops[" + std::to_string(i) + "]"; }, [&] { op.checkUsable(); });
  }
}

std::vector<std::shared_ptr<Op>> Sequence::ops() const {
  base::MutexLock lock(mutex_);
  return ops_;
}

void Sequence::destroy(uint64_t timeoutNs) {
  base::MutexLock lock(mutex_);
  // Each wait below releases the mutex, and another thread may start an evaluation meanwhile:
  // check again after every wait, so nothing is freed while the GPU may still use it.
  while (commandPool_ && (running_ || awaiters_ > 0)) {
    if (!running_) {
      while (awaiters_ != 0) noAwaiters_.wait(mutex_);
      continue;
    }
    const VkResult result = waitForFence(timeoutNs);
    if (result == VK_TIMEOUT) {
      fail(ErrorCode::kDeadlineExceeded,
           "cannot destroy the sequence: its evaluation is still running");
    }
    if (!running_) continue;  // another thread completed it meanwhile
    if (result == VK_ERROR_DEVICE_LOST &&
        vkGetFenceStatus(device_->handle(), fence_.get()) == VK_NOT_READY) {
      fail(ErrorCode::kDeviceLost,
           "cannot destroy the sequence: its evaluation may still run on " + device_->describe() +
               ", which is out of service (" + device_->lostReason() + ")");
    }
    running_ = false;
    device_->completed(std::exchange(ticket_, 0));
  }
  if (!commandPool_) return;
  ops_.clear();
  queryPool_.reset();
  fence_.reset();
  commandBuffer_ = VK_NULL_HANDLE;
  commandPool_.reset();
}

bool Sequence::hasTimestamps() const {
  base::MutexLock lock(mutex_);
  return queryPool_ && timestampsValid_ && !running_;
}

std::vector<uint64_t> Sequence::getTimestamps() const {
  base::MutexLock lock(mutex_);
  KP_REQUIRE(static_cast<bool>(queryPool_), ErrorCode::kFailedPrecondition,
             "timestamps are not enabled: create the sequence with total_timestamps > 0");
  KP_REQUIRE(timestampsValid_ && !running_, ErrorCode::kFailedPrecondition,
             "no timestamps: the sequence has no completed evaluation of its current ops");
  const auto count = static_cast<uint32_t>(
      std::min<size_t>(totalTimestamps_, ops_.size() + 1));
  std::vector<uint64_t> values(count);
  device_->check(vkGetQueryPoolResults(device_->handle(), queryPool_.get(), 0, count,
                                       count * sizeof(uint64_t), values.data(), sizeof(uint64_t),
                                       VK_QUERY_RESULT_64_BIT),
                 "vkGetQueryPoolResults");
  return values;
}

}  // namespace kp::engine
