// Kompute.hpp brought Vulkan's C++ types (vk::AccessFlagBits, vk::PipelineStageFlagBits,
// vk::PhysicalDeviceProperties, ...), which Kompute programs use with OpMemoryBarrier and
// getDeviceProperties(). kp/kp.hpp includes this header, which includes vulkan.hpp where it is
// installed (Debian: libvulkan-dev) unless KP_NO_VULKAN_HPP is defined, and teaches
// DeviceProperties to convert to vk::PhysicalDeviceProperties. Nothing else in the client
// needs Vulkan's headers, nor its loader.
#pragma once

#if __has_include(<vulkan/vulkan.hpp>) && !defined(KP_NO_VULKAN_HPP)
#include <vulkan/vulkan.hpp>

#include <algorithm>
#include <cstdio>

#include "kp/device_properties.hpp"

namespace kp::detail {

/// The fields kpd reports are filled in (name, type, IDs, API version, the compute limits,
/// timestamp period); the rest stay zero.
template <>
struct VulkanProperties<vk::PhysicalDeviceProperties> {
  static vk::PhysicalDeviceProperties from(const DeviceProperties& ours) {
    vk::PhysicalDeviceProperties properties;
    unsigned major = 0, minor = 0, patch = 0;
    if (std::sscanf(ours.apiVersion.c_str(), "%u.%u.%u", &major, &minor, &patch) >= 2) {
      properties.apiVersion = VK_MAKE_API_VERSION(0, major, minor, patch);
    }
    properties.vendorID = ours.vendorID;
    properties.deviceID = ours.deviceID;
    const std::string& type = ours.deviceType;
    properties.deviceType = type == "discrete_gpu"     ? vk::PhysicalDeviceType::eDiscreteGpu
                            : type == "integrated_gpu" ? vk::PhysicalDeviceType::eIntegratedGpu
                            : type == "virtual_gpu"    ? vk::PhysicalDeviceType::eVirtualGpu
                            : type == "cpu"            ? vk::PhysicalDeviceType::eCpu
                                                       : vk::PhysicalDeviceType::eOther;
    std::array<char, VK_MAX_PHYSICAL_DEVICE_NAME_SIZE> name{};
    std::copy_n(ours.deviceName.begin(), std::min(ours.deviceName.size(), name.size() - 1),
                name.begin());
    properties.deviceName = name;
    for (int i = 0; i < 3; ++i) {
      properties.limits.maxComputeWorkGroupCount[i] = ours.maxWorkGroupCount[i];
      properties.limits.maxComputeWorkGroupSize[i] = ours.maxWorkGroupSize[i];
    }
    properties.limits.maxComputeWorkGroupInvocations = ours.maxWorkGroupInvocations;
    properties.limits.maxPushConstantsSize = ours.maxPushConstantsSize;
    properties.limits.maxStorageBufferRange =
        static_cast<uint32_t>(std::min<uint64_t>(ours.maxStorageBufferRange, UINT32_MAX));
    properties.limits.timestampPeriod = static_cast<float>(ours.timestampPeriod);
    properties.limits.timestampComputeAndGraphics = ours.timestampsSupported;
    return properties;
  }
};

}  // namespace kp::detail

#endif
