// Validation rows of shaders: CreateAlgorithm's SPIR-V (empty, truncated, corrupt, big-endian,
// without a main entry point, using capabilities kpd does not enable) and GLSL, and
// CompileShader.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "validation_shaders.h"
#include "validation_table.h"

namespace kp::service::test::validation {
namespace {

// 256 bytes of a fixed pseudo-random sequence.
std::string randomBytes() {
  std::mt19937 generator(7);
  std::string bytes(256, '\0');
  for (char& byte : bytes) byte = static_cast<char>(generator() & 0xFF);
  return bytes;
}

// Each 32-bit word of `spirv` with its bytes reversed.
std::string bigEndian(const std::string& spirv) {
  std::string swapped = spirv;
  for (size_t i = 0; i + 4 <= swapped.size(); i += 4) {
    std::swap(swapped[i], swapped[i + 3]);
    std::swap(swapped[i + 1], swapped[i + 2]);
  }
  return swapped;
}

}  // namespace

std::vector<Row> shaderRows() {
  using CS = ComputeService;
  return {
      // -- CreateAlgorithm: the shader
      {"algorithm without a shader",
       [](ValidationContext& c) { return c.createAlgorithm({.tensors = {c.a}}); }, kInvalid,
       R"(^shader: set spirv or glsl$)"},
      {"empty SPIR-V",
       [](ValidationContext& c) { return c.createAlgorithm({.tensors = {c.a}, .spirv = ""}); },
       kInvalid, R"(^spirv is empty$)"},
      {"SPIR-V that is not whole words",
       [](ValidationContext& c) {
         const std::string& words = c.multiplySpirv;
         return c.createAlgorithm({.tensors = {c.a}, .spirv = words.substr(0, words.size() - 1)});
       },
       kInvalid, R"(^spirv has \d+ bytes, not a whole number of 32-bit words$)"},
      {"SPIR-V that is random bytes",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .spirv = randomBytes()});
       },
       kInvalid, R"(^spirv does not start with the SPIR-V magic number 0x07230203$)"},
      {"SPIR-V shorter than its header",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .spirv = c.multiplySpirv.substr(0, 12)});
       },
       kInvalid, R"(^spirv is truncated: 12 bytes is shorter than a SPIR-V header)"},
      {"SPIR-V truncated mid-instruction",
       [](ValidationContext& c) {
         const std::string& words = c.multiplySpirv;
         return c.createAlgorithm(
             {.tensors = {c.a}, .spirv = words.substr(0, words.size() / 8 * 4 + 4)});
       },
       kInvalid, R"(^spirv is (truncated or corrupt at word \d+|not valid for Vulkan))"},
      {"SPIR-V header only",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .spirv = c.multiplySpirv.substr(0, 20)});
       },
       kInvalid, R"(^spirv is not valid for Vulkan 1\.\d+\.\d+: )"},
      {"SPIR-V in big-endian byte order",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .spirv = bigEndian(c.multiplySpirv)});
       },
       kInvalid, R"(^spirv is big-endian; send little-endian words$)"},
      {"valid SPIR-V without an entry point named main",
       [](ValidationContext& c) {
         return c.createAlgorithm(
             {.tensors = {c.a, c.b, c.c},
              .spirv = replaceEntryPointName(c.multiplySpirv, "main", "mian")});
       },
       kInvalid, R"(^spirv has no GLCompute entry point named "main"$)"},
      {"SPIR-V using capability Float16, which kpd does not enable",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .spirv = c.compile(shaders::kFloat16)});
       },
       kInvalid, R"(^spirv uses capability Float16, which kpd does not enable on device )"},
      {"SPIR-V using capability Int8, which kpd does not enable",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .spirv = c.compile(shaders::kInt8)});
       },
       kInvalid, R"(^spirv uses capability Int8, which kpd does not enable on device )"},
      {"GLSL using float16_t (capability Float16)",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .glsl = shaders::kFloat16});
       },
       kInvalid, R"(^glsl: spirv uses capability Float16)"},
      {"GLSL that does not compile",
       [](ValidationContext& c) {
         return c.createAlgorithm({.tensors = {c.a}, .glsl = shaders::kNotGlsl});
       },
       kInvalid, R"(^glsl: GLSL compilation failed:\n(ERROR: )?shader:4: )"},
      {"empty GLSL",
       [](ValidationContext& c) { return c.createAlgorithm({.tensors = {c.a}, .glsl = ""}); },
       kInvalid, R"(^glsl: GLSL source is empty$)"},

      // -- CompileShader
      {"CompileShader of empty source",
       [](ValidationContext& c) { return c.send(&CS::CompileShader, v1::CompileShaderRequest()); },
       kInvalid, R"(^glsl: GLSL source is empty$)"},
      {"CompileShader of source that does not compile",
       [](ValidationContext& c) { return c.compileShader(shaders::kNotGlsl, "bad.comp"); },
       kInvalid, R"(^glsl: GLSL compilation failed:\n(ERROR: )?bad\.comp:4: )"},
  };
}

INSTANTIATE_TEST_SUITE_P(Shaders, ValidationRow, ::testing::ValuesIn(shaderRows()), rowName);

}  // namespace kp::service::test::validation
