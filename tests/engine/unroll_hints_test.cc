// dropUnrollHints: Unroll, PeelCount and PartialCount leave every OpLoopMerge, other loop
// controls and their operands stay, and the module stays valid and computes the same.
#include "server/engine/shader/unroll_hints.h"
#include "test_environment.h"

namespace kp::engine::test {
namespace {

constexpr uint32_t kOpLoopMerge = 246;

// The loop controls of every OpLoopMerge of `words`, with their operands.
std::vector<std::vector<uint32_t>> loopControls(const std::vector<uint32_t>& words) {
  std::vector<std::vector<uint32_t>> controls;
  for (size_t i = 5; i < words.size();) {
    const uint32_t count = words[i] >> 16;
    if ((words[i] & 0xffff) == kOpLoopMerge) {
      controls.emplace_back(words.begin() + i + 3, words.begin() + i + count);
    }
    i += count;
  }
  return controls;
}

constexpr const char* kHinted = R"(#version 450
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() {
  float s = 0.0;
  [[unroll]] for (int i = 0; i < 50000; ++i) { s += 1.0; }
  [[dependency_length(4)]] for (int i = 0; i < 8; ++i) { s += a[i % 2]; }
  a[0] = s;
}
)";

TEST(UnrollHints, AreDroppedAndTheOtherControlsKept) {
  std::vector<uint32_t> words = compile(kHinted);
  const auto before = loopControls(words);
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(before[0], (std::vector<uint32_t>{0x1}));       // Unroll
  EXPECT_EQ(before[1], (std::vector<uint32_t>{0x8, 4}));    // DependencyLength 4
  EXPECT_EQ(dropUnrollHints(words), 1u);
  const auto after = loopControls(words);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0], (std::vector<uint32_t>{0x0}));
  EXPECT_EQ(after[1], (std::vector<uint32_t>{0x8, 4}));
  EXPECT_EQ(dropUnrollHints(words), 0u) << "nothing left to drop";
  SpirvValidator(device()->info()).validate(words);
}

TEST(UnrollHints, AHugeUnrolledLoopRunsAndComputesTheSame) {
  auto tensor = Tensor::create(device(), std::vector<float>{1, 2}, TensorType::kHost);
  // Algorithm::create drops the hint: the driver compiles the loop as a loop.
  auto algorithm = Algorithm::create(device(), {tensor}, compile(kHinted), Workgroup{1, 1, 1});
  auto sequence = Sequence::create(device());
  sequence->record(std::make_shared<OpAlgoDispatch>(algorithm)).eval();
  // (lavapipe ends an invocation's loops after 65535 iterations in all: the loop stays below.)
  EXPECT_EQ(tensor->vector<float>()[0], 50000.0f + 4 * (1.0f + 2.0f));
}

}  // namespace
}  // namespace kp::engine::test
