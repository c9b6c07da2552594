// GLSL compute shaders of the request-validation table: each one is valid GLSL that breaks one
// rule of an algorithm (a capability kpd does not enable, a limit of the device, a kind of
// descriptor), or one that the rows pair with wrong constants. The multiply shader is the
// built-in one (shaders/multiply.comp, ValidationContext::multiplyGlsl).
#pragma once

namespace kp::service::test::validation::shaders {

// a[0] += x + y + z of a 12-byte push-constant block.
inline constexpr const char* kPush12Bytes = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform Push { float x; float y; float z; } push;
void main() { a[0] += push.x + push.y + push.z; }
)";

inline constexpr const char* kPush4096Bytes = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform Push { float p[1024]; } push;
void main() { a[0] = push.p[1023]; }
)";

inline constexpr const char* kSpecFloat = R"(
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float c0 = 1.0;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] = c0; }
)";

inline constexpr const char* kLocalSizeFromSpec = R"(
#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] = 1.0; }
)";

inline constexpr const char* kTooManyInvocations = R"(
#version 450
layout(local_size_x = 1024, local_size_y = 2) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_LocalInvocationIndex] = 1.0; }
)";

inline constexpr const char* kTooMuchSharedMemory = R"(
#version 450
layout(local_size_x = 1) in;
shared float scratch[100000];
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() {
    scratch[gl_LocalInvocationIndex] = a[0];
    barrier();
    a[1] = scratch[0];
}
)";

inline constexpr const char* kUniformBuffer = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) uniform U { vec4 u; };
layout(set = 0, binding = 1) buffer A { float a[]; };
void main() { a[0] = u.x; }
)";

inline constexpr const char* kSetOne = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 1, binding = 0) buffer A { float a[]; };
void main() { a[0] = 1.0; }
)";

inline constexpr const char* kFloat16 = R"(
#version 450
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { float16_t h = float16_t(a[0]); a[0] = float(h * h); }
)";

inline constexpr const char* kInt8 = R"(
#version 450
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { int8_t x = int8_t(a[0]); a[0] = float(x * x); }
)";

// Fails to compile at line 4.
inline constexpr const char* kNotGlsl = R"(
#version 450
layout(local_size_x = 1) in;
void main() { this is not glsl; }
)";

}  // namespace kp::service::test::validation::shaders
