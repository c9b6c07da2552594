// Push constants (float, int32, uint32, double, a struct; defaults and per-dispatch
// overrides) and specialisation constants, through kpd.
#include <gtest/gtest.h>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

const char* const kPushFloat = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform Push { float x; float y; float z; } push;
void main() { a[0] += push.x; a[1] += push.y; a[2] += push.z; }
)";

const char* const kPushInt = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { int a[]; };
layout(push_constant) uniform Push { int x; int y; int z; } push;
void main() { a[0] += push.x; a[1] += push.y; a[2] += push.z; }
)";

const char* const kPushUint = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { uint a[]; };
layout(push_constant) uniform Push { uint x; uint y; uint z; } push;
void main() { a[0] += push.x; a[1] += push.y; a[2] += push.z; }
)";

const char* const kPushDouble = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { double a[]; };
layout(push_constant) uniform Push { double x; double y; double z; } push;
void main() { a[0] += push.x; a[1] += push.y; a[2] += push.z; }
)";

// Kompute's TestConstantsMixedTypes: a push block of a float, a uint and an int.
const char* const kPushMixed = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform Push { float x; uint y; int z; } push;
void main() {
    a[0] += push.x;
    a[1] += float(push.y - 2147483000u);
    a[2] += float(push.z);
}
)";

const char* const kSpecFloat = R"(
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float c0 = 1.0;
layout(constant_id = 1) const float c1 = 1.0;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
void main() { uint i = gl_GlobalInvocationID.x; a[i] = c0; b[i] = c1; }
)";

const char* const kSpecInt = R"(
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const int c0 = 0;
layout(constant_id = 1) const uint c1 = 0;
layout(set = 0, binding = 0) buffer A { int a[]; };
layout(set = 0, binding = 1) buffer B { uint b[]; };
void main() { uint i = gl_GlobalInvocationID.x; a[i] = c0; b[i] = c1; }
)";

void expectNear(const std::vector<float>& actual, const std::vector<float>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-5) << i;
}

using ConstantsTest = KpdTest;

TEST_F(ConstantsTest, FloatPushConstantsDefaultAndOverrides) {
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kPushFloat, {1, 1, 1}, {}, {0.1f, 0.2f, 0.3f});
  EXPECT_EQ(algo->getPushConstants<float>(), std::vector<float>({0.1f, 0.2f, 0.3f}));
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({t})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpAlgoDispatch>(algo, std::vector<float>{0.3f, 0.2f, 0.1f})
      ->record<OpAlgoDispatch>(algo, std::vector<float>{0.3f, 0.2f, 0.1f})
      ->record<OpTensorSyncLocal>({t})
      ->eval();
  expectNear(t->vector(), {0.7f, 0.6f, 0.5f});
}

TEST_F(ConstantsTest, KomputesConstantsType) {
  // Kompute's kp::Constants is std::vector<float>: programs declare constants with it.
  auto t = mgr().tensor({0, 0, 0});
  const kp::Constants push = {1.0f, 2.0f, 3.0f};
  auto algo = mgr().algorithm({t}, kPushFloat, {1, 1, 1}, kp::Constants{}, push);
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({t})->eval();
  expectNear(t->vector(), {1.0f, 2.0f, 3.0f});
}

TEST_F(ConstantsTest, KomputeOverrideOneByOne) {
  // Kompute's TestConstantsAlgoDispatchOverride, one eval per op.
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kPushFloat, {1, 1, 1}, {}, {0.0f, 0.0f, 0.0f});
  auto seq = mgr().sequence();
  seq->eval<OpTensorSyncDevice>({t});
  seq->eval<OpAlgoDispatch>(algo, std::vector<float>{0.1f, 0.2f, 0.3f});
  seq->eval<OpAlgoDispatch>(algo, std::vector<float>{0.3f, 0.2f, 0.1f});
  seq->eval<OpTensorSyncLocal>({t});
  expectNear(t->vector(), {0.4f, 0.4f, 0.4f});
}

TEST_F(ConstantsTest, OverrideBecomesTheAlgorithmsAsInKompute) {
  // Kompute's OpAlgoDispatch::record() sets the algorithm's push constants to its override:
  // a later dispatch without one pushes them again.
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kPushFloat, {1, 1, 1}, {}, {0.1f, 0.2f, 0.3f});
  mgr()
      .sequence()
      ->record<OpAlgoDispatch>(algo, std::vector<float>{1.0f, 2.0f, 4.0f})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>({t})
      ->eval();
  expectNear(t->vector(), {2.0f, 4.0f, 8.0f});
  EXPECT_EQ(algo->getPushConstants<float>(), std::vector<float>({1.0f, 2.0f, 4.0f}));
}

