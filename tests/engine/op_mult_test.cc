// OpMult: the built-in multiply shader, end to end.
#include "test_environment.h"

namespace kp::engine::test {
namespace {

using OpMultTest = EngineTest;

TEST_F(OpMultTest, MultipliesKomputeExample) {
  auto lhs = Tensor::create(device_, std::vector<float>{2, 4, 6});
  auto rhs = Tensor::create(device_, std::vector<float>{0, 1, 2});
  auto out = Tensor::create(device_, std::vector<float>{0, 0, 0});

  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{lhs, rhs, out}))
      .record(std::make_shared<OpMult>(std::vector{lhs, rhs, out}))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{out}));
  sequence->eval();

  EXPECT_EQ(out->vector<float>(), (std::vector<float>{0, 4, 12}));
  // The inputs are unchanged.
  EXPECT_EQ(lhs->vector<float>(), (std::vector<float>{2, 4, 6}));
  EXPECT_EQ(rhs->vector<float>(), (std::vector<float>{0, 1, 2}));
}

TEST_F(OpMultTest, UsesHostDataUploadedBeforeEachEval) {
  auto lhs = Tensor::create(device_, std::vector<float>{1, 1, 1});
  auto rhs = Tensor::create(device_, std::vector<float>{1, 2, 3});
  auto out = Tensor::create(device_, DataType::kFloat32, 3, TensorType::kDevice);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{lhs, rhs}))
      .record(std::make_shared<OpMult>(std::vector{lhs, rhs, out}))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{out}));
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{1, 2, 3}));

  lhs->setData(std::vector<float>{-2, 0.5f, 10});
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{-2, 1, 30}));
}

TEST_F(OpMultTest, MultipliesThousandElements) {
  constexpr size_t kCount = 1000;  // not a multiple of the shader's 64-wide workgroup
  std::vector<float> a(kCount), b(kCount), expected(kCount);
  for (size_t i = 0; i < kCount; ++i) {
    a[i] = static_cast<float>(i);
    b[i] = static_cast<float>(static_cast<int>(i % 7) - 3);
    expected[i] = a[i] * b[i];
  }
  auto lhs = Tensor::create(device_, a);
  auto rhs = Tensor::create(device_, b);
  auto out = Tensor::create(device_, DataType::kFloat32, kCount, TensorType::kDevice);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpMult>(std::vector{lhs, rhs, out}))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{out}));
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), expected);
}

TEST_F(OpMultTest, WorksOnEveryTensorType) {
  // Inputs in storage and host memory, output in a host tensor the shader writes directly.
  auto lhs = Tensor::create(device_, std::vector<float>{3, -1, 0.5f, 8}, TensorType::kStorage);
  auto rhs = Tensor::create(device_, std::vector<float>{2, 7, 4, 0.25f}, TensorType::kHost);
  auto out = Tensor::create(device_, DataType::kFloat32, 4, TensorType::kHost);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpMult>(std::vector{lhs, rhs, out}));
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{6, -7, 2, 2}));
}

TEST_F(OpMultTest, ReportsItsTensors) {
  auto a = Tensor::create(device_, std::vector<float>{1});
  auto b = Tensor::create(device_, std::vector<float>{2});
  auto c = Tensor::create(device_, std::vector<float>{3});
  OpMult op({a, b, c});
  EXPECT_STREQ(op.name(), "OpMult");
  EXPECT_EQ(op.tensors(), (std::vector{a, b, c}));
  EXPECT_TRUE(op.hostInputs().empty());
  EXPECT_TRUE(op.hostOutputs().empty());
}

TEST_F(OpMultTest, RejectsWrongTensorCount) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto b = Tensor::create(device_, std::vector<float>{1, 2});
  auto c = Tensor::create(device_, std::vector<float>{1, 2});
  auto d = Tensor::create(device_, std::vector<float>{1, 2});
  expectError(
      [&] {
        OpMult({a, b});
      },
      ErrorCode::kInvalidArgument, "OpMult: needs 3 tensors (lhs, rhs, output), got 2");
  expectError([&] { OpMult({a, b, c, d}); }, ErrorCode::kInvalidArgument, "got 4");
  expectError([&] { OpMult({}); }, ErrorCode::kInvalidArgument, "got 0");
}

TEST_F(OpMultTest, RejectsNonFloatTensors) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto ints = Tensor::create(device_, std::vector<int32_t>{1, 2});
  auto doubles = Tensor::create(device_, std::vector<double>{1, 2});
  auto out = Tensor::create(device_, std::vector<float>{0, 0});
  expectError(
      [&] {
        OpMult({a, ints, out});
      },
      ErrorCode::kInvalidArgument,
      "OpMult: tensors[1] has data type int32; the multiply shader needs float32");
  expectError(
      [&] {
        OpMult({a, out, doubles});
      },
      ErrorCode::kInvalidArgument, "tensors[2] has data type float64");
}

TEST_F(OpMultTest, RejectsSizeMismatch) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2, 3});
  auto b = Tensor::create(device_, std::vector<float>{1, 2});
  auto out = Tensor::create(device_, std::vector<float>{0, 0, 0});
  expectError(
      [&] {
        OpMult({a, b, out});
      },
      ErrorCode::kInvalidArgument, "OpMult: tensors[1] has 2 elements, tensors[0] has 3");
}

TEST_F(OpMultTest, RejectsSameTensorTwiceNullAndDestroyed) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto b = Tensor::create(device_, std::vector<float>{1, 2});
  expectError(
      [&] {
        OpMult({a, b, a});
      },
      ErrorCode::kInvalidArgument, "a tensor can be bound only once");
  expectError(
      [&] {
        OpMult({a, nullptr, b});
      },
      ErrorCode::kInvalidArgument, "OpMult: tensors[1] is null");
  auto gone = Tensor::create(device_, std::vector<float>{1, 2});
  gone->destroy();
  expectError(
      [&] {
        OpMult({a, b, gone});
      },
      ErrorCode::kFailedPrecondition, "OpMult: tensors[2] was destroyed");
}

TEST_F(OpMultTest, EvalAfterOutputDestroyedIsFailedPrecondition) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto b = Tensor::create(device_, std::vector<float>{3, 4});
  auto out = Tensor::create(device_, std::vector<float>{0, 0});
  auto op = std::make_shared<OpMult>(std::vector{a, b, out});
  auto sequence = Sequence::create(device_);
  sequence->record(op).record(std::make_shared<OpTensorSyncLocal>(std::vector{out}));
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{3, 8}));
  out->destroy();
  expectError([&] { op->checkUsable(); }, ErrorCode::kFailedPrecondition,
              "the algorithm's tensors[2] was destroyed");
  expectError([&] { sequence->eval(); }, ErrorCode::kFailedPrecondition, "was destroyed");
  EXPECT_FALSE(sequence->isRunning());
}

}  // namespace
}  // namespace kp::engine::test
