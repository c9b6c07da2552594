// What a physical device's main device-local memory heap (its largest) still has room for:
// the heap's size and, where the driver reports it (VK_EXT_memory_budget), the budget the
// driver gives this process, which deducts what other processes use, and this process's usage.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>

#include "server/engine/device_info.h"

namespace kp::engine {

struct HeapBudget {
  uint32_t heap = 0;      // the heap's index (the largest device-local one, else the largest)
  uint64_t size = 0;      // its size
  bool reported = false;  // the driver reported budget and usage (VK_EXT_memory_budget)
  uint64_t budget = 0;    // what this process may use of it, other processes' use deducted
  uint64_t usage = 0;     // what this process uses of it now

  // Bytes still free for this process: the budget less the usage where reported, else the
  // heap's size less `usedBytes` (what kpd knows it allocated).
  uint64_t freeBytes(uint64_t usedBytes) const;
};

// The heap's figures now: one vkGetPhysicalDeviceMemoryProperties2 call where the device has
// VK_EXT_memory_budget (DeviceInfo::memoryBudget), else none.
HeapBudget queryHeapBudget(VkPhysicalDevice physical, const DeviceInfo& info);

}  // namespace kp::engine
