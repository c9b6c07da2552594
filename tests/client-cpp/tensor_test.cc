// kp::Tensor and TensorT<T>: element types, the host copy and its accessors.
#include <gtest/gtest.h>

#include <cstring>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

std::string typedMultiply(const std::string& type) {
  return "#version 450\n"
         "layout(local_size_x = 1) in;\n"
         "layout(set = 0, binding = 0) readonly buffer Lhs { " +
         type +
         " lhs[]; };\n"
         "layout(set = 0, binding = 1) readonly buffer Rhs { " +
         type +
         " rhs[]; };\n"
         "layout(set = 0, binding = 2) writeonly buffer Out { " +
         type +
         " result[]; };\n"
         "void main() { uint i = gl_GlobalInvocationID.x; result[i] = lhs[i] * rhs[i]; }\n";
}

using TensorTest = KpdTest;

template <typename T>
void expectTypedMultiply(Manager& mgr, const std::string& glslType, const std::vector<T>& a,
                         const std::vector<T>& b, Tensor::TensorDataTypes dataType) {
  auto lhs = mgr.tensorT<T>(a);
  auto rhs = mgr.tensorT<T>(b);
  auto out = mgr.tensorT<T>(std::vector<T>(a.size(), T(0)));
  EXPECT_EQ(lhs->dataType(), dataType);
  EXPECT_EQ(static_cast<Tensor&>(*lhs).dataType(), dataType);
  // Tensors (not dependent on T), so that the chain below needs no `template` keywords.
  const Tensors inputs = {lhs, rhs};
  const Tensors outputs = {out};
  std::shared_ptr<Algorithm> algo = mgr.algorithm({lhs, rhs, out}, typedMultiply(glslType));
  mgr.sequence()
      ->record<OpTensorSyncDevice>(inputs)
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>(outputs)
      ->eval();
  std::vector<T> expected;
  for (size_t i = 0; i < a.size(); ++i) expected.push_back(static_cast<T>(a[i] * b[i]));
  EXPECT_EQ(out->vector(), expected);
}

TEST_F(TensorTest, FloatMultiply) {
  expectTypedMultiply<float>(mgr(), "float", {123, 153, 231}, {9482, 1208, 1238},
                             Tensor::TensorDataTypes::eFloat);
}

TEST_F(TensorTest, IntMultiply) {
  expectTypedMultiply<int32_t>(mgr(), "int", {-3, 7, 100000}, {9, -8, 1000},
                               Tensor::TensorDataTypes::eInt);
}

TEST_F(TensorTest, UnsignedIntMultiply) {
  expectTypedMultiply<uint32_t>(mgr(), "uint", {3, 2147483650u, 7}, {9, 1, 600000},
                                Tensor::TensorDataTypes::eUnsignedInt);
}

TEST_F(TensorTest, DoubleMultiply) {
  if (!mgr().getDeviceProperties().shaderFloat64) GTEST_SKIP() << "the device has no shaderFloat64";
  expectTypedMultiply<double>(mgr(), "double", {1.1111222233334444, 2.5, -3.0},
                              {3.0, 1e-300, 1e300}, Tensor::TensorDataTypes::eDouble);
}

TEST_F(TensorTest, MistypedBindingGivesOtherValues) {
  // Kompute's test_type_float_double_incorrect: uint bits read as float are not the product.
  auto lhs = mgr().tensor({123, 153, 231});
  auto rhs = mgr().tensorT<uint32_t>({9482, 1208, 1238});
  auto out = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({lhs, rhs, out}, typedMultiply("float"));
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({lhs, rhs})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>({out})
      ->eval();
  EXPECT_NE(out->vector(), std::vector<float>({123.0f * 9482, 153.0f * 1208, 231.0f * 1238}));
}

