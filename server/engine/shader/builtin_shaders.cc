#include "server/engine/shader/builtin_shaders.h"

#include <iterator>

// Generated into the build tree by shaders/CMakeLists.txt.
#include "multiply.h"

namespace kp::engine {

const std::vector<uint32_t>& builtinShader(BuiltinShader shader) {
  static const std::vector<uint32_t> multiply(std::begin(kSpirv_multiply),
                                              std::end(kSpirv_multiply));
  switch (shader) {
    case BuiltinShader::kMultiply:
      return multiply;
  }
  return multiply;
}

}  // namespace kp::engine
