// Turns a failed VkResult into an engine Error with the right code.
#pragma once

#include <vulkan/vulkan.h>

namespace kp::engine {

const char* vkResultName(VkResult result);

// Throws Error unless result is VK_SUCCESS. `what` names the call, e.g. "vkCreateBuffer".
void vkCheck(VkResult result, const char* what);

}  // namespace kp::engine
