// Kompute's logistic-regression example (v0.9 API): 100 evaluations of one recorded
// sequence, with host writes to w and b between them.
#include <gtest/gtest.h>

#include "kp/kp.hpp"
#include "kpd_process.h"
#include "logistic_regression_shader.h"

namespace kp::test {
namespace {

class LogisticRegressionTest : public KpdTest,
                               public ::testing::WithParamInterface<Tensor::TensorTypes> {};

TEST_P(LogisticRegressionTest, Learns) {
  auto xI = mgr().tensor({0, 1, 1, 1, 1});
  auto xJ = mgr().tensor({0, 0, 0, 1, 1});
  auto y = mgr().tensor({0, 0, 0, 1, 1});
  auto wIn = mgr().tensor({0.001f, 0.001f}, GetParam());
  auto wOutI = mgr().tensor({0, 0, 0, 0, 0});
  auto wOutJ = mgr().tensor({0, 0, 0, 0, 0});
  auto bIn = mgr().tensor({0}, GetParam());
  auto bOut = mgr().tensor({0, 0, 0, 0, 0});
  auto lOut = mgr().tensor({0, 0, 0, 0, 0});
  std::vector<std::shared_ptr<Tensor>> params = {xI, xJ, y, wIn, wOutI, wOutJ, bIn, bOut, lOut};

  mgr().sequence()->eval<OpTensorSyncDevice>(params);
  auto algo = mgr().algorithm(params, mgr().compileSource(kLogisticRegressionShader),
                              Workgroup({5}), std::vector<float>({static_cast<float>(y->size())}));
  auto sq = mgr()
                .sequence()
                ->record<OpTensorSyncDevice>({wIn, bIn})
                ->record<OpAlgoDispatch>(algo)
                ->record<OpTensorSyncLocal>({wOutI, wOutJ, bOut, lOut});

  const float learningRate = 0.1f;
  for (int iteration = 0; iteration < 100; ++iteration) {
    sq->eval();
    for (uint32_t j = 0; j < bOut->size(); ++j) {
      wIn->data()[0] -= learningRate * wOutI->data()[j];
      wIn->data()[1] -= learningRate * wOutJ->data()[j];
      bIn->data()[0] -= learningRate * bOut->data()[j];
    }
  }

  EXPECT_GT(wIn->data()[0], 0.0f);
  EXPECT_LT(wIn->data()[0], 0.01f);
  EXPECT_GT(wIn->data()[1], 1.5f);
  EXPECT_LT(bIn->data()[0], 0.7f);
  // A float replay of the same maths ends at w = (3.27e-4, 1.5875), b = -0.794.
  EXPECT_NEAR(wIn->data()[1], 1.5875f, 0.01f);
  EXPECT_NEAR(bIn->data()[0], -0.794f, 0.01f);
  for (float loss : lOut->vector()) EXPECT_GE(loss, 0.0f);
}

INSTANTIATE_TEST_SUITE_P(WeightsType, LogisticRegressionTest,
                         ::testing::Values(Tensor::TensorTypes::eDevice,
                                           Tensor::TensorTypes::eHost),
                         [](const auto& info) { return Tensor::toString(info.param); });

}  // namespace
}  // namespace kp::test