TEST_F(TensorTest, DataTypesAndSizes) {
  auto f = mgr().tensor({1});
  auto i = mgr().tensorT<int32_t>({1});
  auto u = mgr().tensorT<uint32_t>({1});
  auto d = mgr().tensorT<double>({1, 2});
  auto b = mgr().tensorT<bool>({true});
  EXPECT_EQ(f->dataType(), Tensor::TensorDataTypes::eFloat);
  EXPECT_EQ(i->dataType(), Tensor::TensorDataTypes::eInt);
  EXPECT_EQ(u->dataType(), Tensor::TensorDataTypes::eUnsignedInt);
  EXPECT_EQ(d->dataType(), Tensor::TensorDataTypes::eDouble);
  EXPECT_EQ(b->dataType(), Tensor::TensorDataTypes::eBool);
  EXPECT_EQ(d->size(), 2u);
  EXPECT_EQ(d->dataTypeMemorySize(), 8u);
  EXPECT_EQ(d->memorySize(), 16u);
  EXPECT_EQ(b->dataTypeMemorySize(), 1u);
  EXPECT_EQ(f->tensorType(), Tensor::TensorTypes::eDevice);
  EXPECT_EQ(Tensor::toString(Tensor::TensorDataTypes::eUnsignedInt), "eUnsignedInt");
  EXPECT_EQ(Tensor::toString(Tensor::TensorTypes::eStorage), "eStorage");
}

TEST_F(TensorTest, BoolRoundTrip) {
  auto flags = mgr().tensorT<bool>({true, false, true, true});
  auto copy = mgr().tensorT<bool>({false, false, false, false});
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({flags})
      ->record<OpTensorCopy>({flags, copy})
      ->record<OpTensorSyncLocal>({copy})
      ->eval();
  EXPECT_EQ(copy->vector(), std::vector<bool>({true, false, true, true}));
  EXPECT_TRUE((*copy)[3]);
  EXPECT_FALSE((*copy)[1]);
}

TEST_F(TensorTest, BoolTensorReadByAShaderAsUint) {
  // On the GPU a bool element is a uint32 0 or 1.
  auto flags = mgr().tensorT<bool>({true, false, true});
  auto out = mgr().tensorT<uint32_t>({7, 7, 7});
  auto algo = mgr().algorithm({flags, out}, std::string(R"(
    #version 450
    layout(local_size_x = 1) in;
    layout(set = 0, binding = 0) buffer F { uint f[]; };
    layout(set = 0, binding = 1) buffer O { uint o[]; };
    void main() { uint i = gl_GlobalInvocationID.x; o[i] = f[i] * 10u + 1u; })"));
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({out})->eval();
  EXPECT_EQ(out->vector(), std::vector<uint32_t>({11, 1, 11}));
}

TEST_F(TensorTest, ZeroSizeTensorRejected) {
  try {
    mgr().tensor(std::vector<float>{});
    FAIL() << "no error";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find("size must be greater than zero"), std::string::npos)
        << error.what();
  }
}

TEST_F(TensorTest, HostCopyAccessors) {
  auto t = mgr().tensor({1, 2, 3});
  float* data = t->data();
  data[0] = 10;
  (*t)[1] = 20;
  EXPECT_EQ(t->vector(), std::vector<float>({10, 20, 3}));
  Tensor& base = *t;
  EXPECT_EQ(base.data<float>()[2], 3.0f);
  EXPECT_EQ(base.vector<float>(), std::vector<float>({10, 20, 3}));
  base.setData(std::vector<float>{4, 5, 6});
  EXPECT_EQ(t->vector(), std::vector<float>({4, 5, 6}));
  const float raw[3] = {7, 8, 9};
  base.setRawData(raw);
  EXPECT_EQ(std::memcmp(base.rawData(), raw, sizeof(raw)), 0);
  EXPECT_THROW(t->setData({1, 2}), InvalidArgumentError);
  EXPECT_THROW(base.data<int32_t>(), InvalidArgumentError);
  EXPECT_THROW(base.vector<double>(), InvalidArgumentError);
}

TEST_F(TensorTest, HostWritesAreUploadedBySyncDevice) {
  auto t = mgr().tensorT<int32_t>({1, 2, 3});
  auto copy = mgr().tensorT<int32_t>({0, 0, 0});
  t->data()[0] = 100;
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({t})
      ->record<OpTensorCopy>({t, copy})
      ->record<OpTensorSyncLocal>({copy})
      ->eval();
  EXPECT_EQ(copy->vector(), std::vector<int32_t>({100, 2, 3}));
}

