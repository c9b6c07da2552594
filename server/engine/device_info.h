// What a physical device offers: read once from Vulkan, then plain data.
#pragma once

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace kp::engine {

struct QueueFamilyInfo {
  uint32_t index = 0;
  uint32_t queueCount = 0;
  bool graphics = false;
  bool compute = false;
  bool transfer = false;
  uint32_t timestampValidBits = 0;  // 0: this family cannot write timestamps
};

struct MemoryHeapInfo {
  uint64_t size = 0;
  bool deviceLocal = false;
};

struct DeviceInfo {
  uint32_t index = 0;          // position in the instance's device list
  std::string name;            // e.g. "NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15.0.6, 256 bits)"
  std::string type;            // discrete_gpu, integrated_gpu, virtual_gpu, cpu, other
  uint32_t vendorId = 0;
  uint32_t deviceId = 0;
  uint32_t apiVersion = 0;     // VK_MAKE_API_VERSION encoding
  uint32_t driverVersion = 0;  // vendor encoding
  std::string driverName;      // from VkPhysicalDeviceDriverProperties, if known
  std::string driverInfo;

  std::array<uint32_t, 3> maxWorkGroupCount{};
  std::array<uint32_t, 3> maxWorkGroupSize{};
  uint32_t maxWorkGroupInvocations = 0;
  uint32_t maxPushConstantsSize = 0;
  uint64_t maxStorageBufferRange = 0;
  uint32_t maxBoundDescriptorSets = 0;
  uint32_t maxPerStageDescriptorStorageBuffers = 0;
  uint32_t maxComputeSharedMemorySize = 0;
  uint64_t maxMemoryAllocationSize = 0;

  bool timestampsSupported = false;  // compute queues can write timestamps
  double timestampPeriodNs = 0;      // nanoseconds per timestamp tick

  bool robustBufferAccess = false;
  bool shaderFloat64 = false;
  bool shaderInt64 = false;
  bool shaderInt16 = false;
  bool externalMemoryHost = false;  // VK_EXT_external_memory_host
  bool memoryBudget = false;        // VK_EXT_memory_budget (and Vulkan 1.1): see memory_budget.h
  // Alignment of host pointers (and sizes) that can be imported as device memory; 0 when the
  // device cannot import host memory.
  uint64_t importHostPointerAlignment = 0;
  // VkSubgroupFeatureFlags a compute shader may use (0 when compute has no subgroup support or
  // the device is Vulkan 1.0).
  uint32_t subgroupOperations = 0;

  std::vector<QueueFamilyInfo> queueFamilies;
  std::vector<MemoryHeapInfo> memoryHeaps;

  // The family a device opened without explicit families uses: a compute-only family if the
  // device has one (it runs beside graphics work), else the first with compute.
  uint32_t defaultComputeFamily() const;
};

// Reads everything above from a physical device.
DeviceInfo queryDeviceInfo(VkPhysicalDevice physical, uint32_t index);

// "1.3.239" from a VK_MAKE_API_VERSION value.
std::string apiVersionString(uint32_t version);

}  // namespace kp::engine
