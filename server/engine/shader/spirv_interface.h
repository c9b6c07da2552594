// What a compute module declares that its pipeline must match: the descriptors it uses, its
// push-constant block, its specialisation constants, its local (workgroup) size and its shared
// memory. Read straight from the SPIR-V words, so that Algorithm::create can refuse a module
// whose interface the tensors and constants it is given do not satisfy (interface_check.h),
// before the driver sees it (Vulkan leaves such a mismatch undefined: a driver may crash on it).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/engine/constants.h"
#include "server/engine/device_info.h"

namespace kp::engine {

// A descriptor-bound variable that a function of the module uses.
struct SpirvResource {
  uint32_t set = 0;
  uint32_t binding = 0;
  // True for one storage buffer: the only kind of descriptor kp binds (a tensor).
  bool storageBuffer = false;
  // What it is, for messages: "storage buffer", "uniform buffer", "array of 4 descriptors", ...
  std::string kind;
};

// A specialisation constant (OpSpecConstant*) and its SpecId.
struct SpirvSpecConstant {
  uint32_t bytes = 0;  // its size in a VkSpecializationInfo (bool: 4, a VkBool32)
  std::string type;    // e.g. "32-bit float", "64-bit integer", "bool"
};

struct SpirvInterface {
  std::vector<SpirvResource> resources;
  // Bytes of the push-constant block the module uses, up to the end of its last member
  // (0 when it uses none).
  uint64_t pushConstantBytes = 0;
  std::map<uint32_t, SpirvSpecConstant> specConstants;  // by constant_id (SpecId)
  // The local size after specialisation, and whether a specialisation constant sets it.
  std::array<uint64_t, 3> localSize{1, 1, 1};
  bool localSizeSpecialised = false;
  // Bytes of the Workgroup ("shared") variables it uses; arrays whose length is not a plain
  // (specialisation) constant are not counted.
  uint64_t workgroupMemoryBytes = 0;
  // Bytes of one invocation's own variables (Private and Function storage: globals and locals
  // of every function, counted as if all were live at once). Drivers build such arrays
  // element by element: a huge one makes their compile take memory without bound.
  uint64_t privateMemoryBytes = 0;
};

// Reads the interface of a module that already passed SpirvValidator. `specConstants` are the
// values the pipeline will be specialised with (element i sets constant_id i): they replace the
// defaults of the constants that size the local size or an array.
SpirvInterface inspectInterface(const std::vector<uint32_t>& words,
                                const Constants& specConstants = {});

}  // namespace kp::engine