TEST_F(TensorTest, RawFactory) {
  int32_t values[4] = {5, -6, 7, -8};
  std::shared_ptr<Tensor> t =
      mgr().tensor(values, 4, sizeof(int32_t), Tensor::TensorDataTypes::eInt);
  EXPECT_EQ(t->dataType(), Tensor::TensorDataTypes::eInt);
  EXPECT_EQ(t->vector<int32_t>(), std::vector<int32_t>({5, -6, 7, -8}));
  auto copy = mgr().tensorT<int32_t>({0, 0, 0, 0});
  mgr().sequence()->eval<OpTensorCopy>({t, copy});
  EXPECT_EQ(copy->vector(), std::vector<int32_t>({5, -6, 7, -8}));
  EXPECT_THROW(mgr().tensor(values, 4, 8, Tensor::TensorDataTypes::eInt), InvalidArgumentError);
}

TEST_F(TensorTest, SyncOpsSkipStorageTensors) {
  // As Kompute v0.9: sync ops copy device tensors only, so syncing an algorithm's tensors with
  // a storage tensor among them is valid.
  auto a = mgr().tensor({1, 2});
  auto s = mgr().tensor({5, 6}, Tensor::TensorTypes::eStorage);
  auto seen = mgr().tensor({0, 0});
  EXPECT_EQ(s->tensorType(), Tensor::TensorTypes::eStorage);
  mgr().sequence()->eval<OpTensorSyncDevice>({a, s})->eval<OpTensorSyncLocal>({a, s});
  EXPECT_EQ(a->vector(), std::vector<float>({1, 2}));
  // The storage tensor kept its initial data: copy it out to see.
  mgr().sequence()->eval<OpTensorCopy>({s, seen})->eval<OpTensorSyncLocal>({seen});
  EXPECT_EQ(seen->vector(), std::vector<float>({5, 6}));
}

TEST_F(TensorTest, RebuildReplacesSizeAndData) {
  auto t = mgr().tensor({1, 2, 3});
  const std::vector<float> values = {5, 6, 7, 8};
  t->rebuild(values.data(), 4, sizeof(float));
  EXPECT_TRUE(t->isInit());
  EXPECT_EQ(t->size(), 4u);
  EXPECT_EQ(t->memorySize(), 16u);
  EXPECT_EQ(t->vector(), values);
  auto algo = mgr().algorithm({t}, kIncrementGlsl);
  EXPECT_EQ(algo->getWorkgroup(), (Workgroup{4, 1, 1}));
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({t})->eval();
  EXPECT_EQ(t->vector(), std::vector<float>({6, 7, 8, 9}));
  // From its own host copy, and after destroy().
  t->destroy();
  t->rebuild(t->rawData(), 2, sizeof(float));
  EXPECT_TRUE(t->isInit());
  mgr().sequence()->record<OpTensorSyncDevice>({t})->record<OpTensorSyncLocal>({t})->eval();
  EXPECT_EQ(t->vector(), std::vector<float>({6, 7}));
}

TEST_F(TensorTest, RebuildKeepsTheDataTypeAndElementSize) {
  auto t = mgr().tensorT<double>({1.0, 2.0});
  const std::vector<float> floats = {1, 2};
  EXPECT_THROW(t->rebuild(floats.data(), 2, sizeof(float)), InvalidArgumentError);
  EXPECT_EQ(t->size(), 2u);
  EXPECT_TRUE(t->isInit());
}

TEST_F(TensorTest, AlgorithmMadeBeforeARebuildIsRefusedNamingTheTensor) {
  auto t = mgr().tensor({1, 2, 3});
  auto algo = mgr().algorithm({t}, kIncrementGlsl);
  const std::vector<float> values = {0, 0, 0};
  t->rebuild(values.data(), 3, sizeof(float));
  auto seq = mgr().sequence()->record<OpAlgoDispatch>(algo);
  try {
    seq->eval();
    FAIL() << "expected FailedPreconditionError";
  } catch (const FailedPreconditionError& error) {
    EXPECT_NE(std::string(error.what()).find("the algorithm's tensors[0] was destroyed"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace kp::test
