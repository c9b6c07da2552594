// GLSL compute shader source -> SPIR-V, with glslang. Results are cached by source text.
// Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/base/mutex.h"

namespace kp::engine {

class GlslCompiler {
 public:
  explicit GlslCompiler(size_t cacheCapacity = 128);

  // Compiles a compute shader for Vulkan 1.1 / SPIR-V 1.3. Throws Error(kInvalidArgument)
  // whose message carries glslang's log, with `name` and the shader's line numbers
  // (e.g. "shader.comp:5: 'foo' : undeclared identifier").
  std::vector<uint32_t> compile(const std::string& source, const std::string& name = "shader");

  size_t cacheHits() const;

 private:
  std::vector<uint32_t> compileUncached(const std::string& source, const std::string& name);

  mutable base::Mutex mutex_;
  size_t capacity_;
  std::list<std::string> order_ KP_GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::pair<std::vector<uint32_t>, std::list<std::string>::iterator>>
      cache_ KP_GUARDED_BY(mutex_);
  size_t hits_ KP_GUARDED_BY(mutex_) = 0;
};

}  // namespace kp::engine
