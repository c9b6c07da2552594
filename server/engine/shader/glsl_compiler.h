// GLSL compute shader source -> SPIR-V, with glslang.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/base/mutex.h"

namespace kp::engine {

// Compiles a compute shader for Vulkan 1.1 / SPIR-V 1.3, once, in this process. Throws
// Error(kInvalidArgument) whose message carries glslang's log, with `name` and the shader's line
// numbers (e.g. "shader.comp:5: 'foo' : undeclared identifier"). glslang trusts its input: a
// hostile source can exhaust the stack or the memory of the process that compiles it, so kpd
// compiles in a worker process of its own (server/kpd_compile.cpp).
std::vector<uint32_t> compileGlsl(const std::string& source, const std::string& name = "shader");

// compileGlsl with a cache by source text. Thread-safe.
class GlslCompiler {
 public:
  explicit GlslCompiler(size_t cacheCapacity = 128);

  std::vector<uint32_t> compile(const std::string& source, const std::string& name = "shader");

  size_t cacheHits() const;

 private:
  mutable base::Mutex mutex_;
  size_t capacity_;
  std::list<std::string> order_ KP_GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::pair<std::vector<uint32_t>, std::list<std::string>::iterator>>
      cache_ KP_GUARDED_BY(mutex_);
  size_t hits_ KP_GUARDED_BY(mutex_) = 0;
};

}  // namespace kp::engine