TEST_F(ConstantsTest, SetPushConstantsAppliesToOpsMadeAfterIt) {
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kPushFloat, {1, 1, 1}, {}, {1.0f, 2.0f, 3.0f});
  auto before = mgr().sequence()->record<OpAlgoDispatch>(algo);
  algo->setPushConstants<float>({10.0f, 20.0f, 30.0f});
  EXPECT_EQ(algo->getPushConstants<float>(), std::vector<float>({10.0f, 20.0f, 30.0f}));
  auto after = mgr().sequence()->record<OpAlgoDispatch>(algo);
  after->eval();
  before->eval();  // recorded before the change: the constants it was recorded with
  after->eval();
  mgr().sequence()->eval<OpTensorSyncLocal>({t});
  expectNear(t->vector(), {21.0f, 42.0f, 63.0f});
}

TEST_F(ConstantsTest, SetPushConstantsFromRawBytes) {
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kPushFloat, {1, 1, 1}, {}, {0.0f, 0.0f, 0.0f});
  const float values[3] = {0.5f, 1.5f, 2.5f};
  algo->setPushConstants(values, 3, sizeof(float));
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({t})->eval();
  expectNear(t->vector(), {0.5f, 1.5f, 2.5f});
}

TEST_F(ConstantsTest, SetPushConstantsOfAnotherSizeIsRejected) {
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kPushFloat, {1, 1, 1}, {}, {0.0f, 0.0f, 0.0f});
  try {
    algo->setPushConstants<float>({1.0f, 2.0f});
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& error) {
    EXPECT_STREQ(error.what(),
                 "setPushConstants: 8 bytes given; the algorithm's push constants have 12 bytes");
  }
  const uint16_t halves[3] = {1, 2, 3};
  EXPECT_THROW(algo->setPushConstants(halves, 3, sizeof(uint16_t)), InvalidArgumentError);
  EXPECT_EQ(algo->getPushConstants<float>(), std::vector<float>({0.0f, 0.0f, 0.0f}));
}

TEST_F(ConstantsTest, Int32PushConstantsStayIntegers) {
  auto t = mgr().tensorT<int32_t>({0, 0, 0});
  // 100000001 is not a float32: it arrives exactly only as an int.
  auto algo = mgr().algorithm<float, int32_t>({t}, kPushInt, {1, 1, 1}, {}, {-1, 2, 100000001});
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({t})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpAlgoDispatch>(algo, std::vector<int32_t>{-1, -1, -1})
      ->record<OpTensorSyncLocal>({t})
      ->eval();
  EXPECT_EQ(t->vector(), std::vector<int32_t>({-2, 1, 100000000}));
}

TEST_F(ConstantsTest, UnsignedPushConstants) {
  // Kompute's TestConstantsUnsignedInt.
  auto t = mgr().tensorT<uint32_t>({0, 0, 0});
  auto algo = mgr().algorithm<uint32_t, uint32_t>({t}, kPushUint, {1, 1, 1}, {},
                                                  {2147483650u, 2147483650u, 2147483650u});
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({t})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpAlgoDispatch>(algo, std::vector<uint32_t>{5, 5, 5})
      ->record<OpTensorSyncLocal>({t})
      ->eval();
  EXPECT_EQ(t->vector(), std::vector<uint32_t>({2147483655u, 2147483655u, 2147483655u}));
}

TEST_F(ConstantsTest, DoublePushConstants) {
  if (!mgr().getDeviceProperties().shaderFloat64) GTEST_SKIP() << "the device has no shaderFloat64";
  const std::vector<double> push = {1.1111222233334444, 2.1111222233334444, 3.1111222233334444};
  auto t = mgr().tensorT<double>({0, 0, 0});
  auto algo = mgr().algorithm<double, double>({t}, kPushDouble, {1, 1, 1}, {}, push);
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({t})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpAlgoDispatch>(algo, push)
      ->record<OpTensorSyncLocal>({t})
      ->eval();
  EXPECT_EQ(t->vector(), std::vector<double>({push[0] * 2, push[1] * 2, push[2] * 2}));
}

