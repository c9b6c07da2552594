#include "server/engine/algorithm.h"

#include <algorithm>
#include <string>

#include "server/base/error.h"
#include "server/engine/device.h"
#include "server/engine/shader/interface_check.h"
#include "server/engine/shader/spirv_interface.h"
#include "server/engine/shader/unroll_hints.h"
#include "server/engine/vk_check.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;

std::shared_ptr<Algorithm> Algorithm::create(std::shared_ptr<Device> device,
                                             std::vector<std::shared_ptr<Tensor>> tensors,
                                             const std::vector<uint32_t>& spirv,
                                             Workgroup workgroup, Constants specConstants,
                                             Constants pushConstants) {
  const DeviceInfo& info = device->info();
  KP_REQUIRE(!spirv.empty(), ErrorCode::kInvalidArgument, "spirv is empty");
  KP_REQUIRE(tensors.size() <= info.maxPerStageDescriptorStorageBuffers,
             ErrorCode::kInvalidArgument,
             "tensors: " + std::to_string(tensors.size()) + " bound, the device allows " +
                 std::to_string(info.maxPerStageDescriptorStorageBuffers));
  for (size_t i = 0; i < tensors.size(); ++i) {
    KP_REQUIRE(tensors[i] != nullptr, ErrorCode::kInvalidArgument,
               "tensors[" + std::to_string(i) + "] is null");
    KP_REQUIRE(tensors[i]->isInit(), ErrorCode::kFailedPrecondition,
               "tensors[" + std::to_string(i) + "] was destroyed");
    KP_REQUIRE(&tensors[i]->device() == device.get(), ErrorCode::kInvalidArgument,
               "tensors[" + std::to_string(i) + "] belongs to another device");
    KP_REQUIRE(tensors[i]->byteSize() <= info.maxStorageBufferRange, ErrorCode::kInvalidArgument,
               "tensors[" + std::to_string(i) + "] has " + std::to_string(tensors[i]->byteSize()) +
                   " bytes; the device binds at most " +
                   std::to_string(info.maxStorageBufferRange) +
                   " bytes per storage buffer (maxStorageBufferRange)");
    for (size_t j = 0; j < i; ++j) {
      KP_REQUIRE(tensors[j] != tensors[i], ErrorCode::kInvalidArgument,
                 "tensors[" + std::to_string(i) + "] is the same tensor as tensors[" +
                     std::to_string(j) + "]: a tensor can be bound only once");
    }
  }

  workgroup = checkedWorkgroup(workgroup, tensors, info, "workgroup");
  KP_REQUIRE(specConstants.bytes.size() % elementSize(specConstants.type) == 0,
             ErrorCode::kInvalidArgument,
             "spec_constants: " + std::to_string(specConstants.bytes.size()) +
                 " bytes is not a whole number of " + dataTypeName(specConstants.type) + " values");
  KP_REQUIRE(pushConstants.bytes.size() % elementSize(pushConstants.type) == 0,
             ErrorCode::kInvalidArgument,
             "push_constants: " + std::to_string(pushConstants.bytes.size()) +
                 " bytes is not a whole number of " + dataTypeName(pushConstants.type) + " values");
  KP_REQUIRE(pushConstants.bytes.size() <= info.maxPushConstantsSize, ErrorCode::kInvalidArgument,
             "push_constants: " + std::to_string(pushConstants.bytes.size()) +
                 " bytes exceeds the device's maxPushConstantsSize of " +
                 std::to_string(info.maxPushConstantsSize) + " bytes");

  // The module's descriptors, push-constant block, specialisation constants, local size and
  // shared memory must fit what is bound and the device's limits.
  const SpirvInterface interface = inspectInterface(spirv, specConstants);
  checkInterface(interface, info, tensors.size(), specConstants);

  std::shared_ptr<Algorithm> algorithm(new Algorithm());
  algorithm->device_ = device;
  algorithm->tensors_ = std::move(tensors);
  algorithm->workgroup_ = workgroup;
  algorithm->specConstants_ = std::move(specConstants);
  algorithm->pushConstants_ = std::move(pushConstants);
  // The push-constant range covers the shader's whole block, even when fewer constants are
  // given (Kompute accepts that): recordDispatch pads them with zeros.
  algorithm->pushRangeBytes_ = static_cast<uint32_t>(std::max<uint64_t>(
      algorithm->pushConstants_.bytes.size(), (interface.pushConstantBytes + 3) / 4 * 4));
  const auto bindings = static_cast<uint32_t>(algorithm->tensors_.size());
  // Loop-unrolling hints go before the driver sees the module: it follows them without bound.
  std::vector<uint32_t> module = spirv;
  dropUnrollHints(module);
  algorithm->pipeline_ = device->pipelines().get(module, bindings, algorithm->pushConstantSize(),
                                                 algorithm->specConstants_);

  VkDescriptorPoolSize poolSize{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, bindings > 0 ? bindings : 1};
  VkDescriptorPoolCreateInfo poolInfo{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  poolInfo.maxSets = 1;
  poolInfo.poolSizeCount = 1;
  poolInfo.pPoolSizes = &poolSize;
  VkDescriptorPool pool = VK_NULL_HANDLE;
  vkCheck(vkCreateDescriptorPool(device->handle(), &poolInfo, nullptr, &pool),
          "vkCreateDescriptorPool");
  algorithm->descriptorPool_ = UniqueDescriptorPool(device->handle(), pool);

  VkDescriptorSetLayout setLayout = algorithm->pipeline_->setLayout.get();
  VkDescriptorSetAllocateInfo allocate{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  allocate.descriptorPool = pool;
  allocate.descriptorSetCount = 1;
  allocate.pSetLayouts = &setLayout;
  vkCheck(vkAllocateDescriptorSets(device->handle(), &allocate, &algorithm->descriptorSet_),
          "vkAllocateDescriptorSets");

  std::vector<VkDescriptorBufferInfo> bufferInfos(bindings);
  std::vector<VkWriteDescriptorSet> writes(bindings);
  for (uint32_t i = 0; i < bindings; ++i) {
    bufferInfos[i] = {algorithm->tensors_[i]->primaryBuffer(), 0, VK_WHOLE_SIZE};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = algorithm->descriptorSet_;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &bufferInfos[i];
  }
  if (bindings > 0) {
    vkUpdateDescriptorSets(device->handle(), bindings, writes.data(), 0, nullptr);
  }
  return algorithm;
}

Workgroup Algorithm::checkedWorkgroup(Workgroup workgroup,
                                      const std::vector<std::shared_ptr<Tensor>>& tensors,
                                      const DeviceInfo& info, const std::string& field) {
  if (workgroup.x == 0) {
    KP_REQUIRE(!tensors.empty(), ErrorCode::kInvalidArgument,
               field + ".x is 0 and there is no tensor to take the default size from");
    KP_REQUIRE(tensors[0]->size() <= UINT32_MAX, ErrorCode::kInvalidArgument,
               field + ".x defaults to the size of tensors[0] (" +
                   std::to_string(tensors[0]->size()) + "), which does not fit in 32 bits");
    workgroup.x = static_cast<uint32_t>(tensors[0]->size());
  }
  if (workgroup.y == 0) workgroup.y = 1;
  if (workgroup.z == 0) workgroup.z = 1;
  const uint32_t counts[3] = {workgroup.x, workgroup.y, workgroup.z};
  const char* axes[3] = {"x", "y", "z"};
  for (int i = 0; i < 3; ++i) {
    KP_REQUIRE(counts[i] <= info.maxWorkGroupCount[i], ErrorCode::kInvalidArgument,
               field + "." + axes[i] + " = " + std::to_string(counts[i]) +
                   " exceeds the device's maxComputeWorkGroupCount[" + std::to_string(i) +
                   "] = " + std::to_string(info.maxWorkGroupCount[i]));
  }
  return workgroup;
}

Workgroup Algorithm::resolveWorkgroup(Workgroup requested, const std::string& field) const {
  return checkedWorkgroup(requested, tensors_, device_->info(), field);
}

void Algorithm::checkPushConstants(const Constants& pushConstants) const {
  KP_REQUIRE(pushConstants.bytes.size() == pushConstants_.bytes.size(), ErrorCode::kInvalidArgument,
             "push_constants: " + std::to_string(pushConstants.bytes.size()) +
                 " bytes given, but the algorithm was created with " +
                 std::to_string(pushConstants_.bytes.size()) + " bytes of push constants");
}

void Algorithm::setPushConstants(Constants pushConstants) {
  checkPushConstants(pushConstants);
  pushConstants_ = std::move(pushConstants);
}

void Algorithm::destroy() {
  descriptorSet_ = VK_NULL_HANDLE;
  descriptorPool_.reset();
  pipeline_.reset();
  tensors_.clear();
}

void Algorithm::checkUsable() const {
  KP_REQUIRE(isInit(), ErrorCode::kFailedPrecondition, "the algorithm was destroyed");
  for (size_t i = 0; i < tensors_.size(); ++i) {
    KP_REQUIRE(tensors_[i]->isInit(), ErrorCode::kFailedPrecondition,
               "the algorithm's tensors[" + std::to_string(i) + "] was destroyed");
  }
}

void Algorithm::recordDispatch(VkCommandBuffer commandBuffer, const Constants* pushOverride,
                               const Workgroup* workgroupOverride) const {
  vkCmdBindPipeline(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_->pipeline.get());
  vkCmdBindDescriptorSets(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_->layout.get(), 0,
                          1, &descriptorSet_, 0, nullptr);
  const Constants& push = pushOverride ? *pushOverride : pushConstants_;
  if (pushRangeBytes_ > 0) {
    std::vector<uint8_t> bytes(pushRangeBytes_, 0);  // what the constants do not cover: zeros
    std::copy(push.bytes.begin(), push.bytes.end(), bytes.begin());
    vkCmdPushConstants(commandBuffer, pipeline_->layout.get(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                       pushRangeBytes_, bytes.data());
  }
  const Workgroup& workgroup = workgroupOverride ? *workgroupOverride : workgroup_;
  vkCmdDispatch(commandBuffer, workgroup.x, workgroup.y, workgroup.z);
}

}  // namespace kp::engine
