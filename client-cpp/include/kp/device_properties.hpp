// kp::DeviceProperties and kp::DaemonStatus: what kpd reports about its devices and itself.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#if __has_include(<vulkan/vulkan.hpp>) && !defined(KP_NO_VULKAN_HPP)
#include <vulkan/vulkan.hpp>
#define KP_HAS_VULKAN_HPP 1
#endif

namespace kp {

/// A queue family of a device.
struct QueueFamilyProperties {
  /// The family's index (what Manager's familyQueueIndices name).
  uint32_t index = 0;
  /// How many queues the family has.
  uint32_t queueCount = 0;
  bool graphics = false;
  bool compute = false;
  bool transfer = false;
  /// Valid bits of timestamps written on this family; 0: no timestamp support.
  uint32_t timestampValidBits = 0;
};

/// A Vulkan device of the daemon: the properties Kompute's getDeviceProperties() exposed
/// (as vk::PhysicalDeviceProperties) that matter to a client, and more.
struct DeviceProperties {
  /// Position in Manager::listDevices(); what Manager's `device` argument names.
  uint32_t index = 0;
  /// The driver's device name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
  std::string deviceName;
  /// "discrete_gpu", "integrated_gpu", "virtual_gpu", "cpu" or "other".
  std::string deviceType;
  uint32_t vendorID = 0;
  uint32_t deviceID = 0;
  /// Vulkan version, "major.minor.patch".
  std::string apiVersion;
  std::string driverName;
  /// The largest workgroup count per axis (maxComputeWorkGroupCount).
  std::array<uint32_t, 3> maxWorkGroupCount{};
  /// The largest local size per axis (maxComputeWorkGroupSize).
  std::array<uint32_t, 3> maxWorkGroupSize{};
  /// The largest local_size_x * y * z (maxComputeWorkGroupInvocations).
  uint32_t maxWorkGroupInvocations = 0;
  /// The most bytes of push constants an algorithm may have.
  uint32_t maxPushConstantsSize = 0;
  /// The most bytes one tensor may have to be bound to an algorithm.
  uint64_t maxStorageBufferRange = 0;
  /// True when sequences can record timestamps.
  bool timestampsSupported = false;
  /// Nanoseconds per timestamp tick.
  double timestampPeriod = 0;
  /// Optional shader features.
  bool shaderFloat64 = false;
  bool shaderInt64 = false;
  bool shaderInt16 = false;
  std::vector<QueueFamilyProperties> queueFamilies;
  /// The queue family a Manager uses when it names none.
  uint32_t defaultQueueFamily = 0;

#ifdef KP_HAS_VULKAN_HPP
  /// Kompute's getDeviceProperties() returned vk::PhysicalDeviceProperties: the fields kpd
  /// reports are filled in (name, type, IDs, API version, the compute limits, timestamp
  /// period); the rest stay zero.
  operator vk::PhysicalDeviceProperties() const {  // NOLINT: implicit, as Kompute's type was
    vk::PhysicalDeviceProperties properties;
    unsigned major = 0, minor = 0, patch = 0;
    if (std::sscanf(apiVersion.c_str(), "%u.%u.%u", &major, &minor, &patch) >= 2) {
      properties.apiVersion = VK_MAKE_API_VERSION(0, major, minor, patch);
    }
    properties.vendorID = vendorID;
    properties.deviceID = deviceID;
    properties.deviceType = deviceType == "discrete_gpu"     ? vk::PhysicalDeviceType::eDiscreteGpu
                            : deviceType == "integrated_gpu" ? vk::PhysicalDeviceType::eIntegratedGpu
                            : deviceType == "virtual_gpu"    ? vk::PhysicalDeviceType::eVirtualGpu
                            : deviceType == "cpu"            ? vk::PhysicalDeviceType::eCpu
                                                             : vk::PhysicalDeviceType::eOther;
    std::array<char, VK_MAX_PHYSICAL_DEVICE_NAME_SIZE> name{};
    std::copy_n(deviceName.begin(), std::min(deviceName.size(), name.size() - 1), name.begin());
    properties.deviceName = name;
    for (int i = 0; i < 3; ++i) {
      properties.limits.maxComputeWorkGroupCount[i] = maxWorkGroupCount[i];
      properties.limits.maxComputeWorkGroupSize[i] = maxWorkGroupSize[i];
    }
    properties.limits.maxComputeWorkGroupInvocations = maxWorkGroupInvocations;
    properties.limits.maxPushConstantsSize = maxPushConstantsSize;
    properties.limits.maxStorageBufferRange = static_cast<uint32_t>(
        std::min<uint64_t>(maxStorageBufferRange, UINT32_MAX));
    properties.limits.timestampPeriod = static_cast<float>(timestampPeriod);
    properties.limits.timestampComputeAndGraphics = timestampsSupported;
    return properties;
  }
#endif
};

/// Daemon-wide counters (GetStatus).
struct DaemonStatus {
  /// Sessions open now, in all clients.
  uint32_t sessions = 0;
  /// Tensors, algorithms and sequences alive in all sessions.
  uint64_t objects = 0;
  /// Bytes of GPU memory allocated for tensors, over all devices.
  uint64_t allocatedBytes = 0;
};

}  // namespace kp
