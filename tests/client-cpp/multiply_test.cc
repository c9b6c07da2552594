// Multiplication end to end through kpd: built-in OpMult, GLSL, SPIR-V; record once and
// evaluate many; Kompute's record-after-eval semantics.
#include <gtest/gtest.h>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

using MultiplyTest = KpdTest;

TEST_F(MultiplyTest, OpMultWithEmptyAlgorithm) {
  auto lhs = mgr().tensor({0, 1, 2});
  auto rhs = mgr().tensor({2, 4, 6});
  auto out = mgr().tensor({0, 0, 0});
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({lhs, rhs})
      ->record<OpMult>({lhs, rhs, out}, mgr().algorithm())
      ->record<OpTensorSyncLocal>({out})
      ->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({0, 4, 12}));
}

TEST_F(MultiplyTest, KomputesBarrierWithVulkanTypesFromKpHpp) {
  // As Kompute's SingleSequenceRecord: vk:: types come with the one include, and a barrier
  // with transfer access at the compute stage is accepted.
  auto lhs = mgr().tensor({1, 2});
  auto rhs = mgr().tensor({3, 4});
  auto out = mgr().tensor({0, 0});
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({lhs, rhs})
      ->record<OpMemoryBarrier>(std::vector<std::shared_ptr<Tensor>>{lhs, rhs},
                                vk::AccessFlagBits::eTransferRead,
                                vk::AccessFlagBits::eShaderWrite,
                                vk::PipelineStageFlagBits::eComputeShader,
                                vk::PipelineStageFlagBits::eComputeShader)
      ->record<OpMult>({lhs, rhs, out}, mgr().algorithm())
      ->record<OpTensorSyncLocal>({out})
      ->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({3, 8}));
}

TEST_F(MultiplyTest, OpMultNeedsThreeTensors) {
  auto a = mgr().tensor({1});
  EXPECT_THROW(mgr().sequence()->record<OpMult>({a, a}, mgr().algorithm()), InvalidArgumentError);
}

TEST_F(MultiplyTest, AlgorithmFromGlslSource) {
  auto lhs = mgr().tensor({2, 2, 2});
  auto rhs = mgr().tensor({1, 2, 3});
  auto out = mgr().tensor({0, 0, 0});
  std::vector<std::shared_ptr<Tensor>> params = {lhs, rhs, out};
  auto algo = mgr().algorithm(params, kMultiplyGlsl);
  EXPECT_EQ(algo->getWorkgroup(), (Workgroup{3, 1, 1}));
  EXPECT_EQ(algo->getTensors(), params);
  EXPECT_TRUE(algo->isInit());
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>(params)
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>(params)
      ->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({2, 4, 6}));
}

TEST_F(MultiplyTest, AlgorithmFromSpirv) {
  auto lhs = mgr().tensor({3, 4, 5});
  auto rhs = mgr().tensor({2, 2, 2});
  auto out = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({lhs, rhs, out}, mgr().compileSource(kMultiplyGlsl));
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({lhs, rhs})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>({out})
      ->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({6, 8, 10}));
}

TEST_F(MultiplyTest, InvalidGlslNamesTheLine) {
  auto t = mgr().tensor({1});
  try {
    mgr().algorithm({t}, std::string("#version 450\nvoid main() { nope(); }\n"));
    FAIL() << "no error";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find(":2:"), std::string::npos) << error.what();
  }
}

TEST_F(MultiplyTest, InvalidSpirvIsRejected) {
  auto t = mgr().tensor({1});
  EXPECT_THROW(mgr().algorithm({t}, std::vector<uint32_t>{0x07230203u, 1, 2, 3, 4}),
               InvalidArgumentError);
}

TEST_F(MultiplyTest, BuiltShaderOnLargeTensor) {
  constexpr uint32_t n = 100000;
  std::vector<float> a(n), b(n, 0.5f), expected(n);
  for (uint32_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i);
    expected[i] = a[i] * b[i];
  }
  auto lhs = mgr().tensor(a);
  auto rhs = mgr().tensor(b);
  auto out = mgr().tensor(std::vector<float>(n, 0.0f));
  // shaders/multiply.comp has local_size_x 64 and a bounds check.
  auto algo = mgr().algorithm({lhs, rhs, out}, builtShader("multiply"), {(n + 63) / 64, 1, 1});
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({lhs, rhs})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>({out})
      ->eval();
  EXPECT_EQ(out->vector(), expected);
}

