// SpirvValidator and the SPIR-V helpers: what the service checks before a module reaches the
// driver.
#include <cstring>
#include <random>

#include <gmock/gmock.h>
#include <algorithm>

#include "multiply.h"
#include "test_environment.h"

namespace kp::engine::test {
namespace {

constexpr uint32_t kSpirvMagic = 0x07230203;
constexpr uint32_t kOpEntryPoint = 15;

std::vector<uint32_t> multiplySpirv() {
  return std::vector<uint32_t>(std::begin(kSpirv_multiply), std::end(kSpirv_multiply));
}

// Replaces the entry point name `from` in the module's OpEntryPoint with `to` (4 characters
// each, so the instruction keeps its length).
std::vector<uint32_t> renameEntryPoint(std::vector<uint32_t> words, const char (&from)[5],
                                       const char (&to)[5]) {
  for (size_t i = 5; i < words.size();) {
    const uint32_t count = words[i] >> 16;
    if ((words[i] & 0xffff) == kOpEntryPoint) {
      // OpEntryPoint: execution model, function id, then the name's words.
      uint32_t nameWord = 0;
      std::memcpy(&nameWord, from, 4);
      EXPECT_EQ(words[i + 3], nameWord) << "the entry point is not named " << from;
      std::memcpy(&words[i + 3], to, 4);
      return words;
    }
    if (count == 0) break;
    i += count;
  }
  ADD_FAILURE() << "no OpEntryPoint in the module";
  return words;
}

class SpirvValidatorTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    validator_ = std::make_unique<SpirvValidator>(device_->info());
  }
  std::unique_ptr<SpirvValidator> validator_;
};

TEST_F(SpirvValidatorTest, BuiltinMultiplyIsValid) {
  const std::vector<uint32_t> words = multiplySpirv();
  EXPECT_NO_THROW(validator_->validate(words));
  EXPECT_EQ(builtinShader(BuiltinShader::kMultiply), words);
  const SpirvModuleInfo info = inspectSpirv(words);
  EXPECT_TRUE(info.hasComputeMain);
  EXPECT_EQ(info.version, 0x00010300u);
  EXPECT_EQ(info.capabilities, std::vector<uint32_t>{1}) << "only Shader";
}

TEST_F(SpirvValidatorTest, CompiledShaderIsValid) {
  const std::vector<uint32_t> words = compile(R"(#version 450
layout(local_size_x = 8) in;
layout(set = 0, binding = 0) buffer Data { double data[]; };
void main() { data[gl_GlobalInvocationID.x] += 1.0lf; }
)");
  EXPECT_NO_THROW(validator_->validate(words));
  const SpirvModuleInfo info = inspectSpirv(words);
  EXPECT_NE(std::find(info.capabilities.begin(), info.capabilities.end(), 10u),
            info.capabilities.end())
      << "Float64";
}

TEST_F(SpirvValidatorTest, RandomBytesAreRejected) {
  std::mt19937 random(1234);
  std::vector<uint32_t> words(64);
  for (uint32_t& word : words) word = random();
  ASSERT_NE(words[0], kSpirvMagic);
  expectError([&] { validator_->validate(words); }, ErrorCode::kInvalidArgument,
              "spirv does not start with the SPIR-V magic number 0x07230203");
  EXPECT_FALSE(looksLikeSpirv(words.data(), words.size() * 4));

  // A valid header followed by noise.
  std::vector<uint32_t> noisy = multiplySpirv();
  for (size_t i = 5; i < noisy.size(); ++i) noisy[i] = random();
  try {
    validator_->validate(noisy);
    ADD_FAILURE() << "random instructions were accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(error.what(), ::testing::AnyOf(::testing::HasSubstr("truncated or corrupt"),
                                               ::testing::HasSubstr("is not valid for Vulkan")));
  }
}

TEST_F(SpirvValidatorTest, TruncatedModuleIsRejected) {
  const std::vector<uint32_t> words = multiplySpirv();
  expectError(
      [&] {
        validator_->validate({words.begin(), words.begin() + 3});
      },
      ErrorCode::kInvalidArgument,
      "spirv is truncated: 12 bytes is shorter than a SPIR-V header (20 bytes)");
  expectError([&] { validator_->validate({}); }, ErrorCode::kInvalidArgument,
              "spirv is truncated: 0 bytes");
  // Cut inside an instruction: its word count runs past the end.
  size_t multiWord = 5;
  while ((words[multiWord] >> 16) < 3) multiWord += words[multiWord] >> 16;
  std::vector<uint32_t> cut(words.begin(), words.begin() + multiWord + 2);
  expectError([&] { validator_->validate(cut); }, ErrorCode::kInvalidArgument,
              "spirv is truncated or corrupt at word");
  // Cut on an instruction boundary (header plus a few instructions): well-formed but not a
  // valid module.
  std::vector<uint32_t> prefix(words.begin(), words.begin() + 5);
  size_t at = 5;
  for (int instructions = 0; instructions < 3; ++instructions) {
    const uint32_t count = words[at] >> 16;
    prefix.insert(prefix.end(), words.begin() + at, words.begin() + at + count);
    at += count;
  }
  expectError([&] { validator_->validate(prefix); }, ErrorCode::kInvalidArgument,
              "spirv is not valid for Vulkan " + apiVersionString(device_->info().apiVersion));
}

