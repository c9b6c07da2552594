// Every name of Kompute's v0.8/0.9 C++ API that README's table "Every Kompute C++ name" marks
// as provided, used here as a Kompute program uses it, with its result checked. Each use is
// tagged `// kompute: Name ...`; tests/e2e/test_compatibility_names_cpp.py checks that the tags
// are exactly the names the table marks as provided, so the table cannot claim a name that
// does not compile and work here.
#include <gtest/gtest.h>

#include <cstring>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

const char* const kScale = R"(
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float factor = 1.0;
layout(push_constant) uniform Push { float offset; } push;
layout(set = 0, binding = 0) buffer In { float inValues[]; };
layout(set = 0, binding = 1) buffer Out { float outValues[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  outValues[i] = inValues[i] * factor + push.offset;
}
)";

using KomputeNamesTest = KpdTest;

TEST_F(KomputeNamesTest, TensorNames) {
  // kompute: Tensor TensorT Manager::tensor Manager::tensorT
  std::shared_ptr<TensorT<float>> t = mgr().tensor({1, 2, 3});
  std::shared_ptr<TensorT<uint32_t>> u = mgr().tensorT<uint32_t>({7, 8});
  std::shared_ptr<Tensor> base = t;
  // kompute: Tensor::size Tensor::dataType Tensor::dataTypeMemorySize Tensor::memorySize
  EXPECT_EQ(base->size(), 3u);
  EXPECT_EQ(base->dataType(), Tensor::TensorDataTypes::eFloat);
  EXPECT_EQ(base->dataTypeMemorySize(), 4u);
  EXPECT_EQ(base->memorySize(), 12u);
  // kompute: Tensor::tensorType Tensor::TensorTypes Tensor::TensorTypes::eDevice
  EXPECT_EQ(base->tensorType(), Tensor::TensorTypes::eDevice);
  // kompute: Tensor::TensorTypes::eHost Tensor::TensorTypes::eStorage
  auto host = mgr().tensor({0.0f}, Tensor::TensorTypes::eHost);
  auto storage = mgr().tensor({0.0f}, Tensor::TensorTypes::eStorage);
  EXPECT_EQ(host->tensorType(), Tensor::TensorTypes::eHost);
  EXPECT_EQ(storage->tensorType(), Tensor::TensorTypes::eStorage);
  // kompute: Tensor::TensorDataTypes Tensor::TensorDataTypes::eBool Tensor::TensorDataTypes::eInt
  // kompute: Tensor::TensorDataTypes::eUnsignedInt Tensor::TensorDataTypes::eFloat
  // kompute: Tensor::TensorDataTypes::eDouble Tensor::toString
  EXPECT_EQ(Tensor::toString(Tensor::TensorDataTypes::eBool), "eBool");
  EXPECT_EQ(Tensor::toString(Tensor::TensorDataTypes::eInt), "eInt");
  EXPECT_EQ(u->dataType(), Tensor::TensorDataTypes::eUnsignedInt);
  EXPECT_EQ(mgr().tensorT<double>({1.0})->dataType(), Tensor::TensorDataTypes::eDouble);
  EXPECT_EQ(Tensor::toString(Tensor::TensorTypes::eHost), "eHost");
  // kompute: Tensor::data Tensor::vector Tensor::rawData Tensor::setRawData
  EXPECT_EQ(base->data<float>()[1], 2.0f);
  EXPECT_EQ(base->vector<float>(), std::vector<float>({1, 2, 3}));
  const float raw[3] = {4, 5, 6};
  base->setRawData(raw);
  EXPECT_EQ(std::memcmp(base->rawData(), raw, sizeof(raw)), 0);
  // kompute: TensorT::data TensorT::vector TensorT::operator[] TensorT::setData TensorT::dataType
  EXPECT_EQ(u->data()[0], 7u);
  EXPECT_EQ((*u)[1], 8u);
  u->setData({9, 10});
  EXPECT_EQ(u->vector(), std::vector<uint32_t>({9, 10}));
  EXPECT_EQ(u->dataType(), Tensor::TensorDataTypes::eUnsignedInt);
  // kompute: Tensor::rebuild Tensor::isInit Tensor::destroy
  const std::vector<float> values = {1, 1, 1, 1};
  t->rebuild(values.data(), 4, sizeof(float));
  EXPECT_EQ(t->size(), 4u);
  EXPECT_TRUE(t->isInit());
  t->destroy();
  EXPECT_FALSE(t->isInit());
}

