#include "server/engine/memory_budget.h"

namespace kp::engine {

uint64_t HeapBudget::freeBytes(uint64_t usedBytes) const {
  if (reported) return budget > usage ? budget - usage : 0;
  return size > usedBytes ? size - usedBytes : 0;
}

HeapBudget queryHeapBudget(VkPhysicalDevice physical, const DeviceInfo& info) {
  HeapBudget result;
  bool deviceLocal = false;
  for (uint32_t i = 0; i < info.memoryHeaps.size(); ++i) {
    const MemoryHeapInfo& heap = info.memoryHeaps[i];
    // A device-local heap beats any other; among equals, the largest.
    if (heap.deviceLocal != deviceLocal ? heap.deviceLocal : heap.size > result.size) {
      result.heap = i;
      result.size = heap.size;
      deviceLocal = heap.deviceLocal;
    }
  }
  if (!info.memoryBudget || info.memoryHeaps.empty()) return result;
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 properties{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  properties.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(physical, &properties);
  result.reported = budget.heapBudget[result.heap] > 0;
  result.budget = budget.heapBudget[result.heap];
  result.usage = budget.heapUsage[result.heap];
  return result;
}

}  // namespace kp::engine
