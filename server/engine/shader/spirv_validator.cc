#include "server/engine/shader/spirv_validator.h"

#include <spirv-tools/libspirv.hpp>

#include <cstring>
#include <string>

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

constexpr uint32_t kMagic = 0x07230203;
constexpr uint32_t kOpCapability = 17;
constexpr uint32_t kOpEntryPoint = 15;
constexpr uint32_t kExecutionModelGLCompute = 5;

// The capabilities a module may declare: kpd enables no device feature beyond robust buffer
// access, shaderFloat64, shaderInt64 and shaderInt16 (each when the device has it), so any
// capability that needs another feature or extension is refused before the driver sees it.
// `feature`: the DeviceInfo flag it needs (nullptr: none); `subgroup`: the
// VkSubgroupFeatureFlagBits it needs in compute shaders (0: none).
struct AllowedCapability {
  uint32_t capability;
  const char* name;
  bool DeviceInfo::*feature;
  uint32_t subgroup;
};
constexpr AllowedCapability kAllowedCapabilities[] = {
    {0, "Matrix", nullptr, 0},
    {1, "Shader", nullptr, 0},
    {10, "Float64", &DeviceInfo::shaderFloat64, 0},
    {11, "Int64", &DeviceInfo::shaderInt64, 0},
    {22, "Int16", &DeviceInfo::shaderInt16, 0},
    {61, "GroupNonUniform", nullptr, VK_SUBGROUP_FEATURE_BASIC_BIT},
    {62, "GroupNonUniformVote", nullptr, VK_SUBGROUP_FEATURE_VOTE_BIT},
    {63, "GroupNonUniformArithmetic", nullptr, VK_SUBGROUP_FEATURE_ARITHMETIC_BIT},
    {64, "GroupNonUniformBallot", nullptr, VK_SUBGROUP_FEATURE_BALLOT_BIT},
    {65, "GroupNonUniformShuffle", nullptr, VK_SUBGROUP_FEATURE_SHUFFLE_BIT},
    {66, "GroupNonUniformShuffleRelative", nullptr, VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT},
    {67, "GroupNonUniformClustered", nullptr, VK_SUBGROUP_FEATURE_CLUSTERED_BIT},
    {68, "GroupNonUniformQuad", nullptr, VK_SUBGROUP_FEATURE_QUAD_BIT},
};

// Names of capabilities compute shaders commonly ask for that kpd does not enable.
struct CapabilityName {
  uint32_t capability;
  const char* name;
};
constexpr CapabilityName kOtherCapabilities[] = {
    {4, "Addresses"},
    {5, "Linkage"},
    {6, "Kernel"},
    {9, "Float16"},
    {12, "Int64Atomics"},
    {39, "Int8"},
    {4433, "StorageBuffer16BitAccess"},
    {4434, "UniformAndStorageBuffer16BitAccess"},
    {4435, "StoragePushConstant16"},
    {4441, "VariablePointersStorageBuffer"},
    {4442, "VariablePointers"},
    {4448, "StorageBuffer8BitAccess"},
    {4449, "UniformAndStorageBuffer8BitAccess"},
    {4450, "StoragePushConstant8"},
    {5345, "VulkanMemoryModel"},
    {5347, "PhysicalStorageBufferAddresses"},
    {6033, "AtomicFloat32AddEXT"},
    {6034, "AtomicFloat64AddEXT"},
};

std::string capabilityName(uint32_t capability) {
  for (const auto& known : kAllowedCapabilities) {
    if (known.capability == capability) return known.name;
  }
  for (const auto& known : kOtherCapabilities) {
    if (known.capability == capability) return known.name;
  }
  return "number " + std::to_string(capability);
}

std::string literalString(const std::vector<uint32_t>& words, size_t from, size_t end) {
  std::string text;
  for (size_t i = from; i < end; ++i) {
    for (int b = 0; b < 4; ++b) {
      char c = static_cast<char>((words[i] >> (8 * b)) & 0xff);
      if (c == '\0') return text;
      text.push_back(c);
    }
  }
  return text;
}

}  // namespace

std::vector<uint32_t> spirvWords(const void* bytes, size_t size) {
  KP_REQUIRE(size > 0, ErrorCode::kInvalidArgument, "spirv is empty");
  KP_REQUIRE(size % 4 == 0, ErrorCode::kInvalidArgument,
             "spirv has " + std::to_string(size) + " bytes, not a whole number of 32-bit words");
  std::vector<uint32_t> words(size / 4);
  std::memcpy(words.data(), bytes, size);
  return words;
}