TEST_F(KomputeNamesTest, AlgorithmSequenceAndOpNames) {
  auto in = mgr().tensor({1, 2, 3, 4});
  auto out = mgr().tensor({0, 0, 0, 0});
  // kompute: Algorithm Manager::algorithm Constants Workgroup
  const Constants spec = {2.0f};
  const Constants push = {0.5f};
  const Workgroup workgroup = {4, 1, 1};
  std::shared_ptr<Algorithm> algo = mgr().algorithm({in, out}, kScale, workgroup, spec, push);
  // kompute: Algorithm::getTensors Algorithm::getWorkgroup Algorithm::isInit
  // kompute: Algorithm::getSpecializationConstants Algorithm::getPushConstants
  EXPECT_EQ(algo->getTensors().size(), 2u);
  EXPECT_EQ(algo->getWorkgroup(), workgroup);
  EXPECT_TRUE(algo->isInit());
  EXPECT_EQ(algo->getSpecializationConstants<float>(), spec);
  EXPECT_EQ(algo->getPushConstants<float>(), push);

  // kompute: Sequence Manager::sequence Sequence::record Sequence::eval Sequence::isRecording
  // kompute: OpBase OpTensorSyncDevice OpAlgoDispatch OpTensorSyncLocal
  std::shared_ptr<Sequence> seq = mgr().sequence(0, 4);
  seq->record<OpTensorSyncDevice>({in, out})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>({out});
  EXPECT_TRUE(seq->isRecording());
  seq->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({2.5f, 4.5f, 6.5f, 8.5f}));
  // kompute: Sequence::getTimestamps
  const std::vector<std::uint64_t> stamps = seq->getTimestamps();
  EXPECT_EQ(stamps.size(), 4u);

  // kompute: Algorithm::setPushConstants Algorithm::setWorkgroup Sequence::rerecord
  algo->setPushConstants<float>({1.0f});
  algo->setWorkgroup({2, 1, 1});
  seq->rerecord();  // keeps the ops made before the change, as Kompute's command buffer
  seq->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({2.5f, 4.5f, 6.5f, 8.5f}));
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({out})->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({3, 5, 6.5f, 8.5f}));

  // kompute: Sequence::evalAsync Sequence::evalAwait Sequence::isRunning
  seq->evalAsync();
  EXPECT_TRUE(seq->isRunning());
  seq->evalAwait();
  EXPECT_FALSE(seq->isRunning());
  // kompute: Sequence::begin Sequence::end Sequence::clear
  seq->clear();
  EXPECT_FALSE(seq->isRecording());
  seq->begin();
  EXPECT_TRUE(seq->isRecording());
  seq->end();
  EXPECT_FALSE(seq->isRecording());

  // kompute: OpMult OpTensorCopy OpMemoryBarrier
  auto lhs = mgr().tensor({2, 3});
  auto rhs = mgr().tensor({4, 5});
  auto product = mgr().tensor({0, 0});
  auto copy = mgr().tensor({0, 0});
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({lhs, rhs})
      ->record<OpMult>({lhs, rhs, product}, mgr().algorithm())
      ->record<OpMemoryBarrier>(
          Tensors{product}, vk::AccessFlagBits::eShaderWrite, vk::AccessFlagBits::eTransferRead,
          vk::PipelineStageFlagBits::eComputeShader, vk::PipelineStageFlagBits::eTransfer)
      ->record<OpTensorSyncLocal>({product})
      ->eval();
  // As in Kompute, OpTensorCopy also gives `copy` the host data `product` holds when it runs.
  mgr().sequence()->record<OpTensorCopy>({product, copy})->eval();
  EXPECT_EQ(copy->vector(), std::vector<float>({8, 15}));

  // kompute: Algorithm::rebuild Algorithm::destroy Sequence::isInit Sequence::destroy
  algo->rebuild({in, out}, mgr().compileSource(kScale), {4, 1, 1}, std::vector<float>{3.0f});
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({out})->eval();
  EXPECT_EQ(out->vector(), std::vector<float>({4, 7, 10, 13}));  // the push constants kept
  EXPECT_TRUE(seq->isInit());
  seq->destroy();
  EXPECT_FALSE(seq->isInit());
  algo->destroy();
  EXPECT_FALSE(algo->isInit());
}

TEST_F(KomputeNamesTest, ManagerNames) {
  // kompute: Manager Manager::getDeviceProperties Manager::listDevices
  const DeviceProperties properties = mgr().getDeviceProperties();
  const vk::PhysicalDeviceProperties vulkan = properties;
  EXPECT_STREQ(vulkan.deviceName.data(), properties.deviceName.c_str());
  EXPECT_FALSE(mgr().listDevices().empty());
  // kompute: Manager::clear Manager::destroy
  auto t = mgr().tensor({1});
  mgr().clear();
  EXPECT_TRUE(t->isInit());
  mgr().destroy();
  EXPECT_FALSE(t->isInit());
}

TEST_F(KomputeNamesTest, LoggingMacros) {
  // kompute: KP_LOG_TRACE KP_LOG_DEBUG KP_LOG_INFO KP_LOG_WARN KP_LOG_ERROR
  testing::internal::CaptureStderr();
  KP_LOG_TRACE("trace {}", 1);
  KP_LOG_DEBUG("debug {}", 2);
  KP_LOG_INFO("info {}", 3);
  KP_LOG_WARN("warn {}", 4);
  KP_LOG_ERROR("error {}", 5);
  const std::string written = testing::internal::GetCapturedStderr();
  EXPECT_NE(written.find("[kp] [error] error 5"), std::string::npos) << written;
  EXPECT_NE(written.find("[kp] [warn] warn 4"), std::string::npos) << written;
}

}  // namespace
}  // namespace kp::test
