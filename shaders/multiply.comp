#version 450
// Built-in multiply (OpMult): out[i] = lhs[i] * rhs[i] for every element.
// 64 invocations per workgroup; invocations past the end of the tensors do nothing,
// so any workgroup count that covers the tensors is correct.
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float outValues[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= outValues.length()) {
    return;
  }
  outValues[i] = lhs[i] * rhs[i];
}