// Found by the request fuzzer: SPIRV-Tools accepts any schema word, lavapipe failed the
// pipeline (VK_ERROR_UNKNOWN), and kpd answered INTERNAL.
TEST_F(SpirvValidatorTest, NonZeroSchemaWordIsRejected) {
  std::vector<uint32_t> words = multiplySpirv();
  words[4] = 0xdeadbeef;
  expectError([&] { validator_->validate(words); }, ErrorCode::kInvalidArgument,
              "spirv header word 4 (the instruction schema) is 3735928559; SPIR-V reserves it "
              "and requires 0");
}

TEST_F(SpirvValidatorTest, WrongMagicIsRejected) {
  std::vector<uint32_t> words = multiplySpirv();
  words[0] = 0x07230204;
  expectError([&] { validator_->validate(words); }, ErrorCode::kInvalidArgument,
              "does not start with the SPIR-V magic number");
  // The right words in the wrong byte order.
  std::vector<uint32_t> swapped = multiplySpirv();
  for (uint32_t& word : swapped) word = __builtin_bswap32(word);
  expectError([&] { validator_->validate(swapped); }, ErrorCode::kInvalidArgument,
              "spirv is big-endian; send little-endian words");
}

TEST_F(SpirvValidatorTest, ModuleWithoutMainIsRejected) {
  const std::vector<uint32_t> renamed = renameEntryPoint(multiplySpirv(), "main", "mair");
  EXPECT_FALSE(inspectSpirv(renamed).hasComputeMain);
  expectError([&] { validator_->validate(renamed); }, ErrorCode::kInvalidArgument,
              "spirv has no GLCompute entry point named \"main\"");
  // Sanity: renaming it back makes it valid again.
  EXPECT_NO_THROW(validator_->validate(renameEntryPoint(renamed, "mair", "main")));
}

TEST_F(SpirvValidatorTest, UnsupportedVersionIsRejected) {
  std::vector<uint32_t> words = multiplySpirv();
  words[1] = 0x00010700;  // SPIR-V 1.7 does not exist
  expectError([&] { validator_->validate(words); }, ErrorCode::kInvalidArgument,
              "is not valid for Vulkan");

  // A Vulkan 1.0 device accepts only SPIR-V 1.0; the built-in shader is SPIR-V 1.3.
  DeviceInfo vulkan10 = device_->info();
  vulkan10.apiVersion = VK_MAKE_API_VERSION(0, 1, 0, 0);
  expectError([&] { SpirvValidator(vulkan10).validate(multiplySpirv()); },
              ErrorCode::kInvalidArgument, "spirv is not valid for Vulkan 1.0.0");
}

TEST_F(SpirvValidatorTest, CapabilityTheDeviceLacksIsRejected) {
  const std::vector<uint32_t> words = compile(R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data { double data[]; };
void main() { data[0] = 2.0lf; }
)");
  DeviceInfo noFloat64 = device_->info();
  noFloat64.shaderFloat64 = false;
  noFloat64.name = "test device";
  expectError([&] { SpirvValidator(noFloat64).validate(words); }, ErrorCode::kInvalidArgument,
              "spirv uses capability Float64, which device test device does not support");
  // A shader without doubles is fine on that device.
  EXPECT_NO_THROW(SpirvValidator(noFloat64).validate(multiplySpirv()));
}

TEST_F(SpirvValidatorTest, SpirvWordsNeedWholeWords) {
  const std::vector<uint32_t> words = multiplySpirv();
  const auto* bytes = reinterpret_cast<const uint8_t*>(words.data());
  const size_t size = words.size() * 4;
  EXPECT_EQ(spirvWords(bytes, size), words);
  expectError(
      [&] { spirvWords(bytes, size - 1); }, ErrorCode::kInvalidArgument,
      "spirv has " + std::to_string(size - 1) + " bytes, not a whole number of 32-bit words");
  expectError([&] { spirvWords(bytes, 6); }, ErrorCode::kInvalidArgument,
              "spirv has 6 bytes, not a whole number of 32-bit words");
  expectError([&] { spirvWords(bytes, 0); }, ErrorCode::kInvalidArgument, "spirv is empty");
  // Little-endian bytes.
  const uint8_t header[4] = {0x03, 0x02, 0x23, 0x07};
  EXPECT_EQ(spirvWords(header, 4), std::vector<uint32_t>{kSpirvMagic});
}

TEST_F(SpirvValidatorTest, LooksLikeSpirv) {
  const std::vector<uint32_t> words = multiplySpirv();
  EXPECT_TRUE(looksLikeSpirv(words.data(), words.size() * 4));
  EXPECT_TRUE(looksLikeSpirv(words.data(), 4));
  const uint8_t bigEndian[4] = {0x07, 0x23, 0x02, 0x03};
  EXPECT_TRUE(looksLikeSpirv(bigEndian, 4));
  EXPECT_FALSE(looksLikeSpirv(words.data(), 3));
  EXPECT_FALSE(looksLikeSpirv(nullptr, 0));
  const std::string glsl = "#version 450\nvoid main() {}\n";
  EXPECT_FALSE(looksLikeSpirv(glsl.data(), glsl.size()));
}

}  // namespace
}  // namespace kp::engine::test
