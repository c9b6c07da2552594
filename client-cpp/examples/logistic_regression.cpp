// Kompute's logistic-regression example with the C++ API: one recorded sequence evaluated 100
// times, with host writes to the weights and bias between evaluations. Each evaluation is one
// round trip to kpd: it uploads w and b, runs the shader, and downloads the gradients.
// Prints the learned parameters, e.g. "w = 0.00033 1.59 b = -0.79".
#include <kp/kp.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "logistic_regression_shader.h"

int main() {
  constexpr int kIterations = 100;
  constexpr float kLearningRate = 0.1f;

  kp::Manager mgr;

  auto xI = mgr.tensor({0, 1, 1, 1, 1});
  auto xJ = mgr.tensor({0, 0, 0, 1, 1});
  auto y = mgr.tensor({0, 0, 0, 1, 1});
  auto wIn = mgr.tensor({0.001f, 0.001f});
  auto wOutI = mgr.tensor({0, 0, 0, 0, 0});
  auto wOutJ = mgr.tensor({0, 0, 0, 0, 0});
  auto bIn = mgr.tensor({0});
  auto bOut = mgr.tensor({0, 0, 0, 0, 0});
  auto lOut = mgr.tensor({0, 0, 0, 0, 0});
  std::vector<std::shared_ptr<kp::Tensor>> params = {xI, xJ, y, wIn, wOutI, wOutJ, bIn, bOut, lOut};

  mgr.sequence()->eval<kp::OpTensorSyncDevice>(params);

  // GLSL source: the daemon compiles it.
  auto algorithm = mgr.algorithm(params, std::string(kLogisticRegressionShader), kp::Workgroup({5}),
                                 std::vector<float>({static_cast<float>(y->size())}));

  auto sq = mgr.sequence()
                ->record<kp::OpTensorSyncDevice>({wIn, bIn})
                ->record<kp::OpAlgoDispatch>(algorithm)
                ->record<kp::OpTensorSyncLocal>({wOutI, wOutJ, bOut, lOut});

  for (int iteration = 0; iteration < kIterations; ++iteration) {
    sq->eval();
    for (uint32_t j = 0; j < bOut->size(); ++j) {
      wIn->data()[0] -= kLearningRate * wOutI->data()[j];
      wIn->data()[1] -= kLearningRate * wOutJ->data()[j];
      bIn->data()[0] -= kLearningRate * bOut->data()[j];
    }
  }

  std::cout << "w = " << wIn->data()[0] << " " << wIn->data()[1] << " b = " << bIn->data()[0]
            << std::endl;
  return 0;
}
