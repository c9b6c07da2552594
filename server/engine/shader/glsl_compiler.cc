#include "server/engine/shader/glsl_compiler.h"

#include <glslang/Public/ResourceLimits.h>
#include <glslang/Public/ShaderLang.h>
#include <glslang/SPIRV/GlslangToSpv.h>

#include <memory>

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

// glslang needs one process-wide initialisation before any compile.
void initialiseGlslangOnce() {
  static const bool initialised = [] {
    glslang::InitializeProcess();
    return true;
  }();
  (void)initialised;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\0')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

GlslCompiler::GlslCompiler(size_t cacheCapacity) : capacity_(cacheCapacity) {}

std::vector<uint32_t> GlslCompiler::compile(const std::string& source, const std::string& name) {
  base::MutexLock lock(mutex_);
  auto found = cache_.find(source);
  if (found != cache_.end()) {
    ++hits_;
    order_.splice(order_.begin(), order_, found->second.second);
    return found->second.first;
  }
  std::vector<uint32_t> spirv = compileGlsl(source, name);
  order_.push_front(source);
  cache_[source] = {spirv, order_.begin()};
  while (cache_.size() > capacity_) {
    cache_.erase(order_.back());
    order_.pop_back();
  }
  return spirv;
}

size_t GlslCompiler::cacheHits() const {
  base::MutexLock lock(mutex_);
  return hits_;
}

std::vector<uint32_t> compileGlsl(const std::string& source, const std::string& name) {
  initialiseGlslangOnce();
  KP_REQUIRE(!source.empty(), ErrorCode::kInvalidArgument, "GLSL source is empty");
  glslang::TShader shader(EShLangCompute);
  const char* text = source.c_str();
  const int length = static_cast<int>(source.size());
  const char* names[] = {name.c_str()};
  shader.setStringsWithLengthsAndNames(&text, &length, names, 1);
  shader.setEnvInput(glslang::EShSourceGlsl, EShLangCompute, glslang::EShClientVulkan, 100);
  shader.setEnvClient(glslang::EShClientVulkan, glslang::EShTargetVulkan_1_1);
  shader.setEnvTarget(glslang::EShTargetSpv, glslang::EShTargetSpv_1_3);
  const auto messages = static_cast<EShMessages>(EShMsgSpvRules | EShMsgVulkanRules);
  if (!shader.parse(GetDefaultResources(), 450, false, messages)) {
    fail(ErrorCode::kInvalidArgument,
         "GLSL compilation failed:\n" + trimmed(shader.getInfoLog()));
  }
  glslang::TProgram program;
  program.addShader(&shader);
  if (!program.link(messages)) {
    fail(ErrorCode::kInvalidArgument, "GLSL link failed:\n" + trimmed(program.getInfoLog()));
  }
  const glslang::TIntermediate* intermediate = program.getIntermediate(EShLangCompute);
  KP_REQUIRE(intermediate != nullptr, ErrorCode::kInvalidArgument,
             "GLSL source has no compute shader stage");
  std::vector<uint32_t> spirv;
  glslang::SpvOptions options;
  options.disableOptimizer = false;
  glslang::GlslangToSpv(*intermediate, spirv, &options);
  return spirv;
}

}  // namespace kp::engine
