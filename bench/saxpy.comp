#version 450
// y[i] = a * x[i] + y[i]; a is push constant 0. A grid-stride loop covers any length with at
// most 65535 workgroups of 256 invocations.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Push { float a; } push;

void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < y.length(); i += stride) {
    y[i] = push.a * x[i] + y[i];
  }
}
