// kp::DeviceProperties and kp::DaemonStatus: what kpd reports about its devices and itself.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace kp {

struct DeviceProperties;

namespace detail {
// Conversions of DeviceProperties to Vulkan's types: defined (specialised) only where
// vulkan.hpp is included, by kp/vulkan_types.hpp, so this header does not need it.
template <typename T>
struct VulkanProperties {};
}  // namespace detail

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

  /// Converts to Kompute's type (vk::PhysicalDeviceProperties, where kp/kp.hpp brought
  /// vulkan.hpp): see kp/vulkan_types.hpp.
  template <typename T, typename = decltype(&detail::VulkanProperties<T>::from)>
  operator T() const {  // NOLINT: implicit, as Kompute's getDeviceProperties() returned T
    return detail::VulkanProperties<T>::from(*this);
  }
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
