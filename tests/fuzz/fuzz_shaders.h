// The shaders the request fuzzer embeds (FuzzInput CreateAlgorithm.builtin): small valid
// compute shaders covering the interface features kpd checks (bindings, push constants of
// each type, specialisation constants, a specialised local size, shared memory, float64,
// out-of-bounds accesses), so that fuzzed evaluations actually run on the device.
// Every shader's work is bounded (no loop runs more than 64 times per invocation).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kp::fuzz {

struct FuzzShader {
  const char* name;
  const char* glsl;
};

// The embedded shaders' GLSL sources (make_seeds.py refers to them by position).
const std::vector<FuzzShader>& fuzzShaders();

// Their SPIR-V, compiled once with the engine's glslang on first use (same order).
const std::vector<std::vector<uint32_t>>& fuzzShaderSpirv();

}  // namespace kp::fuzz
