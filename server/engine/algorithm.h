// A compute shader bound to tensors, as in Kompute: SPIR-V, the tensors at set 0 bindings
// 0..n-1 in order, a workgroup count, specialisation constants (constant_id i = element i) and
// push constants whose byte size is fixed at creation.
#pragma once

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/engine/constants.h"
#include "server/engine/pipeline_cache.h"
#include "server/engine/tensor.h"
#include "server/engine/vk_handle.h"

namespace kp::engine {

class Device;
struct DeviceInfo;

// Number of workgroups to dispatch in x, y, z. Zeros mean "default": x = size of the first
// tensor, y = z = 1.
struct Workgroup {
  uint32_t x = 0;
  uint32_t y = 0;
  uint32_t z = 0;
};

class Algorithm {
 public:
  // Validates the arguments against the device's limits and the module's interface (its
  // bindings, push-constant block, specialisation constant types, local size and shared
  // memory; InvalidArgument naming the field), then builds (or takes from the cache) the
  // pipeline and writes the descriptor set. The SPIR-V must already be valid: the service runs
  // SpirvValidator first.
  static std::shared_ptr<Algorithm> create(std::shared_ptr<Device> device,
                                           std::vector<std::shared_ptr<Tensor>> tensors,
                                           const std::vector<uint32_t>& spirv,
                                           Workgroup workgroup = {}, Constants specConstants = {},
                                           Constants pushConstants = {});

  Algorithm(const Algorithm&) = delete;
  Algorithm& operator=(const Algorithm&) = delete;

  const std::vector<std::shared_ptr<Tensor>>& tensors() const { return tensors_; }
  Workgroup workgroup() const { return workgroup_; }
  const Constants& specConstants() const { return specConstants_; }
  const Constants& pushConstants() const { return pushConstants_; }
  // Bytes of the pipeline's push-constant range: the constants given, or the shader's whole
  // block if that is larger (the rest is pushed as zeros).
  uint32_t pushConstantSize() const { return pushRangeBytes_; }

  // The workgroup a dispatch of this algorithm runs with `requested` (zeros take the defaults
  // as at creation); InvalidArgument naming `field` when an axis exceeds the device's
  // maxComputeWorkGroupCount.
  Workgroup resolveWorkgroup(Workgroup requested, const std::string& field) const;

  // Replaces the default push constants; the byte size must match the one fixed at creation.
  void setPushConstants(Constants pushConstants);
  // InvalidArgument unless `pushConstants` has this algorithm's push-constant byte size.
  void checkPushConstants(const Constants& pushConstants) const;

  bool isInit() const { return static_cast<bool>(descriptorPool_); }
  void destroy();
  // FailedPrecondition if the algorithm or one of its tensors was destroyed.
  void checkUsable() const;

  // Binds the pipeline and descriptor set, pushes `pushOverride` (or the defaults) and
  // dispatches `workgroupOverride` (or the algorithm's workgroup; resolved already).
  void recordDispatch(VkCommandBuffer commandBuffer, const Constants* pushOverride,
                      const Workgroup* workgroupOverride = nullptr) const;

 private:
  Algorithm() = default;

  // `requested` with defaults applied: x = size of tensors[0], y = z = 1; checked against
  // the device's maxComputeWorkGroupCount. Errors name `field`.
  static Workgroup checkedWorkgroup(Workgroup requested,
                                    const std::vector<std::shared_ptr<Tensor>>& tensors,
                                    const DeviceInfo& info, const std::string& field);

  std::shared_ptr<Device> device_;
  std::vector<std::shared_ptr<Tensor>> tensors_;
  Workgroup workgroup_;
  Constants specConstants_;
  Constants pushConstants_;
  uint32_t pushRangeBytes_ = 0;
  std::shared_ptr<const Pipeline> pipeline_;
  UniqueDescriptorPool descriptorPool_;
  VkDescriptorSet descriptorSet_ = VK_NULL_HANDLE;
};

}  // namespace kp::engine
