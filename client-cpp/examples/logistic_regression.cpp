// Kompute's logistic-regression example with the C++ API: one recorded sequence evaluated 100
// times, with host writes to the weights and bias between evaluations. Each evaluation is one
// round trip to kpd: it uploads w and b, runs the shader, and downloads the gradients.
// Prints the learned parameters, e.g. "w = 0.00033 1.59 b = -0.79".
#include <kp/kp.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

// One invocation per sample: the gradient contributions of w and b, and the loss. m (the
// number of samples) is specialisation constant 0.
static const char* kShader = R"(
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
  auto algorithm = mgr.algorithm(params, std::string(kShader), kp::Workgroup({5}),
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
