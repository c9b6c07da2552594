// The kp client library: Kompute's C++ API (v0.8/0.9) with the GPU in the kpd daemon.
// Replace `#include <kompute/Kompute.hpp>` with `#include <kp/kp.hpp>`.
#pragma once

// Kompute.hpp brought Vulkan's C++ types (vk::AccessFlagBits, vk::PipelineStageFlagBits, ...),
// which Kompute programs pass to OpMemoryBarrier: so does this header, where they are
// installed (Debian: libvulkan-dev). Nothing here needs them, nor the Vulkan loader.
#if __has_include(<vulkan/vulkan.hpp>) && !defined(KP_NO_VULKAN_HPP)
#include <vulkan/vulkan.hpp>
#endif

#include "kp/algorithm.hpp"
#include "kp/constants.hpp"
#include "kp/device_properties.hpp"
#include "kp/error.hpp"
#include "kp/logger.hpp"
#include "kp/manager.hpp"
#include "kp/manager_options.hpp"
#include "kp/operations/op_algo_dispatch.hpp"
#include "kp/operations/op_base.hpp"
#include "kp/operations/op_memory_barrier.hpp"
#include "kp/operations/op_mult.hpp"
#include "kp/operations/op_tensor_copy.hpp"
#include "kp/operations/op_tensor_sync_device.hpp"
#include "kp/operations/op_tensor_sync_local.hpp"
#include "kp/sequence.hpp"
#include "kp/tensor.hpp"
