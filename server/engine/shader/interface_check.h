// Whether a pipeline can be built from a module's interface (spirv_interface.h) with the
// tensors and constants an algorithm gives it, within the device's limits: the checks that
// keep a mismatch, which Vulkan leaves undefined, from reaching the driver.
#pragma once

#include <cstddef>
#include <cstdint>

#include "server/engine/constants.h"
#include "server/engine/device_info.h"
#include "server/engine/shader/spirv_interface.h"

namespace kp::engine {

// Error(kInvalidArgument), naming the request field, unless a pipeline of `interface` can be
// built with `tensorCount` storage buffers at set 0 and `specConstants`, within the device's
// limits. (Push constants may be fewer than the shader's block: Algorithm pads them.)
void checkInterface(const SpirvInterface& interface, const DeviceInfo& device, size_t tensorCount,
                    const Constants& specConstants);

}  // namespace kp::engine
