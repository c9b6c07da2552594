#include "server/engine/shader/interface_check.h"

#include <string>

#include "server/base/error.h"

namespace kp::engine {

using base::ErrorCode;

namespace {

// a * b, or UINT64_MAX when that overflows.
uint64_t multiply(uint64_t a, uint64_t b) {
  uint64_t result = 0;
  return __builtin_mul_overflow(a, b, &result) ? UINT64_MAX : result;
}

}  // namespace

void checkInterface(const SpirvInterface& interface, const DeviceInfo& device, size_t tensorCount,
                    const Constants& specConstants) {
  for (const SpirvResource& resource : interface.resources) {
    const std::string where = "descriptor set " + std::to_string(resource.set) + " binding " +
                              std::to_string(resource.binding);
    KP_REQUIRE(resource.set == 0, ErrorCode::kInvalidArgument,
               "spirv: the shader uses " + where + "; tensors are bound at set 0 only");
    KP_REQUIRE(resource.storageBuffer, ErrorCode::kInvalidArgument,
               "spirv: the shader's " + where + " is a " + resource.kind +
                   "; tensors are bound as single storage buffers (GLSL `buffer` blocks)");
    KP_REQUIRE(
        resource.binding < tensorCount, ErrorCode::kInvalidArgument,
        "tensors: the shader uses binding " + std::to_string(resource.binding) +
            " but the algorithm binds " + std::to_string(tensorCount) + " tensor(s) (bindings 0.." +
            (tensorCount == 0 ? std::string("none") : std::to_string(tensorCount - 1)) + ")");
  }
  // Fewer push constants than the shader's block are accepted, as Kompute does: the rest of
  // the block reads as zeros (Algorithm pads them). The block itself must fit the device.
  KP_REQUIRE(interface.pushConstantBytes <= device.maxPushConstantsSize,
             ErrorCode::kInvalidArgument,
             "spirv: the shader's push-constant block spans " +
                 std::to_string(interface.pushConstantBytes) +
                 " bytes, more than the device's maxPushConstantsSize of " +
                 std::to_string(device.maxPushConstantsSize) + " bytes");
  const size_t given = specConstants.count();
  const size_t givenBytes = elementSize(specConstants.type);
  for (const auto& [id, constant] : interface.specConstants) {
    if (id >= given) continue;  // keeps the shader's default
    KP_REQUIRE(constant.bytes == givenBytes, ErrorCode::kInvalidArgument,
               "spec_constants: constant_id " + std::to_string(id) + " is a " + constant.type +
                   " (" + std::to_string(constant.bytes) + " bytes) in the shader, but the " +
                   dataTypeName(specConstants.type) + " values given are " +
                   std::to_string(givenBytes) + " bytes each");
  }
  const char* axes[3] = {"x", "y", "z"};
  const std::string source = interface.localSizeSpecialised
                                 ? "spec_constants: the shader's local size"
                                 : "spirv: the shader's local size";
  uint64_t invocations = 1;
  for (int i = 0; i < 3; ++i) {
    const uint64_t value = interface.localSize[i];
    KP_REQUIRE(value >= 1, ErrorCode::kInvalidArgument,
               source + " " + axes[i] + " is 0; it must be at least 1");
    KP_REQUIRE(value <= device.maxWorkGroupSize[i], ErrorCode::kInvalidArgument,
               source + " " + axes[i] + " = " + std::to_string(value) +
                   " exceeds the device's maxComputeWorkGroupSize[" + std::to_string(i) +
                   "] = " + std::to_string(device.maxWorkGroupSize[i]));
    invocations = multiply(invocations, value);
  }
  KP_REQUIRE(invocations <= device.maxWorkGroupInvocations, ErrorCode::kInvalidArgument,
             source + " (" + std::to_string(interface.localSize[0]) + " x " +
                 std::to_string(interface.localSize[1]) + " x " +
                 std::to_string(interface.localSize[2]) + " = " + std::to_string(invocations) +
                 " invocations) exceeds the device's maxComputeWorkGroupInvocations = " +
                 std::to_string(device.maxWorkGroupInvocations));
  KP_REQUIRE(interface.workgroupMemoryBytes <= device.maxComputeSharedMemorySize,
             ErrorCode::kInvalidArgument,
             "spirv: the shader's shared (Workgroup) variables take " +
                 std::to_string(interface.workgroupMemoryBytes) +
                 " bytes; the device allows maxComputeSharedMemorySize = " +
                 std::to_string(device.maxComputeSharedMemorySize));
}

}  // namespace kp::engine
