"""GLSL shaders the end-to-end tests share."""

# Kompute's logistic-regression example as GLSL: one invocation per sample; writes the
# gradient contributions of w and b and the loss; m (the sample count) is spec constant 0.
LOGISTIC_REGRESSION = """
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
"""

# The v0.5/0.6 variant: old-era algorithms set spec constant i to the size of tensor i (a
# uint), so m comes from a tenth buffer M = [m] instead, as in Kompute's tests of that era.
LOGISTIC_REGRESSION_M = LOGISTIC_REGRESSION.replace(
    "layout(constant_id = 0) const float m = 0;\n", ""
).replace(
    "layout(set = 0, binding = 8) writeonly buffer LOut { float l_out[]; };",
    "layout(set = 0, binding = 8) writeonly buffer LOut { float l_out[]; };\n"
    "layout(set = 0, binding = 9) readonly buffer M { float m_in[]; };",
).replace("void main() {\n    uint i", "void main() {\n    float m = m_in[0];\n    uint i")

# A shader that practically never finishes: lavapipe stops every loop after 65535 iterations,
# so the length comes from the invocations: 65535 x 65535 workgroups of 64, each looping 65535
# times, is years of work. (On a GPU the loop alone would never end.)
ENDLESS = """
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer A { uint a[]; };
void main() {
    uint x = gl_GlobalInvocationID.x;
    for (uint i = 0; i < 65535u; ++i) { x = x * 1664525u + 1013904223u + (x >> 13); }
    atomicAdd(a[0], x & 1u);
}
"""
ENDLESS_WORKGROUPS = (65535, 65535, 1)
