// A 16x8 workgroup grid: each invocation writes its own coordinates.
#include <gtest/gtest.h>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

const char* const kGrid = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) writeonly buffer X { float xs[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float ys[]; };
void main() {
    uint index = gl_WorkGroupID.x * gl_NumWorkGroups.y + gl_WorkGroupID.y;
    xs[index] = float(gl_GlobalInvocationID.x);
    ys[index] = float(gl_GlobalInvocationID.y);
}
)";

using WorkgroupTest = KpdTest;

TEST_F(WorkgroupTest, SixteenByEightGrid) {
  auto xs = mgr().tensor(std::vector<float>(16 * 8, 0.0f));
  auto ys = mgr().tensor(std::vector<float>(16 * 8, 0.0f));
  EXPECT_EQ(xs->size(), 128u);
  auto algo = mgr().algorithm({xs, ys}, kGrid, {16, 8, 1});
  EXPECT_EQ(algo->getWorkgroup(), (Workgroup{16, 8, 1}));
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({xs, ys})->eval();
  std::vector<float> expectedX, expectedY;
  for (int x = 0; x < 16; ++x) {
    for (int y = 0; y < 8; ++y) {
      expectedX.push_back(static_cast<float>(x));  // 0..15, each 8 times
      expectedY.push_back(static_cast<float>(y));  // 0..7, 16 times over
    }
  }
  EXPECT_EQ(xs->vector(), expectedX);
  EXPECT_EQ(ys->vector(), expectedY);
}

TEST_F(WorkgroupTest, DefaultsToFirstTensorSize) {
  auto a = mgr().tensor({0, 0, 0, 0, 0});
  auto algo = mgr().algorithm({a}, kIncrementGlsl);
  EXPECT_EQ(algo->getWorkgroup(), (Workgroup{5, 1, 1}));
  auto partial = mgr().algorithm({a}, kIncrementGlsl, {2, 0, 0});
  EXPECT_EQ(partial->getWorkgroup(), (Workgroup{2, 1, 1}));
  mgr().sequence()->record<OpAlgoDispatch>(partial)->record<OpTensorSyncLocal>({a})->eval();
  EXPECT_EQ(a->vector(), std::vector<float>({1, 1, 0, 0, 0}));
}

TEST_F(WorkgroupTest, SetWorkgroupAppliesToOpsMadeAfterIt) {
  auto a = mgr().tensor({0, 0, 0, 0, 0});
  auto algo = mgr().algorithm({a}, kIncrementGlsl);
  auto before = mgr().sequence()->record<OpAlgoDispatch>(algo);
  algo->setWorkgroup({2, 0, 0});  // Kompute's rule: {x, y or 1, z or 1}
  EXPECT_EQ(algo->getWorkgroup(), (Workgroup{2, 1, 1}));
  auto after = mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({a});
  after->eval();
  EXPECT_EQ(a->vector(), std::vector<float>({1, 1, 0, 0, 0}));
  before->eval();  // recorded before the change: all five
  after->eval();
  EXPECT_EQ(a->vector(), std::vector<float>({3, 3, 1, 1, 1}));
  algo->setWorkgroup({0, 7, 7}, 4);  // x = 0: {minSize, 1, 1}
  EXPECT_EQ(algo->getWorkgroup(), (Workgroup{4, 1, 1}));
  mgr().sequence()->record<OpAlgoDispatch>(algo)->record<OpTensorSyncLocal>({a})->eval();
  EXPECT_EQ(a->vector(), std::vector<float>({4, 4, 2, 2, 1}));
}

TEST_F(WorkgroupTest, SetWorkgroupOverTheDeviceLimitFailsAtEval) {
  auto a = mgr().tensor({0, 0});
  auto algo = mgr().algorithm({a}, kIncrementGlsl);
  algo->setWorkgroup({1, 1, UINT32_MAX});
  auto seq = mgr().sequence()->record<OpAlgoDispatch>(algo);
  try {
    seq->eval();
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("ops[0].algo_dispatch: workgroup.z = 4294967295 exceeds the device's "
                        "maxComputeWorkGroupCount[2]"),
              std::string::npos)
        << error.what();
  }
  EXPECT_EQ(a->vector(), std::vector<float>({0, 0}));
}

}  // namespace
}  // namespace kp::test
