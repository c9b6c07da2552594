// Checks SPIR-V before it reaches the driver: well-formed and valid for the device's Vulkan
// version (SPIRV-Tools), with a GLCompute entry point named "main", and declaring only
// capabilities that kpd enables on the device (Shader, Matrix; Float64, Int64, Int16 and subgroup
// operations where the device has them). Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/engine/device_info.h"

namespace kp::engine {

// What the validator reads from a module's header and preamble.
struct SpirvModuleInfo {
  uint32_t version = 0;  // e.g. 0x00010300 for SPIR-V 1.3
  std::vector<uint32_t> capabilities;
  bool hasComputeMain = false;
};

// Reads the header and preamble; InvalidArgument if the words are not a SPIR-V module.
SpirvModuleInfo inspectSpirv(const std::vector<uint32_t>& words);

// Little-endian bytes -> words; InvalidArgument unless the size is a non-zero multiple of 4.
std::vector<uint32_t> spirvWords(const void* bytes, size_t size);

// True when `bytes` start with the SPIR-V magic number (either byte order).
bool looksLikeSpirv(const void* bytes, size_t size);

class SpirvValidator {
 public:
  explicit SpirvValidator(const DeviceInfo& device);

  // Throws Error(kInvalidArgument) describing the first problem found.
  void validate(const std::vector<uint32_t>& words) const;

 private:
  DeviceInfo device_;
  int targetEnv_;  // spv_target_env
};

}  // namespace kp::engine
