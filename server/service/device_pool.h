// The devices sessions run on. A device is opened on first use and shared by every session
// that asks for the same device and queue families. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "device.h"
#include "glsl_compiler.h"
#include "instance.h"
#include "spirv_validator.h"

namespace kp::service {

class DevicePool {
 public:
  explicit DevicePool(std::shared_ptr<engine::Instance> instance);

  const engine::Instance& instance() const { return *instance_; }

  // The open device for (index, families); NotFound / InvalidArgument for bad values.
  std::shared_ptr<engine::Device> open(uint32_t index, const std::vector<uint32_t>& families);
  // The SPIR-V validator for device `index` (which must exist).
  const engine::SpirvValidator& validator(uint32_t index);
  engine::GlslCompiler& compiler() { return compiler_; }

  // (device index, bytes allocated) summed over every open device of each index.
  std::vector<std::pair<uint32_t, uint64_t>> memoryUsage() const;

 private:
  std::shared_ptr<engine::Instance> instance_;
  engine::GlslCompiler compiler_;
  mutable std::mutex mutex_;
  std::map<std::pair<uint32_t, std::vector<uint32_t>>, std::shared_ptr<engine::Device>> devices_;
  std::map<uint32_t, std::unique_ptr<engine::SpirvValidator>> validators_;
};

}  // namespace kp::service
