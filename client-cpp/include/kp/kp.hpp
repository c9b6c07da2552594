// The kp client library: Kompute's C++ API (v0.8/0.9) with the GPU in the kpd daemon.
// Replace `#include <kompute/Kompute.hpp>` with `#include <kp/kp.hpp>`.
#pragma once

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
#include "kp/vulkan_types.hpp"
