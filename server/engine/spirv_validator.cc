#include "spirv_validator.h"

#include <spirv-tools/libspirv.hpp>

#include <cstring>
#include <string>

#include "error.h"

namespace kp::engine {
namespace {

constexpr uint32_t kMagic = 0x07230203;
constexpr uint32_t kOpCapability = 17;
constexpr uint32_t kOpEntryPoint = 15;
constexpr uint32_t kExecutionModelGLCompute = 5;

// Capabilities that depend on an optional device feature.
struct FeatureCapability {
  uint32_t capability;
  const char* name;
  bool DeviceInfo::*feature;
};
constexpr FeatureCapability kFeatureCapabilities[] = {
    {10, "Float64", &DeviceInfo::shaderFloat64},
    {11, "Int64", &DeviceInfo::shaderInt64},
    {22, "Int16", &DeviceInfo::shaderInt16},
};

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
  require(size > 0, ErrorCode::kInvalidArgument, "spirv is empty");
  require(size % 4 == 0, ErrorCode::kInvalidArgument,
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
  require(words.size() >= 5, ErrorCode::kInvalidArgument,
          "spirv is truncated: " + std::to_string(words.size() * 4) +
              " bytes is shorter than a SPIR-V header (20 bytes)");
  require(words[0] == kMagic, ErrorCode::kInvalidArgument,
          words[0] == __builtin_bswap32(kMagic)
              ? "spirv is big-endian; send little-endian words"
              : "spirv does not start with the SPIR-V magic number 0x07230203");
  SpirvModuleInfo info;
  info.version = words[1];
  size_t i = 5;
  while (i < words.size()) {
    const uint32_t wordCount = words[i] >> 16;
    const uint32_t opcode = words[i] & 0xffff;
    require(wordCount > 0 && i + wordCount <= words.size(), ErrorCode::kInvalidArgument,
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
  require(info.hasComputeMain, ErrorCode::kInvalidArgument,
          "spirv has no GLCompute entry point named \"main\"");
  for (uint32_t capability : info.capabilities) {
    for (const auto& needed : kFeatureCapabilities) {
      if (capability == needed.capability && !(device_.*needed.feature)) {
        fail(ErrorCode::kInvalidArgument, std::string("spirv uses capability ") + needed.name +
                                              ", which device " + device_.name +
                                              " does not support");
      }
    }
  }
}

}  // namespace kp::engine
