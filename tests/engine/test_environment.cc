#include "test_environment.h"

#include <gmock/gmock.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

namespace kp::engine::test {
namespace {

std::shared_ptr<Instance>& instanceSlot() {
  static std::shared_ptr<Instance> slot;
  return slot;
}

std::shared_ptr<Device>& deviceSlot() {
  static std::shared_ptr<Device> slot;
  return slot;
}

}  // namespace

bool validationRequested() {
  const char* value = std::getenv("KP_VALIDATION");
  return value != nullptr && std::strcmp(value, "1") == 0;
}

void EngineEnvironment::SetUp() {
  InstanceOptions options;
  options.validation = validationRequested();
  instanceSlot() = Instance::create(options);
  ASSERT_GT(instanceSlot()->deviceCount(), 0u) << "no Vulkan device to test on";
  deviceSlot() = Device::open(instanceSlot(), 0);
}

void EngineEnvironment::TearDown() {
  if (!instanceSlot()) return;
  // Every tensor, algorithm and sequence holds the device; by now only this slot may.
  EXPECT_EQ(deviceSlot().use_count(), 1) << "a test leaked an object that holds the device";
  deviceSlot().reset();
  if (instanceSlot()->validationEnabled()) {
    EXPECT_EQ(instanceSlot()->validationErrors(), 0u)
        << "the Vulkan validation layer reported errors (see the log above)";
  } else if (validationRequested()) {
    std::cout << "[ NOTE ] validation-error check skipped: KP_VALIDATION=1 but "
                 "VK_LAYER_KHRONOS_validation could not be enabled\n";
  } else {
    std::cout << "[ NOTE ] validation-error check skipped: set KP_VALIDATION=1 to enable "
                 "VK_LAYER_KHRONOS_validation\n";
  }
  instanceSlot().reset();
}

const std::shared_ptr<Instance>& instance() {
  return instanceSlot();
}
const std::shared_ptr<Device>& device() {
  return deviceSlot();
}

std::vector<uint32_t> compile(const std::string& glsl) {
  static GlslCompiler compiler;
  return compiler.compile(glsl, "test.comp");
}

void expectError(const std::function<void()>& fn, ErrorCode code, const std::string& substring) {
  try {
    fn();
  } catch (const Error& error) {
    EXPECT_EQ(errorCodeName(error.code()), std::string(errorCodeName(code)))
        << "message: " << error.what();
    EXPECT_THAT(error.what(), ::testing::HasSubstr(substring));
    return;
  } catch (const std::exception& other) {
    ADD_FAILURE() << "expected an engine Error (" << errorCodeName(code)
                  << "), got another exception: " << other.what();
    return;
  }
  ADD_FAILURE() << "expected an engine Error (" << errorCodeName(code) << ") containing \""
                << substring << "\", but nothing was thrown";
}

std::vector<uint8_t> gpuBytes(const std::shared_ptr<Tensor>& tensor) {
  auto device = tensor->sharedDevice();
  auto probe = Tensor::create(device, tensor->dataType(), tensor->size(), TensorType::kDevice);
  auto copy = Sequence::create(device);
  copy->record(std::make_shared<OpTensorCopy>(std::vector{tensor, probe}));
  copy->eval();
  // OpTensorCopy also copied the source's host data into the probe's: clear it, so that what
  // is read below can only come from the GPU.
  std::vector<uint8_t> bytes(probe->byteSize(), 0);
  probe->setHostData(bytes.data(), bytes.size());
  auto download = Sequence::create(device);
  download->record(std::make_shared<OpTensorSyncLocal>(std::vector{probe}));
  download->eval();
  probe->getHostData(bytes.data(), bytes.size());
  return bytes;
}

void EngineTest::SetUp() {
  device_ = device();
  ASSERT_NE(device_, nullptr) << "the global environment did not open a device";
  validationErrorsAtStart_ = instance()->validationErrors();
}

void EngineTest::TearDown() {
  device_.reset();
  EXPECT_EQ(instance()->validationErrors(), validationErrorsAtStart_)
      << "this test caused Vulkan validation errors (see the log above)";
}

void EngineTest::evalOnce(const std::vector<std::shared_ptr<Op>>& ops) {
  auto sequence = Sequence::create(device_);
  for (const auto& op : ops) sequence->record(op);
  sequence->eval();
}

}  // namespace kp::engine::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new kp::engine::test::EngineEnvironment());
  return RUN_ALL_TESTS();
}
