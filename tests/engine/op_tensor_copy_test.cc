// OpTensorCopy between every pair of tensor types, and its argument checks.
#include <tuple>

#include "test_environment.h"

namespace kp::engine::test {
namespace {

const std::vector<float> kSource{1.5f, -2.0f, 3.25f, 1.0e6f};
const std::vector<float> kTarget{9.0f, 9.0f, 9.0f, 9.0f};

class OpTensorCopyPairTest
    : public EngineTest,
      public ::testing::WithParamInterface<std::tuple<TensorType, TensorType>> {};

TEST_P(OpTensorCopyPairTest, CopiesValues) {
  const auto [fromType, toType] = GetParam();
  auto from = Tensor::create(device_, kSource, fromType);
  auto to = Tensor::create(device_, kTarget, toType);

  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorCopy>(std::vector{from, to}));
  sequence->eval();

  // As in Kompute: where both have host data, the destination's reads like the source's right
  // after the copy, without a sync. A host tensor's host data is the buffer the GPU wrote.
  if (to->hasHostData() && (from->hasHostData() || toType == TensorType::kHost)) {
    EXPECT_EQ(to->vector<float>(), kSource);
  } else if (to->hasHostData()) {
    // Storage -> device: the host copy is stale until a sync.
    EXPECT_EQ(to->vector<float>(), kTarget);
  }

  if (to->hasHostData()) {
    to->setData(std::vector<float>(kSource.size(), 0.0f));
    if (toType == TensorType::kHost) {
      // Clearing a host tensor's host data cleared its GPU data too; copy again.
      sequence->eval();
    }
    auto download = Sequence::create(device_);
    download->record(std::make_shared<OpTensorSyncLocal>(std::vector{to}));
    download->eval();
    EXPECT_EQ(to->vector<float>(), kSource);
  }
  EXPECT_EQ(gpuValues<float>(to), kSource);
  // The source is unchanged.
  EXPECT_EQ(gpuValues<float>(from), kSource);
  if (from->hasHostData()) {
    EXPECT_EQ(from->vector<float>(), kSource);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllPairs, OpTensorCopyPairTest,
    ::testing::Combine(
        ::testing::Values(TensorType::kDevice, TensorType::kHost, TensorType::kStorage),
        ::testing::Values(TensorType::kDevice, TensorType::kHost, TensorType::kStorage)),
    [](const auto& info) {
      return std::string(tensorTypeName(std::get<0>(info.param))) + "_to_" +
             tensorTypeName(std::get<1>(info.param));
    });

using OpTensorCopyTest = EngineTest;

TEST_F(OpTensorCopyTest, ChainsThroughStorage) {
  // device -> storage -> device and host -> storage -> host, in one sequence each.
  for (TensorType outer : {TensorType::kDevice, TensorType::kHost}) {
    SCOPED_TRACE(tensorTypeName(outer));
    auto from = Tensor::create(device_, std::vector<int32_t>{7, -8, 9}, outer);
    auto middle = Tensor::create(device_, DataType::kInt32, 3, TensorType::kStorage);
    auto to = Tensor::create(device_, std::vector<int32_t>{0, 0, 0}, outer);
    auto sequence = Sequence::create(device_);
    sequence->record(std::make_shared<OpTensorCopy>(std::vector{from, middle}))
        .record(std::make_shared<OpTensorCopy>(std::vector{middle, to}))
        .record(std::make_shared<OpTensorSyncLocal>(std::vector{to}));
    sequence->eval();
    EXPECT_EQ(to->vector<int32_t>(), (std::vector<int32_t>{7, -8, 9}));
    EXPECT_EQ(gpuValues<int32_t>(middle), (std::vector<int32_t>{7, -8, 9}));
  }
}

TEST_F(OpTensorCopyTest, CopiesToSeveralDestinations) {
  auto from = Tensor::create(device_, std::vector<double>{0.1, -1.0e300, 42});
  auto toDevice = Tensor::create(device_, DataType::kFloat64, 3, TensorType::kDevice);
  auto toHost = Tensor::create(device_, DataType::kFloat64, 3, TensorType::kHost);
  auto toStorage = Tensor::create(device_, DataType::kFloat64, 3, TensorType::kStorage);
  auto op = std::make_shared<OpTensorCopy>(std::vector{from, toDevice, toHost, toStorage});
  EXPECT_STREQ(op->name(), "OpTensorCopy");
  EXPECT_EQ(op->tensors(), (std::vector{from, toDevice, toHost, toStorage}));
  // Only destinations with host data get the source's host data.
  EXPECT_EQ(op->hostOutputs(), (std::vector{toDevice, toHost}));
  EXPECT_TRUE(op->hostInputs().empty());

  auto sequence = Sequence::create(device_);
  sequence->record(op);
  sequence->eval();
  const std::vector<double> expected{0.1, -1.0e300, 42};
  EXPECT_EQ(toDevice->vector<double>(), expected);
  EXPECT_EQ(toHost->vector<double>(), expected);
  EXPECT_EQ(gpuValues<double>(toDevice), expected);
  EXPECT_EQ(gpuValues<double>(toStorage), expected);
}

TEST_F(OpTensorCopyTest, StorageSourceHasNoHostOutputs) {
  auto from = Tensor::create(device_, std::vector<float>{1}, TensorType::kStorage);
  auto to = Tensor::create(device_, std::vector<float>{2});
  EXPECT_TRUE(OpTensorCopy({from, to}).hostOutputs().empty());
}

TEST_F(OpTensorCopyTest, CopiesGpuDataAndHostDataAsKompute) {
  // The source's host copy was changed but not synced: the GPU copy takes the GPU data, and the
  // destination's host copy takes the source's host copy (Kompute's semantics).
  auto from = Tensor::create(device_, std::vector<uint32_t>{1, 2, 3});
  from->setData(std::vector<uint32_t>{4, 5, 6});
  auto to = Tensor::create(device_, std::vector<uint32_t>{0, 0, 0});
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorCopy>(std::vector{from, to}));
  sequence->eval();
  EXPECT_EQ(to->vector<uint32_t>(), (std::vector<uint32_t>{4, 5, 6}));
  EXPECT_EQ(gpuValues<uint32_t>(to), (std::vector<uint32_t>{1, 2, 3}));
}

TEST_F(OpTensorCopyTest, CopiesLargeTensor) {
  std::vector<uint32_t> values(1 << 16);
  for (uint32_t i = 0; i < values.size(); ++i) values[i] = i * 2654435761u;
  auto from = Tensor::create(device_, values, TensorType::kStorage);
  auto to = Tensor::create(device_, DataType::kUInt32, values.size(), TensorType::kDevice);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorCopy>(std::vector{from, to}))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{to}));
  sequence->eval();
  EXPECT_EQ(to->vector<uint32_t>(), values);
}

