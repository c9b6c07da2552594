// The logistic-regression shader of Kompute's example, shared by logistic_regression.cpp and
// the C++ client's test of it.
#pragma once

// One invocation per sample: the gradient contributions of w and b, and the loss. m (the
// number of samples) is specialisation constant 0.
inline const char* const kLogisticRegressionShader = R"(
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
