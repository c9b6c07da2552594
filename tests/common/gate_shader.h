// The test gate (gate.comp): GPU work that holds its queue until the test opens it, so that
// "the queue is busy" is true for exactly as long as a test wants, on any machine. What the
// engine, C++ client and Python (tests/e2e/gate.py) gates share: the shader, its flags, how
// many workgroups to dispatch, and a bounded wait for a condition.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#ifndef KP_TESTS_COMMON_DIR
#error "KP_TESTS_COMMON_DIR must name tests/common (set by CMake)"
#endif

namespace kp::test {

// Indices of the gate's uint32 flags (see gate.comp).
enum GateFlag : uint32_t {
  kGateOpen = 0,      // written 1 by the test: the work may finish
  kGateStarted = 1,   // set by the shader once it runs
  kGateSeenOpen = 2,  // set by the shader once it saw the gate open
  kGateFlagCount = 3,
};

// Workgroups of 64 to dispatch: on lavapipe with 2 cores the gate gives up after about a
// minute and a half if never opened (on a GPU, after about 1024 x 65535 looks per invocation).
inline constexpr uint32_t kGateWorkgroups = 2048;

// GLSL of the gate shader.
inline std::string gateShaderSource() {
  std::ifstream file(KP_TESTS_COMMON_DIR "/gate.comp");
  if (!file) throw std::runtime_error("cannot read " KP_TESTS_COMMON_DIR "/gate.comp");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// One flag of a gate whose flags live in host memory the GPU writes while the test reads.
inline uint32_t loadGateFlag(const void* flags, GateFlag flag) {
  auto* words = const_cast<uint32_t*>(static_cast<const uint32_t*>(flags));
  return std::atomic_ref<uint32_t>(words[flag]).load();
}
inline void storeGateFlag(void* flags, GateFlag flag, uint32_t value) {
  std::atomic_ref<uint32_t>(static_cast<uint32_t*>(flags)[flag]).store(value);
}

// Waits until `condition` holds, checking every millisecond; false if it did not within
// `timeout` (which only bounds a failure: pass a generous one).
inline bool waitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace kp::test
