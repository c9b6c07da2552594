// Kompute's logistic-regression example (v0.9 API): 100 evaluations of one recorded
// sequence, with host writes to w and b between them.
#include <gtest/gtest.h>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

const char* const kLogisticRegression = R"(
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float m = 0;
layout(set = 0, binding = 0) readonly buffer XI { float x_i[]; };
layout(set = 0, binding = 1) readonly buffer XJ { float x_j[]; };
layout(set = 0, binding = 2) readonly buffer Y { float y[]; };
layout(set = 0, binding = 3) readonly buffer WIn { float w_in[]; };
layout(set = 0, binding = 4) writeonly buffer WOutI { float w_out_i[]; };
layout(set = 0, binding = 5) writeonly buffer WOutJ { float w_out_j[]; };
layout(set = 0, binding = 6) readonly buffer BIn { float b_in[]; };
layout(set = 0, binding = 7) writeonly buffer BOut { float b_out[]; };
layout(set = 0, binding = 8) writeonly buffer LOut { float l_out[]; };

float sigmoid(float z) { return 1.0 / (1.0 + exp(-z)); }

void main() {
    uint i = gl_GlobalInvocationID.x;
    vec2 w = vec2(w_in[0], w_in[1]);
    vec2 x = vec2(x_i[i], x_j[i]);
    float y_hat = sigmoid(dot(w, x) + b_in[0]);
    float dz = y_hat - y[i];
    vec2 dw = (1.0 / m) * x * dz;
    w_out_i[i] = dw.x;
    w_out_j[i] = dw.y;
    b_out[i] = (1.0 / m) * dz;
    l_out[i] = -(y[i] * log(y_hat) + (1.0 - y[i]) * log(1.0 - y_hat));
}
)";

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
  auto algo = mgr().algorithm(params, mgr().compileSource(kLogisticRegression), Workgroup({5}),
                              std::vector<float>({static_cast<float>(y->size())}));
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
