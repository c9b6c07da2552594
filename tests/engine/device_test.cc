// Device enumeration and opening.
#include <gmock/gmock.h>

#include "test_environment.h"

namespace kp::engine::test {
namespace {

using DeviceTest = EngineTest;

TEST_F(DeviceTest, EnumeratesDevicesWithSaneProperties) {
  const auto& devices = instance()->devices();
  ASSERT_GE(devices.size(), 1u);
  ASSERT_EQ(instance()->deviceCount(), devices.size());
  for (uint32_t i = 0; i < devices.size(); ++i) {
    const DeviceInfo& info = devices[i];
    SCOPED_TRACE(info.name);
    EXPECT_EQ(info.index, i);
    EXPECT_EQ(&instance()->deviceInfo(i), &info);
    EXPECT_FALSE(info.name.empty());
    EXPECT_THAT(info.type,
                ::testing::AnyOf("discrete_gpu", "integrated_gpu", "virtual_gpu", "cpu", "other"));
    EXPECT_GE(info.apiVersion, VK_API_VERSION_1_1);
    // Vulkan's required minimums.
    for (int axis = 0; axis < 3; ++axis) {
      EXPECT_GE(info.maxWorkGroupCount[axis], 65535u) << "axis " << axis;
    }
    EXPECT_GE(info.maxWorkGroupSize[0], 128u);
    EXPECT_GE(info.maxWorkGroupSize[1], 128u);
    EXPECT_GE(info.maxWorkGroupSize[2], 64u);
    EXPECT_GE(info.maxWorkGroupInvocations, 128u);
    EXPECT_GE(info.maxPushConstantsSize, 128u);
    EXPECT_GE(info.maxStorageBufferRange, 1u << 27);
    EXPECT_GE(info.maxBoundDescriptorSets, 4u);
    EXPECT_GE(info.maxPerStageDescriptorStorageBuffers, 4u);
    EXPECT_GE(info.maxComputeSharedMemorySize, 16384u);
    EXPECT_GE(info.maxMemoryAllocationSize, 1u << 30);
    EXPECT_FALSE(info.memoryHeaps.empty());
    for (const MemoryHeapInfo& heap : info.memoryHeaps) EXPECT_GT(heap.size, 0u);

    ASSERT_FALSE(info.queueFamilies.empty());
    int computeFamilies = 0;
    for (uint32_t f = 0; f < info.queueFamilies.size(); ++f) {
      const QueueFamilyInfo& family = info.queueFamilies[f];
      EXPECT_EQ(family.index, f);
      EXPECT_GT(family.queueCount, 0u);
      if (family.compute) {
        ++computeFamilies;
        EXPECT_TRUE(family.transfer) << "compute families can always transfer";
      }
    }
    EXPECT_GE(computeFamilies, 1);
    const uint32_t family = info.defaultComputeFamily();
    ASSERT_LT(family, info.queueFamilies.size());
    EXPECT_TRUE(info.queueFamilies[family].compute);
  }
}

TEST_F(DeviceTest, LavapipeSupportsTimestamps) {
  const DeviceInfo& info = device_->info();
  if (info.driverName.find("llvmpipe") == std::string::npos &&
      info.name.find("llvmpipe") == std::string::npos) {
    GTEST_SKIP() << "not lavapipe: " << info.name;
  }
  EXPECT_EQ(info.type, "cpu");
  EXPECT_TRUE(info.timestampsSupported);
  EXPECT_GT(info.timestampPeriodNs, 0.0);
  EXPECT_GT(info.queueFamilies[info.defaultComputeFamily()].timestampValidBits, 0u);
  EXPECT_TRUE(info.shaderFloat64);
}

bool layerInstalled(const char* name) {
  uint32_t count = 0;
  vkEnumerateInstanceLayerProperties(&count, nullptr);
  std::vector<VkLayerProperties> layers(count);
  vkEnumerateInstanceLayerProperties(&count, layers.data());
  for (const auto& layer : layers) {
    if (std::string(layer.layerName) == name) return true;
  }
  return false;
}

TEST_F(DeviceTest, ValidationLayerIsActiveWhenRequested) {
  if (!validationRequested()) GTEST_SKIP() << "KP_VALIDATION is not 1";
  if (!layerInstalled("VK_LAYER_KHRONOS_validation")) {
    GTEST_SKIP() << "VK_LAYER_KHRONOS_validation is not installed";
  }
  EXPECT_TRUE(instance()->validationEnabled());
}

TEST_F(DeviceTest, ValidationErrorsAreCounted) {
  if (!layerInstalled("VK_LAYER_KHRONOS_validation")) {
    GTEST_SKIP() << "VK_LAYER_KHRONOS_validation is not installed";
  }
  // A separate instance, so the deliberate error below does not count against the suite.
  auto own = Instance::create(InstanceOptions{.validation = true});
  ASSERT_TRUE(own->validationEnabled());
  EXPECT_EQ(own->validationErrors(), 0u);
  auto opened = Device::open(own, 0);
  EXPECT_EQ(own->validationErrors(), 0u);

  // A fence create-info with the wrong sType: the layer reports it (expect one "vulkan
  // validation" error line in the log), the driver ignores the field.
  VkFenceCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  VkFence fence = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreateFence(opened->handle(), &info, nullptr, &fence), VK_SUCCESS);
  vkDestroyFence(opened->handle(), fence, nullptr);
  EXPECT_GE(own->validationErrors(), 1u);
}

TEST_F(DeviceTest, ApiVersionString) {
  EXPECT_EQ(apiVersionString(VK_MAKE_API_VERSION(0, 1, 3, 239)), "1.3.239");
  EXPECT_EQ(apiVersionString(VK_API_VERSION_1_1), "1.1.0");
}

TEST_F(DeviceTest, OpensWithDefaultFamily) {
  auto opened = Device::open(instance(), 0);
  ASSERT_NE(opened->handle(), static_cast<VkDevice>(VK_NULL_HANDLE));
  EXPECT_EQ(opened->info().name, instance()->deviceInfo(0).name);
  EXPECT_EQ(opened->queueCount(), 1u);
  EXPECT_EQ(opened->families(), std::vector<uint32_t>{opened->info().defaultComputeFamily()});
  EXPECT_EQ(opened->queueFamily(0), opened->info().defaultComputeFamily());
  EXPECT_EQ(opened->allocatedBytes(), 0u);

  // The second device works on its own: a tensor on it allocates memory there, not here.
  const uint64_t before = device_->allocatedBytes();
  auto tensor = Tensor::create(opened, std::vector<float>{1, 2, 3});
  EXPECT_GE(opened->allocatedBytes(), 2 * 3 * sizeof(float));
  EXPECT_EQ(device_->allocatedBytes(), before);
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{1, 2, 3}));
  tensor->destroy();
  EXPECT_EQ(opened->allocatedBytes(), 0u);
}

