// GlslCompiler: GLSL compute shaders to SPIR-V, errors with line numbers, and its cache.
#include <algorithm>

#include "test_environment.h"

namespace kp::engine::test {
namespace {

constexpr uint32_t kSpirvMagic = 0x07230203;

constexpr const char* kValidShader = R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data { float data[]; };
void main() {
  data[gl_GlobalInvocationID.x] *= 2.0;
}
)";

TEST(GlslCompilerTest, CompilesValidShader) {
  GlslCompiler compiler;
  const std::vector<uint32_t> spirv = compiler.compile(kValidShader);
  ASSERT_GE(spirv.size(), 5u);
  EXPECT_EQ(spirv[0], kSpirvMagic);
  EXPECT_EQ(spirv[1], 0x00010300u) << "SPIR-V 1.3 for Vulkan 1.1";
  const SpirvModuleInfo info = inspectSpirv(spirv);
  EXPECT_TRUE(info.hasComputeMain);
  EXPECT_NE(std::find(info.capabilities.begin(), info.capabilities.end(), 1u),
            info.capabilities.end())
      << "the Shader capability";
}

TEST(GlslCompilerTest, SyntaxErrorNamesTheLine) {
  GlslCompiler compiler;
  const std::string source = R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data { float data[]; };
void main() {
  data[0] = undeclaredThing * 2.0;
}
)";
  expectError([&] { compiler.compile(source, "broken.comp"); }, ErrorCode::kInvalidArgument,
              "GLSL compilation failed");
  expectError([&] { compiler.compile(source, "broken.comp"); }, ErrorCode::kInvalidArgument,
              "broken.comp:5:");
  expectError([&] { compiler.compile(source, "broken.comp"); }, ErrorCode::kInvalidArgument,
              "'undeclaredThing' : undeclared identifier");
  // The default name.
  expectError([&] { compiler.compile(source); }, ErrorCode::kInvalidArgument, "shader:5:");
  // A failed compile is not cached.
  EXPECT_EQ(compiler.cacheHits(), 0u);
}

TEST(GlslCompilerTest, ParseErrorNamesTheLine) {
  GlslCompiler compiler;
  const std::string source =
      "#version 450\n"
      "layout(local_size_x = 1) in;\n"
      "void main() {\n"
      "  float x = 1.0;\n"
      "  x = x +* 2.0;\n"
      "}\n";
  expectError([&] { compiler.compile(source, "parse.comp"); }, ErrorCode::kInvalidArgument,
              "parse.comp:5:");
}

TEST(GlslCompilerTest, EmptySourceAndMissingMainAreRejected) {
  GlslCompiler compiler;
  expectError([&] { compiler.compile(""); }, ErrorCode::kInvalidArgument, "GLSL source is empty");
  expectError(
      [&] { compiler.compile("#version 450\nlayout(local_size_x = 1) in;\nvoid notMain() {}\n"); },
      ErrorCode::kInvalidArgument,
      "GLSL link failed:\nERROR: Linking compute stage: Missing entry point");
}

TEST(GlslCompilerTest, CachesBySource) {
  GlslCompiler compiler;
  const std::vector<uint32_t> first = compiler.compile(kValidShader);
  EXPECT_EQ(compiler.cacheHits(), 0u);
  const std::vector<uint32_t> second = compiler.compile(kValidShader);
  EXPECT_EQ(compiler.cacheHits(), 1u);
  EXPECT_EQ(second, first);
  // The cache is keyed by the source text only: another name still hits.
  EXPECT_EQ(compiler.compile(kValidShader, "other.comp"), first);
  EXPECT_EQ(compiler.cacheHits(), 2u);
  // Different source: a miss, and different code.
  const std::string changed = std::string(kValidShader) + "\n";
  compiler.compile(changed);
  EXPECT_EQ(compiler.cacheHits(), 2u);
}

TEST(GlslCompilerTest, EvictsLeastRecentlyUsed) {
  GlslCompiler compiler(1);
  const std::string other = std::string(kValidShader) + "// other\n";
  compiler.compile(kValidShader);
  compiler.compile(other);         // evicts kValidShader
  compiler.compile(kValidShader);  // miss, evicts other
  EXPECT_EQ(compiler.cacheHits(), 0u);
  compiler.compile(kValidShader);  // hit
  EXPECT_EQ(compiler.cacheHits(), 1u);
}

TEST(GlslCompilerTest, CompiledShaderRuns) {
  auto device = test::device();
  auto tensor = Tensor::create(device, std::vector<float>{1, -2, 3.5f});
  auto algorithm = Algorithm::create(device, {tensor}, GlslCompiler().compile(kValidShader));
  auto sequence = Sequence::create(device);
  sequence->record(std::make_shared<OpAlgoDispatch>(algorithm))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
  sequence->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{2, -4, 7}));
}

}  // namespace
}  // namespace kp::engine::test
