// Tensors of every tensor type and element type: creation, host data, syncs and destruction.
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "test_environment.h"

namespace kp::engine::test {
namespace {

using Bytes = std::vector<uint8_t>;

template <typename T>
Bytes bytesOf(const std::vector<T>& values) {
  Bytes bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

// Five distinctive elements of `type`, packed as the GPU stores them. `variant` picks a second,
// different set.
Bytes sampleData(DataType type, int variant) {
  switch (type) {
    case DataType::kFloat32:
      return variant == 0 ? bytesOf<float>({1.5f, -2.25f, 3.0e7f, 0.0f, -1.0e-20f})
                          : bytesOf<float>({7.0f, 8.5f, -9.0f, 1.0e10f, 0.125f});
    case DataType::kInt32:
      return variant == 0 ? bytesOf<int32_t>({-1, 0, std::numeric_limits<int32_t>::max(),
                                              std::numeric_limits<int32_t>::min(), 42})
                          : bytesOf<int32_t>({5, -6, 7, -8, 9});
    case DataType::kUInt32:
      return variant == 0 ? bytesOf<uint32_t>({0u, 1u, std::numeric_limits<uint32_t>::max(),
                                               123456789u, 0x80000000u})
                          : bytesOf<uint32_t>({10u, 20u, 30u, 40u, 50u});
    case DataType::kFloat64:
      return variant == 0 ? bytesOf<double>({1.0e300, -0.1, M_PI, 0.0, -2.5e-300})
                          : bytesOf<double>({2.0, -3.0, 1.0 / 3.0, 1.0e100, 0.5});
    case DataType::kBool:
      return variant == 0 ? bytesOf<uint32_t>({1u, 0u, 1u, 1u, 0u})
                          : bytesOf<uint32_t>({0u, 1u, 0u, 0u, 1u});
  }
  return {};
}

constexpr uint64_t kSampleCount = 5;

Bytes hostBytes(const Tensor& tensor) {
  Bytes bytes(tensor.byteSize());
  tensor.getHostData(bytes.data(), bytes.size());
  return bytes;
}

std::string paramName(const ::testing::TestParamInfo<std::tuple<TensorType, DataType>>& info) {
  return std::string(tensorTypeName(std::get<0>(info.param))) + "_" +
         dataTypeName(std::get<1>(info.param));
}

class TensorRoundTripTest : public EngineTest,
                            public ::testing::WithParamInterface<std::tuple<TensorType, DataType>> {
};

TEST_P(TensorRoundTripTest, CreateSyncAndCopyPreserveValues) {
  const auto [tensorType, dataType] = GetParam();
  const Bytes first = sampleData(dataType, 0);
  const Bytes second = sampleData(dataType, 1);
  ASSERT_NE(first, second);

  auto tensor = Tensor::create(device_, dataType, kSampleCount, tensorType, first.data());
  ASSERT_TRUE(tensor->isInit());
  EXPECT_EQ(tensor->size(), kSampleCount);
  EXPECT_EQ(tensor->byteSize(), kSampleCount * elementSize(dataType));
  EXPECT_EQ(tensor->dataType(), dataType);
  EXPECT_EQ(tensor->tensorType(), tensorType);
  EXPECT_EQ(tensor->hasHostData(), tensorType != TensorType::kStorage);
  EXPECT_NE(tensor->primaryBuffer(), static_cast<VkBuffer>(VK_NULL_HANDLE));
  EXPECT_EQ(tensor->stagingBuffer() != VK_NULL_HANDLE, tensorType == TensorType::kDevice);

  // The initial data is on the GPU (and in the host copy, where there is one).
  EXPECT_EQ(gpuBytes(tensor), first);
  if (tensor->hasHostData()) {
    EXPECT_EQ(hostBytes(*tensor), first);
  }

  if (tensor->hasHostData()) {
    // Host -> GPU.
    tensor->setHostData(second.data(), second.size());
    auto upload = Sequence::create(device_);
    upload->record(std::make_shared<OpTensorSyncDevice>(std::vector{tensor}));
    upload->eval();
    EXPECT_EQ(gpuBytes(tensor), second);

    // GPU -> host, over a cleared host copy (only a device tensor's host copy is separate).
    if (tensorType == TensorType::kDevice) {
      Bytes zeros(tensor->byteSize(), 0);
      tensor->setHostData(zeros.data(), zeros.size());
      EXPECT_EQ(hostBytes(*tensor), zeros);
    }
    auto download = Sequence::create(device_);
    download->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
    download->eval();
    EXPECT_EQ(hostBytes(*tensor), second);
  } else {
    // A storage tensor is written and read only on the GPU, through copies.
    auto source =
        Tensor::create(device_, dataType, kSampleCount, TensorType::kDevice, second.data());
    auto copy = Sequence::create(device_);
    copy->record(std::make_shared<OpTensorCopy>(std::vector{source, tensor}));
    copy->eval();
    EXPECT_EQ(gpuBytes(tensor), second);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, TensorRoundTripTest,
    ::testing::Combine(::testing::Values(TensorType::kDevice, TensorType::kHost,
                                         TensorType::kStorage),
                       ::testing::Values(DataType::kFloat32, DataType::kInt32, DataType::kUInt32,
                                         DataType::kFloat64, DataType::kBool)),
    paramName);

class TensorTypeTest : public EngineTest, public ::testing::WithParamInterface<TensorType> {};

TEST_P(TensorTypeTest, NewTensorWithoutDataIsZero) {
  const TensorType tensorType = GetParam();
  // Leave non-zero memory behind first: a new tensor must not expose it.
  Bytes garbage(4096, 0xab);
  auto previous = Tensor::create(device_, DataType::kUInt32, 1024, tensorType, garbage.data());
  EXPECT_EQ(gpuBytes(previous), garbage);
  previous->destroy();

  auto tensor = Tensor::create(device_, DataType::kUInt32, 1024, tensorType);
  const Bytes zeros(4096, 0);
  EXPECT_EQ(gpuBytes(tensor), zeros);
  if (tensor->hasHostData()) {
    EXPECT_EQ(tensor->vector<uint32_t>(), std::vector<uint32_t>(1024, 0));
  }
}

TEST_P(TensorTypeTest, ZeroSizeIsInvalidArgument) {
  const TensorType tensorType = GetParam();
  expectError([&] { Tensor::create(device_, DataType::kFloat32, 0, tensorType); },
              ErrorCode::kInvalidArgument, "tensor size must be greater than zero");
  expectError([&] { Tensor::create(device_, std::vector<int32_t>{}, tensorType); },
              ErrorCode::kInvalidArgument, "greater than zero");
}

TEST_P(TensorTypeTest, DestroyIsIdempotent) {
  const TensorType tensorType = GetParam();
  const uint64_t before = device_->allocatedBytes();
  auto tensor = Tensor::create(device_, std::vector<float>{1, 2, 3}, tensorType);
  EXPECT_GT(device_->allocatedBytes(), before);
  ASSERT_TRUE(tensor->isInit());

  tensor->destroy();
  EXPECT_FALSE(tensor->isInit());
  EXPECT_EQ(tensor->hostData(), nullptr);
  EXPECT_EQ(tensor->primaryBuffer(), static_cast<VkBuffer>(VK_NULL_HANDLE));
  EXPECT_EQ(device_->allocatedBytes(), before);
  // Shape and type survive destruction.
  EXPECT_EQ(tensor->size(), 3u);
  EXPECT_EQ(tensor->tensorType(), tensorType);

  tensor->destroy();
  EXPECT_FALSE(tensor->isInit());
  EXPECT_EQ(device_->allocatedBytes(), before);

  std::vector<float> values{4, 5, 6};
  expectError([&] { tensor->setData(values); }, ErrorCode::kFailedPrecondition,
              "the tensor was destroyed");
  expectError([&] { tensor->vector<float>(); }, ErrorCode::kFailedPrecondition,
              "the tensor was destroyed");
}

INSTANTIATE_TEST_SUITE_P(AllTensorTypes, TensorTypeTest,
                         ::testing::Values(TensorType::kDevice, TensorType::kHost,
                                           TensorType::kStorage),
                         [](const auto& info) { return std::string(tensorTypeName(info.param)); });

using TensorTest = EngineTest;

TEST_F(TensorTest, TemplateCreateInfersDataType) {
  EXPECT_EQ(Tensor::create(device_, std::vector<float>{1})->dataType(), DataType::kFloat32);
  EXPECT_EQ(Tensor::create(device_, std::vector<int32_t>{1})->dataType(), DataType::kInt32);
  EXPECT_EQ(Tensor::create(device_, std::vector<uint32_t>{1})->dataType(), DataType::kUInt32);
  auto doubles = Tensor::create(device_, std::vector<double>{1.25, 2.5});
  EXPECT_EQ(doubles->dataType(), DataType::kFloat64);
  EXPECT_EQ(doubles->byteSize(), 16u);
  EXPECT_EQ(doubles->tensorType(), TensorType::kDevice);
  EXPECT_EQ(doubles->vector<double>(), (std::vector<double>{1.25, 2.5}));
}

TEST_F(TensorTest, HostDataReadWrite) {
  for (TensorType tensorType : {TensorType::kDevice, TensorType::kHost}) {
    SCOPED_TRACE(tensorTypeName(tensorType));
    auto tensor = Tensor::create(device_, std::vector<int32_t>{1, 2, 3, 4}, tensorType);
    ASSERT_NE(tensor->hostData(), nullptr);
    EXPECT_EQ(tensor->vector<int32_t>(), (std::vector<int32_t>{1, 2, 3, 4}));

    tensor->setData(std::vector<int32_t>{-5, 6, -7, 8});
    EXPECT_EQ(tensor->vector<int32_t>(), (std::vector<int32_t>{-5, 6, -7, 8}));

    // hostData() is the same memory setData/vector use.
    static_cast<int32_t*>(tensor->hostData())[2] = 99;
    EXPECT_EQ(tensor->vector<int32_t>(), (std::vector<int32_t>{-5, 6, 99, 8}));

    int32_t out[4] = {};
    tensor->getHostData(out, sizeof(out));
    EXPECT_EQ(std::vector<int32_t>(out, out + 4), (std::vector<int32_t>{-5, 6, 99, 8}));

    expectError(
        [&] {
          tensor->setData(std::vector<int32_t>{1, 2, 3});
        },
        ErrorCode::kInvalidArgument,
        "tensor data of 12 bytes given for a tensor of 16 bytes (4 int32 elements)");
    expectError([&] { tensor->getHostData(out, 8); }, ErrorCode::kInvalidArgument,
                "reading 8 bytes from a tensor of 16 bytes");
    // A failed write leaves the data alone.
    EXPECT_EQ(tensor->vector<int32_t>(), (std::vector<int32_t>{-5, 6, 99, 8}));
  }
}

TEST_F(TensorTest, StorageTensorHasNoHostData) {
  auto tensor = Tensor::create(device_, std::vector<float>{1, 2}, TensorType::kStorage);
  EXPECT_FALSE(tensor->hasHostData());
  EXPECT_EQ(tensor->hostData(), nullptr);
  EXPECT_EQ(tensor->stagingBuffer(), static_cast<VkBuffer>(VK_NULL_HANDLE));
  float values[2] = {3, 4};
  expectError([&] { tensor->setHostData(values, sizeof(values)); }, ErrorCode::kFailedPrecondition,
              "a storage tensor has no host data to write");
  expectError([&] { tensor->getHostData(values, sizeof(values)); }, ErrorCode::kFailedPrecondition,
              "a storage tensor has no host data to read");
  EXPECT_EQ(gpuBytes(tensor), bytesOf<float>({1, 2}));
}

TEST_F(TensorTest, HugeSizesAreRejected) {
  expectError(
      [&] {
        Tensor::create(device_, DataType::kFloat64, std::numeric_limits<uint64_t>::max(),
                       TensorType::kDevice);
      },
      ErrorCode::kInvalidArgument, "overflows a 64-bit byte count");
  const uint64_t tooMany = device_->info().maxMemoryAllocationSize / 4 + 1;
  expectError([&] { Tensor::create(device_, DataType::kFloat32, tooMany, TensorType::kHost); },
              ErrorCode::kResourceExhausted, "exceeds the device's largest allocation");
}

TEST_F(TensorTest, SyncOpsCheckTheirTensorLists) {
  auto storage = Tensor::create(device_, std::vector<float>{1}, TensorType::kStorage);
  auto dev = Tensor::create(device_, std::vector<float>{1});
  expectError([&] { OpTensorSyncDevice({}); }, ErrorCode::kInvalidArgument,
              "OpTensorSyncDevice: tensors is empty");
  expectError([&] { OpTensorSyncLocal({}); }, ErrorCode::kInvalidArgument,
              "OpTensorSyncLocal: tensors is empty");
  // Storage tensors are accepted (and skipped when recorded), as Kompute v0.9 does.
  EXPECT_EQ(OpTensorSyncDevice({dev, storage}).tensors().size(), 2u);
  EXPECT_EQ(OpTensorSyncLocal({storage}).tensors().size(), 1u);
  expectError(
      [&] {
        OpTensorSyncLocal({dev, nullptr});
      },
      ErrorCode::kInvalidArgument, "OpTensorSyncLocal: tensors[1] is null");
  dev->destroy();
  expectError([&] { OpTensorSyncDevice({dev}); }, ErrorCode::kFailedPrecondition,
              "OpTensorSyncDevice: tensors[0] was destroyed");
}

TEST_F(TensorTest, SyncOpsReportTheirTensors) {
  auto a = Tensor::create(device_, std::vector<float>{1});
  auto b = Tensor::create(device_, std::vector<float>{2}, TensorType::kHost);
  OpTensorSyncDevice up({a, b});
  OpTensorSyncLocal down({a, b});
  EXPECT_STREQ(up.name(), "OpTensorSyncDevice");
  EXPECT_STREQ(down.name(), "OpTensorSyncLocal");
  EXPECT_EQ(up.tensors(), (std::vector{a, b}));
  EXPECT_EQ(up.hostInputs(), (std::vector{a, b}));
  EXPECT_TRUE(up.hostOutputs().empty());
  EXPECT_EQ(down.hostOutputs(), (std::vector{a, b}));
  EXPECT_TRUE(down.hostInputs().empty());
}

TEST_F(TensorTest, TypeNames) {
  EXPECT_STREQ(dataTypeName(DataType::kFloat32), "float32");
  EXPECT_STREQ(dataTypeName(DataType::kInt32), "int32");
  EXPECT_STREQ(dataTypeName(DataType::kUInt32), "uint32");
  EXPECT_STREQ(dataTypeName(DataType::kFloat64), "float64");
  EXPECT_STREQ(dataTypeName(DataType::kBool), "bool");
  EXPECT_STREQ(tensorTypeName(TensorType::kDevice), "device");
  EXPECT_STREQ(tensorTypeName(TensorType::kHost), "host");
  EXPECT_STREQ(tensorTypeName(TensorType::kStorage), "storage");
  EXPECT_EQ(elementSize(DataType::kBool), 4u);
  EXPECT_EQ(elementSize(DataType::kFloat64), 8u);
}

}  // namespace
}  // namespace kp::engine::test