TEST_F(ConstantsTest, StructPushConstantsOfMixedTypes) {
  struct Push {
    float x;
    uint32_t y;
    int32_t z;
  };
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm<float, Push>({t}, kPushMixed, {1, 1, 1}, {}, {{0, 0, 0}});
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({t})
      ->record<OpAlgoDispatch>(algo, std::vector<Push>{{15.32f, 2147483650u, 10}})
      ->record<OpAlgoDispatch>(algo, std::vector<Push>{{30.32f, 2147483650u, -3}})
      ->record<OpTensorSyncLocal>({t})
      ->eval();
  expectNear(t->vector(), {45.64f, 1300, 7});
}

TEST_F(ConstantsTest, OverrideOfAnotherSizeIsRejectedAtRecord) {
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kPushFloat, {1, 1, 1}, {}, {0.0f, 0.0f, 0.0f});
  auto seq = mgr().sequence();
  try {
    seq->record<OpAlgoDispatch>(algo, std::vector<float>{1.0f});
    FAIL() << "no error";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find("push_constants: 4 bytes given"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("12 bytes"), std::string::npos) << error.what();
  }
  // An algorithm without push constants takes no override (Kompute's TestConstantsWrongSize).
  auto none = mgr().algorithm({t}, kIncrementGlsl);
  EXPECT_THROW(seq->record<OpAlgoDispatch>(none, std::vector<float>{0.1f, 0.2f, 0.3f}),
               std::runtime_error);
}

TEST_F(ConstantsTest, FloatSpecialisationConstants) {
  auto a = mgr().tensor({0, 0, 0});
  auto b = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({a, b}, kSpecFloat, {}, {5.0f, 0.3f});
  EXPECT_EQ(algo->getSpecializationConstants<float>(), std::vector<float>({5.0f, 0.3f}));
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({a, b})->eval();
  EXPECT_EQ(a->vector(), std::vector<float>({5, 5, 5}));
  expectNear(b->vector(), {0.3f, 0.3f, 0.3f});
}

TEST_F(ConstantsTest, IntSpecialisationConstants) {
  auto a = mgr().tensorT<int32_t>({0, 0, 0, 0});
  auto b = mgr().tensorT<uint32_t>({0, 0, 0, 0});
  // One typed array sets every constant: int32 -1 and, read as uint, 7.
  auto algo = mgr().algorithm({a, b}, kSpecInt, {}, std::vector<int32_t>{-1, 7});
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({a, b})->eval();
  EXPECT_EQ(a->vector(), std::vector<int32_t>({-1, -1, -1, -1}));
  EXPECT_EQ(b->vector(), std::vector<uint32_t>({7, 7, 7, 7}));
}

TEST_F(ConstantsTest, ReadmeExampleConstants) {
  // Kompute's README flow: spec {2}, push A {2}, override push B {3}; then an async sync.
  auto inA = mgr().tensor({2, 2, 2});
  auto inB = mgr().tensor({1, 2, 3});
  auto outA = mgr().tensorT<uint32_t>({0, 0, 0});
  auto outB = mgr().tensorT<uint32_t>({0, 0, 0});
  std::vector<std::shared_ptr<Tensor>> params = {inA, inB, outA, outB};
  const std::string shader = R"(
    #version 450
    layout (local_size_x = 1) in;
    layout(set = 0, binding = 0) buffer buf_in_a { float in_a[]; };
    layout(set = 0, binding = 1) buffer buf_in_b { float in_b[]; };
    layout(set = 0, binding = 2) buffer buf_out_a { uint out_a[]; };
    layout(set = 0, binding = 3) buffer buf_out_b { uint out_b[]; };
    layout(push_constant) uniform PushConstants { float val; } push_const;
    layout(constant_id = 0) const float const_one = 0;
    void main() {
        uint index = gl_GlobalInvocationID.x;
        out_a[index] += uint( in_a[index] * in_b[index] );
        out_b[index] += uint( const_one * push_const.val );
    })";
  auto algo = mgr().algorithm(params, mgr().compileSource(shader), Workgroup({3, 1, 1}),
                              std::vector<float>({2}), std::vector<float>({2.0}));
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>(params)
      ->record<OpAlgoDispatch>(algo)
      ->eval()
      ->record<OpAlgoDispatch>(algo, std::vector<float>({3.0}))
      ->eval();
  auto sq = mgr().sequence();
  sq->evalAsync<OpTensorSyncLocal>(params);
  sq->evalAwait();
  EXPECT_EQ(outA->vector(), std::vector<uint32_t>({4, 8, 12}));
  EXPECT_EQ(outB->vector(), std::vector<uint32_t>({10, 10, 10}));
}

}  // namespace
}  // namespace kp::test
