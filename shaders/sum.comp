#version 450
// Element-wise sum: out[i] = lhs[i] + rhs[i] (the seed example's second shader).
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float outValues[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= outValues.length()) {
    return;
  }
  outValues[i] = lhs[i] + rhs[i];
}