TEST_F(MultiplyTest, RecordOnceEvaluateManyWithHostWrites) {
  auto lhs = mgr().tensor({1, 1, 1});
  auto rhs = mgr().tensor({1, 2, 3});
  auto out = mgr().tensor({0, 0, 0});
  auto seq = mgr()
                 .sequence()
                 ->record<OpTensorSyncDevice>({lhs, rhs})
                 ->record<OpMult>({lhs, rhs, out}, mgr().algorithm())
                 ->record<OpTensorSyncLocal>({out});
  for (int i = 1; i <= 10; ++i) {
    const float value = static_cast<float>(i);
    lhs->setData({value, value, value});  // host writes: uploaded by the next evaluation
    seq->eval();
    EXPECT_EQ(out->vector(), std::vector<float>({value, 2 * value, 3 * value}));
  }
}

TEST_F(MultiplyTest, RecordAfterEvalStartsNewOpList) {
  // Kompute's contract: record(a)->eval()->record(b)->eval() runs a, then only b.
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kIncrementGlsl);
  auto seq = mgr().sequence();
  seq->record<OpTensorSyncDevice>({t})->record<OpAlgoDispatch>(algo)->eval();
  EXPECT_FALSE(seq->isRecording());
  seq->record<OpAlgoDispatch>(algo);  // a new list: no re-upload of zeros
  EXPECT_TRUE(seq->isRecording());
  seq->eval();
  seq->eval();  // the same list again
  mgr().sequence()->eval<OpTensorSyncLocal>({t});
  EXPECT_EQ(t->vector(), std::vector<float>({3, 3, 3}));
}

TEST_F(MultiplyTest, EvalOfOneOpReplacesTheList) {
  auto a = mgr().tensor({1, 2, 3});
  auto b = mgr().tensor({0, 0, 0});
  auto c = mgr().tensor({0, 0, 0});
  auto seq = mgr().sequence();
  seq->eval<OpTensorCopy>({a, b});
  seq->eval(std::make_shared<OpTensorCopy>(Tensors{b, c}));
  EXPECT_EQ(c->vector(), std::vector<float>({1, 2, 3}));
}

TEST_F(MultiplyTest, ClearAndRerecord) {
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kIncrementGlsl);
  auto seq = mgr().sequence()->record<OpTensorSyncDevice>({t})->record<OpAlgoDispatch>(algo);
  seq->record<OpTensorSyncLocal>({t});
  EXPECT_TRUE(seq->isRecording());
  seq->clear();
  EXPECT_FALSE(seq->isRecording());
  // As Kompute's UtilsClearRecordingRunning: what was recorded before clear() still runs...
  seq->eval();
  EXPECT_EQ(t->vector(), std::vector<float>({1, 1, 1}));
  // ... until a new record() starts a new op list, or rerecord() records the empty one.
  seq->clear();
  seq->rerecord();
  seq->eval();
  EXPECT_EQ(t->vector(), std::vector<float>({1, 1, 1}));
  seq->clear();
  seq->record<OpTensorSyncLocal>({t})->eval();
  EXPECT_EQ(t->vector(), std::vector<float>({1, 1, 1}));

  // Kompute's RerecordSequence: after rebuilding an algorithm, rerecord() picks it up.
  auto lhs = mgr().tensor({1, 2, 3});
  auto rhs = mgr().tensor({2, 2, 2});
  auto out = mgr().tensor({0, 0, 0});
  auto multiply = mgr().algorithm({lhs, rhs, out}, kMultiplyGlsl);
  auto sq = mgr()
                .sequence()
                ->record<OpTensorSyncDevice>({lhs, rhs, out})
                ->record<OpAlgoDispatch>(multiply)
                ->record<OpTensorSyncLocal>({lhs, rhs, out});
  sq->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({2, 4, 6}));
  multiply->rebuild({out, lhs, rhs}, mgr().compileSource(kMultiplyGlsl));
  sq->rerecord();
  sq->eval();
  EXPECT_EQ(rhs->vector(), std::vector<float>({2, 8, 18}));
}

TEST_F(MultiplyTest, MemoryBarrierBetweenDispatches) {
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kIncrementGlsl);
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({t})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpMemoryBarrier>({t}, AccessFlags::eShaderWrite, AccessFlags::eShaderRead,
                                PipelineStageFlags::eComputeShader,
                                PipelineStageFlags::eComputeShader)
      ->record<OpAlgoDispatch>(algo)
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>({t})
      ->eval();
  EXPECT_EQ(t->vector(), std::vector<float>({3, 3, 3}));
}

}  // namespace
}  // namespace kp::test
