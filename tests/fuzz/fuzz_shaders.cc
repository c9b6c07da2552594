#include "fuzz_shaders.h"

#include "server/engine/shader/glsl_compiler.h"

namespace kp::fuzz {

const std::vector<FuzzShader>& fuzzShaders() {
  // Positions are part of the committed corpus: append, never reorder.
  static const std::vector<FuzzShader> shaders = {
      {"multiply", R"(#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float outValues[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= outValues.length()) return;
  outValues[i] = lhs[i] * rhs[i];
}
)"},
      {"scale_push", R"(#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float kBias = 0.0;
layout(push_constant) uniform Push { float scale; float offset; } p;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < a.length() && i < b.length()) b[i] = a[i] * p.scale + p.offset + kBias;
}
)"},
      {"uint_increment", R"(#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const uint kStep = 1;
layout(set = 0, binding = 0) buffer A { uint a[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < a.length()) a[i] += kStep;
}
)"},
      {"int_spec_push", R"(#version 450
layout(local_size_x = 2) in;
layout(constant_id = 0) const int kAdd = 1;
layout(constant_id = 1) const bool kNegate = false;
layout(push_constant) uniform Push { int factor; } p;
layout(set = 0, binding = 0) buffer A { int a[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= a.length()) return;
  int v = a[i] * p.factor + kAdd;
  a[i] = kNegate ? -v : v;
}
)"},
      {"double", R"(#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform Push { double factor; } p;
layout(set = 0, binding = 0) buffer D { double d[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < d.length()) d[i] = d[i] * p.factor + 1.0lf;
}
)"},
      {"bounded_loop", R"(#version 450
layout(local_size_x = 4) in;
layout(push_constant) uniform Push { uint n; } p;
layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= b.length() || a.length() == 0) return;
  float acc = 0.0;
  for (uint k = 0; k < min(p.n, 64u); ++k) acc += a[(i + k) % a.length()];
  b[i] = acc;
}
)"},
      {"empty", R"(#version 450
layout(local_size_x = 1) in;
void main() {}
)"},
      {"shared_local_size", R"(#version 450
layout(local_size_x_id = 0) in;
shared float tile[64];
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  uint l = gl_LocalInvocationID.x % 64;
  tile[l] = i < a.length() ? a[i] : 0.0;
  barrier();
  if (i < a.length()) a[i] = tile[(l + 1) % 64] + 1.0;
}
)"},
      {"out_of_bounds", R"(#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform Push { uint offset; } p;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  b[i + p.offset] = a[i + p.offset + 1000000u] + 1.0;
}
)"},
      {"four_bindings", R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { int b[]; };
layout(set = 0, binding = 2) readonly buffer C { uint c[]; };
layout(set = 0, binding = 3) buffer D { float d[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < d.length() && i < a.length() && i < b.length() && i < c.length())
    d[i] = a[i] + float(b[i]) + float(c[i]);
}
)"},
  };
  return shaders;
}

const std::vector<std::vector<uint32_t>>& fuzzShaderSpirv() {
  static const std::vector<std::vector<uint32_t>> spirv = [] {
    engine::GlslCompiler compiler;
    std::vector<std::vector<uint32_t>> result;
    for (const FuzzShader& shader : fuzzShaders()) {
      result.push_back(compiler.compile(shader.glsl, shader.name));
    }
    return result;
  }();
  return spirv;
}

}  // namespace kp::fuzz