TEST_F(OpTensorCopyTest, FewerThanTwoTensorsIsInvalidArgument) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  expectError([&] { OpTensorCopy({a}); }, ErrorCode::kInvalidArgument,
              "OpTensorCopy: needs at least 2 tensors (a source and a destination), got 1");
  expectError([&] { OpTensorCopy({}); }, ErrorCode::kInvalidArgument, "got 0");
}

TEST_F(OpTensorCopyTest, TypeMismatchIsInvalidArgument) {
  auto floats = Tensor::create(device_, std::vector<float>{1, 2});
  auto ints = Tensor::create(device_, std::vector<int32_t>{1, 2});
  auto uints = Tensor::create(device_, std::vector<uint32_t>{1, 2});
  expectError(
      [&] {
        OpTensorCopy({floats, ints});
      },
      ErrorCode::kInvalidArgument,
      "OpTensorCopy: tensors[1] has data type int32, tensors[0] has float32");
  // Same element size, different type: still rejected.
  expectError(
      [&] {
        OpTensorCopy({ints, uints});
      },
      ErrorCode::kInvalidArgument, "tensors[1] has data type uint32, tensors[0] has int32");
  auto bools = Tensor::create(device_, DataType::kBool, 2, TensorType::kDevice);
  expectError(
      [&] {
        OpTensorCopy({uints, bools});
      },
      ErrorCode::kInvalidArgument, "tensors[1] has data type bool, tensors[0] has uint32");
}

TEST_F(OpTensorCopyTest, SizeMismatchIsInvalidArgument) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2, 3});
  auto b = Tensor::create(device_, std::vector<float>{1, 2, 3});
  auto c = Tensor::create(device_, std::vector<float>{1, 2});
  expectError(
      [&] {
        OpTensorCopy({a, b, c});
      },
      ErrorCode::kInvalidArgument, "OpTensorCopy: tensors[2] has 2 elements, tensors[0] has 3");
}

TEST_F(OpTensorCopyTest, SameTensorTwiceIsInvalidArgument) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto b = Tensor::create(device_, std::vector<float>{1, 2});
  expectError(
      [&] {
        OpTensorCopy({a, a});
      },
      ErrorCode::kInvalidArgument, "OpTensorCopy: tensors[1] is the same tensor as tensors[0]");
  expectError(
      [&] {
        OpTensorCopy({a, b, b});
      },
      ErrorCode::kInvalidArgument, "tensors[2] is the same tensor as tensors[1]");
}

TEST_F(OpTensorCopyTest, NullAndDestroyedTensors) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto b = Tensor::create(device_, std::vector<float>{3, 4});
  expectError(
      [&] {
        OpTensorCopy({a, nullptr});
      },
      ErrorCode::kInvalidArgument, "OpTensorCopy: tensors[1] is null");
  auto op = std::make_shared<OpTensorCopy>(std::vector{a, b});
  auto sequence = Sequence::create(device_);
  sequence->record(op);
  b->destroy();
  expectError(
      [&] {
        OpTensorCopy({a, b});
      },
      ErrorCode::kFailedPrecondition, "OpTensorCopy: tensors[1] was destroyed");
  expectError([&] { sequence->eval(); }, ErrorCode::kFailedPrecondition,
              "OpTensorCopy: tensors[1] was destroyed");
  EXPECT_FALSE(sequence->isRunning());
  EXPECT_EQ(a->vector<float>(), (std::vector<float>{1, 2}));
}

}  // namespace
}  // namespace kp::engine::test