TEST_F(DeviceTest, OpensWithExplicitFamily) {
  const uint32_t family = device_->info().defaultComputeFamily();
  auto opened = Device::open(instance(), 0, {family});
  EXPECT_EQ(opened->queueCount(), 1u);
  EXPECT_EQ(opened->queueFamily(0), family);
  EXPECT_EQ(opened->families(), std::vector<uint32_t>{family});

  // The explicit queue runs work: a multiply through it gives the right values.
  auto a = Tensor::create(opened, std::vector<float>{2, 4, 6});
  auto b = Tensor::create(opened, std::vector<float>{0, 1, 2});
  auto out = Tensor::create(opened, std::vector<float>{0, 0, 0});
  auto sequence = Sequence::create(opened, 0);
  sequence->record(std::make_shared<OpMult>(std::vector{a, b, out}))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{out}));
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{0, 4, 12}));
}

TEST_F(DeviceTest, BadFamilyIndexIsInvalidArgument) {
  const auto families = static_cast<uint32_t>(device_->info().queueFamilies.size());
  expectError([&] { Device::open(instance(), 0, {families}); }, ErrorCode::kInvalidArgument,
              "queue family " + std::to_string(families) + " does not exist");
  expectError([&] { Device::open(instance(), 0, {1000}); }, ErrorCode::kInvalidArgument,
              "queue family 1000 does not exist");
}

TEST_F(DeviceTest, MoreQueuesThanFamilyHasIsInvalidArgument) {
  const uint32_t family = device_->info().defaultComputeFamily();
  const uint32_t available = device_->info().queueFamilies[family].queueCount;
  std::vector<uint32_t> families(available + 1, family);
  expectError([&] { Device::open(instance(), 0, families); }, ErrorCode::kInvalidArgument,
              "more were requested");
}

TEST_F(DeviceTest, BadDeviceIndexIsNotFound) {
  const uint32_t count = instance()->deviceCount();
  expectError([&] { Device::open(instance(), count); }, ErrorCode::kNotFound,
              "device index " + std::to_string(count) + " does not exist");
  expectError([&] { instance()->deviceInfo(count + 7); }, ErrorCode::kNotFound, "does not exist");
  expectError([&] { instance()->physicalDevice(count); }, ErrorCode::kNotFound, "does not exist");
}

TEST_F(DeviceTest, QueueIndexOutOfRangeIsInvalidArgument) {
  expectError([&] { device_->queueFamily(device_->queueCount()); }, ErrorCode::kInvalidArgument,
              "queue index 1 out of range");
  expectError([&] { Sequence::create(device_, device_->queueCount()); },
              ErrorCode::kInvalidArgument, "out of range");
}

TEST_F(DeviceTest, AllocatedBytesFollowTensors) {
  const uint64_t before = device_->allocatedBytes();
  auto host = Tensor::create(device_, DataType::kFloat32, 256, TensorType::kHost);
  const uint64_t withHost = device_->allocatedBytes();
  EXPECT_GE(withHost - before, 256 * sizeof(float));
  auto dev = Tensor::create(device_, DataType::kFloat32, 256, TensorType::kDevice);
  // A device tensor has two buffers: device-local and staging.
  EXPECT_GE(device_->allocatedBytes() - withHost, 2 * 256 * sizeof(float));
  host->destroy();
  dev->destroy();
  EXPECT_EQ(device_->allocatedBytes(), before);
}

}  // namespace
}  // namespace kp::engine::test
