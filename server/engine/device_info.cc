#include "server/engine/device_info.h"

#include <cstring>

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

const char* deviceTypeName(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete_gpu";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated_gpu";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual_gpu";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "cpu";
    default:
      return "other";
  }
}

bool hasExtension(VkPhysicalDevice physical, const char* name) {
  uint32_t count = 0;
  vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> extensions(count);
  vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, extensions.data());
  for (const auto& extension : extensions) {
    if (std::strcmp(extension.extensionName, name) == 0) return true;
  }
  return false;
}

}  // namespace

uint32_t DeviceInfo::defaultComputeFamily() const {
  for (const auto& family : queueFamilies) {
    if (family.compute && !family.graphics && family.queueCount > 0) return family.index;
  }
  for (const auto& family : queueFamilies) {
    if (family.compute && family.queueCount > 0) return family.index;
  }
  fail(ErrorCode::kUnavailable, "device " + std::to_string(index) + " (" + name +
                                    ") has no queue family with compute support");
}

DeviceInfo queryDeviceInfo(VkPhysicalDevice physical, uint32_t index) {
  DeviceInfo info;
  info.index = index;

  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceProperties2 properties2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  VkPhysicalDeviceProperties basic{};
  vkGetPhysicalDeviceProperties(physical, &basic);
  if (basic.apiVersion >= VK_API_VERSION_1_2) {
    properties2.pNext = &driver;
    vkGetPhysicalDeviceProperties2(physical, &properties2);
    info.driverName = driver.driverName;
    info.driverInfo = driver.driverInfo;
  }

  info.name = basic.deviceName;
  info.type = deviceTypeName(basic.deviceType);
  info.vendorId = basic.vendorID;
  info.deviceId = basic.deviceID;
  info.apiVersion = basic.apiVersion;
  info.driverVersion = basic.driverVersion;

  const VkPhysicalDeviceLimits& limits = basic.limits;
  for (int i = 0; i < 3; ++i) {
    info.maxWorkGroupCount[i] = limits.maxComputeWorkGroupCount[i];
    info.maxWorkGroupSize[i] = limits.maxComputeWorkGroupSize[i];
  }
  info.maxWorkGroupInvocations = limits.maxComputeWorkGroupInvocations;
  info.maxPushConstantsSize = limits.maxPushConstantsSize;
  info.maxStorageBufferRange = limits.maxStorageBufferRange;
  info.maxBoundDescriptorSets = limits.maxBoundDescriptorSets;
  info.maxPerStageDescriptorStorageBuffers = limits.maxPerStageDescriptorStorageBuffers;
  info.maxComputeSharedMemorySize = limits.maxComputeSharedMemorySize;
  info.timestampPeriodNs = limits.timestampPeriod;

  if (basic.apiVersion >= VK_API_VERSION_1_1) {
    VkPhysicalDeviceMaintenance3Properties maintenance3{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    props.pNext = &maintenance3;
    vkGetPhysicalDeviceProperties2(physical, &props);
    info.maxMemoryAllocationSize = maintenance3.maxMemoryAllocationSize;

    VkPhysicalDeviceSubgroupProperties subgroup{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 subgroupProps{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    subgroupProps.pNext = &subgroup;
    vkGetPhysicalDeviceProperties2(physical, &subgroupProps);
    if (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) {
      info.subgroupOperations = subgroup.supportedOperations;
    }
  }

  VkPhysicalDeviceFeatures features{};
  vkGetPhysicalDeviceFeatures(physical, &features);
  info.robustBufferAccess = features.robustBufferAccess;
  info.shaderFloat64 = features.shaderFloat64;
  info.shaderInt64 = features.shaderInt64;
  info.shaderInt16 = features.shaderInt16;
  info.externalMemoryHost = hasExtension(physical, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  info.memoryBudget = basic.apiVersion >= VK_API_VERSION_1_1 &&
                      hasExtension(physical, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  if (info.externalMemoryHost) {
    VkPhysicalDeviceExternalMemoryHostPropertiesEXT host{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
    VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    props.pNext = &host;
    vkGetPhysicalDeviceProperties2(physical, &props);
    info.importHostPointerAlignment = host.minImportedHostPointerAlignment;
  }

  uint32_t familyCount = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &familyCount, nullptr);
  std::vector<VkQueueFamilyProperties> families(familyCount);
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &familyCount, families.data());
  for (uint32_t i = 0; i < familyCount; ++i) {
    QueueFamilyInfo family;
    family.index = i;
    family.queueCount = families[i].queueCount;
    family.graphics = families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT;
    family.compute = families[i].queueFlags & VK_QUEUE_COMPUTE_BIT;
    // Graphics and compute queues support transfers even when they do not say so.
    family.transfer = (families[i].queueFlags & VK_QUEUE_TRANSFER_BIT) || family.compute;
    family.timestampValidBits = families[i].timestampValidBits;
    if (family.compute && family.timestampValidBits > 0 && limits.timestampPeriod > 0) {
      info.timestampsSupported = true;
    }
    info.queueFamilies.push_back(family);
  }

  VkPhysicalDeviceMemoryProperties memory{};
  vkGetPhysicalDeviceMemoryProperties(physical, &memory);
  for (uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    info.memoryHeaps.push_back(
        {memory.memoryHeaps[i].size,
         (memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0});
  }
  return info;
}

std::string apiVersionString(uint32_t version) {
  return std::to_string(VK_API_VERSION_MAJOR(version)) + "." +
         std::to_string(VK_API_VERSION_MINOR(version)) + "." +
         std::to_string(VK_API_VERSION_PATCH(version));
}

}  // namespace kp::engine
