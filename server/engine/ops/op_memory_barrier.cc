#include "server/engine/ops/op_memory_barrier.h"

#include <string>

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

constexpr VkAccessFlags kKnownAccess =
    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
    VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT |
    VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT;
constexpr VkPipelineStageFlags kKnownStages =
    VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
    VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT |
    VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;

// The access bits a stage mask supports (Vulkan's "supported access types"; a barrier with
// any other bit is invalid usage). The memory bits are valid with every stage.
VkAccessFlags supportedAccess(VkPipelineStageFlags stages) {
  if (stages & VK_PIPELINE_STAGE_ALL_COMMANDS_BIT) return kKnownAccess;
  VkAccessFlags access = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT;
  if (stages & VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT) {
    access |= VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  }
  if (stages & VK_PIPELINE_STAGE_TRANSFER_BIT) {
    access |= VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  }
  if (stages & VK_PIPELINE_STAGE_HOST_BIT) {
    access |= VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT;
  }
  return access;
}

// The stages that support `access` (its shader, transfer and host bits).
VkPipelineStageFlags stagesFor(VkAccessFlags access) {
  VkPipelineStageFlags stages = 0;
  if (access & (VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT)) {
    stages |= VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  }
  if (access & (VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT)) {
    stages |= VK_PIPELINE_STAGE_TRANSFER_BIT;
  }
  if (access & (VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT)) {
    stages |= VK_PIPELINE_STAGE_HOST_BIT;
  }
  return stages;
}

}  // namespace

OpMemoryBarrier::OpMemoryBarrier(std::vector<std::shared_ptr<Tensor>> tensors,
                                 VkAccessFlags srcAccessMask, VkAccessFlags dstAccessMask,
                                 VkPipelineStageFlags srcStageMask,
                                 VkPipelineStageFlags dstStageMask, bool barrierOnPrimary)
    : tensors_(std::move(tensors)),
      srcAccessMask_(srcAccessMask),
      dstAccessMask_(dstAccessMask),
      srcStageMask_(srcStageMask),
      dstStageMask_(dstStageMask),
      barrierOnPrimary_(barrierOnPrimary) {
  KP_REQUIRE(!tensors_.empty(), ErrorCode::kInvalidArgument, "OpMemoryBarrier: tensors is empty");
  checkTensors(name(), tensors_);
  KP_REQUIRE(((srcAccessMask | dstAccessMask) & ~kKnownAccess) == 0, ErrorCode::kInvalidArgument,
             "OpMemoryBarrier: access masks may use only shader, transfer, host and memory bits");
  KP_REQUIRE(srcStageMask != 0 && dstStageMask != 0 &&
                 ((srcStageMask | dstStageMask) & ~kKnownStages) == 0,
             ErrorCode::kInvalidArgument,
             "OpMemoryBarrier: stage masks must be non-zero and use only top-of-pipe, compute, "
             "transfer, bottom-of-pipe, host and all-commands bits");
  // Access bits that the stage mask does not support (shader access needs the compute stage,
  // transfer access the transfer stage, host access the host stage) make an invalid barrier,
  // which Kompute records as given (its own tests do). kpd accepts them and adds the stages
  // they need: the barrier is valid, and orders at least what was asked.
  srcStageMask_ |= stagesFor(srcAccessMask & ~supportedAccess(srcStageMask));
  dstStageMask_ |= stagesFor(dstAccessMask & ~supportedAccess(dstStageMask));
  if (!barrierOnPrimary_) {
    for (const auto& tensor : tensors_) {
      KP_REQUIRE(tensor->tensorType() == TensorType::kDevice, ErrorCode::kInvalidArgument,
                 "OpMemoryBarrier: barrier_on_primary is false but a tensor has no staging buffer "
                 "(only device tensors have one)");
    }
  }
}

void OpMemoryBarrier::checkUsable() const { checkTensors(name(), tensors_); }

void OpMemoryBarrier::record(VkCommandBuffer commandBuffer) const {
  std::vector<VkBufferMemoryBarrier> barriers;
  for (const auto& tensor : tensors_) {
    VkBufferMemoryBarrier barrier{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
    barrier.srcAccessMask = srcAccessMask_;
    barrier.dstAccessMask = dstAccessMask_;
    barrier.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    barrier.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    barrier.buffer = barrierOnPrimary_ ? tensor->primaryBuffer() : tensor->stagingBuffer();
    barrier.offset = 0;
    barrier.size = VK_WHOLE_SIZE;
    barriers.push_back(barrier);
  }
  vkCmdPipelineBarrier(commandBuffer, srcStageMask_, dstStageMask_, 0, 0, nullptr,
                       static_cast<uint32_t>(barriers.size()), barriers.data(), 0, nullptr);
}

}  // namespace kp::engine
