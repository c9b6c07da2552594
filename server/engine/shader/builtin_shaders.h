// SPIR-V of the built-in shaders (shaders/*.comp), compiled at build time and embedded.
#pragma once

#include <cstdint>
#include <vector>

namespace kp::engine {

enum class BuiltinShader {
  kMultiply,  // shaders/multiply.comp: out = lhs * rhs (float32), local_size_x 64
};

const std::vector<uint32_t>& builtinShader(BuiltinShader shader);

}  // namespace kp::engine