bool looksLikeSpirv(const void* bytes, size_t size) {
  if (size < 4) return false;
  uint32_t first = 0;
  std::memcpy(&first, bytes, 4);
  return first == kMagic || first == __builtin_bswap32(kMagic);
}

SpirvModuleInfo inspectSpirv(const std::vector<uint32_t>& words) {
  KP_REQUIRE(words.size() >= 5, ErrorCode::kInvalidArgument,
             "spirv is truncated: " + std::to_string(words.size() * 4) +
                 " bytes is shorter than a SPIR-V header (20 bytes)");
  KP_REQUIRE(words[0] == kMagic, ErrorCode::kInvalidArgument,
             words[0] == __builtin_bswap32(kMagic)
                 ? "spirv is big-endian; send little-endian words"
                 : "spirv does not start with the SPIR-V magic number 0x07230203");
  // Word 4, the instruction schema, is reserved and must be 0. SPIRV-Tools' validator does
  // not check it, but drivers do (lavapipe fails the pipeline with VK_ERROR_UNKNOWN).
  KP_REQUIRE(words[4] == 0, ErrorCode::kInvalidArgument,
             "spirv header word 4 (the instruction schema) is " + std::to_string(words[4]) +
                 "; SPIR-V reserves it and requires 0");
  SpirvModuleInfo info;
  info.version = words[1];
  size_t i = 5;
  while (i < words.size()) {
    const uint32_t wordCount = words[i] >> 16;
    const uint32_t opcode = words[i] & 0xffff;
    KP_REQUIRE(wordCount > 0 && i + wordCount <= words.size(), ErrorCode::kInvalidArgument,
               "spirv is truncated or corrupt at word " + std::to_string(i));
    if (opcode == kOpCapability && wordCount >= 2) {
      info.capabilities.push_back(words[i + 1]);
    } else if (opcode == kOpEntryPoint && wordCount >= 4) {
      if (words[i + 1] == kExecutionModelGLCompute &&
          literalString(words, i + 3, i + wordCount) == "main") {
        info.hasComputeMain = true;
      }
    }
    i += wordCount;
  }
  return info;
}

SpirvValidator::SpirvValidator(const DeviceInfo& device) : device_(device) {
  const uint32_t minor = VK_API_VERSION_MINOR(device.apiVersion);
  targetEnv_ = minor >= 3   ? SPV_ENV_VULKAN_1_3
               : minor == 2 ? SPV_ENV_VULKAN_1_2
               : minor == 1 ? SPV_ENV_VULKAN_1_1
                            : SPV_ENV_VULKAN_1_0;
}

void SpirvValidator::validate(const std::vector<uint32_t>& words) const {
  SpirvModuleInfo info = inspectSpirv(words);

  spvtools::SpirvTools tools(static_cast<spv_target_env>(targetEnv_));
  std::string diagnostics;
  tools.SetMessageConsumer([&diagnostics](spv_message_level_t level, const char*,
                                          const spv_position_t& position, const char* message) {
    if (level > SPV_MSG_ERROR) return;
    if (!diagnostics.empty()) diagnostics += "\n";
    diagnostics += message;
  });
  if (!tools.Validate(words.data(), words.size(), spvtools::ValidatorOptions())) {
    fail(ErrorCode::kInvalidArgument,
         "spirv is not valid for Vulkan " + apiVersionString(device_.apiVersion) + ": " +
             (diagnostics.empty() ? std::string("rejected by the validator") : diagnostics));
  }
  KP_REQUIRE(info.hasComputeMain, ErrorCode::kInvalidArgument,
             "spirv has no GLCompute entry point named \"main\"");
  for (uint32_t capability : info.capabilities) {
    const AllowedCapability* allowed = nullptr;
    for (const auto& candidate : kAllowedCapabilities) {
      if (candidate.capability == capability) allowed = &candidate;
    }
    const bool usable =
        allowed != nullptr && (!allowed->feature || device_.*(allowed->feature)) &&
        (allowed->subgroup == 0 || (device_.subgroupOperations & allowed->subgroup) != 0);
    if (usable) continue;
    fail(ErrorCode::kInvalidArgument,
         allowed ? "spirv uses capability " + capabilityName(capability) + ", which device " +
                       device_.name + " does not support"
                 : "spirv uses capability " + capabilityName(capability) +
                       ", which kpd does not enable on device " + device_.name +
                       " (kpd enables Shader, Matrix, Float64, Int64, Int16 where the device "
                       "has them, and subgroup operations)");
  }
}

}  // namespace kp::engine
