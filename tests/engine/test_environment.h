// Shared set-up of the engine tests: one Instance and one Device per test process (lavapipe in
// CI), a GLSL compiler for the tests' shaders, and helpers to check typed engine errors.
//
// The global environment opens the device before the first test and, after the last one,
// closes it and fails the run if the Vulkan validation layer reported any error. Validation is
// on when KP_VALIDATION=1 (ctest sets it for every test).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "server/engine/engine.h"

namespace kp::engine {

// Readable names in test output and ctest test names.
inline void PrintTo(DataType type, std::ostream* os) {
  *os << dataTypeName(type);
}
inline void PrintTo(TensorType type, std::ostream* os) {
  *os << tensorTypeName(type);
}

}  // namespace kp::engine

namespace kp::engine::test {

using base::Error;
using base::ErrorCode;

class EngineEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
};

// The process-wide instance and device (device 0, default compute queue).
const std::shared_ptr<Instance>& instance();
const std::shared_ptr<Device>& device();

// True when KP_VALIDATION=1 asked for the validation layer.
bool validationRequested();

// GLSL compute shader source -> SPIR-V words, through the engine's GlslCompiler.
std::vector<uint32_t> compile(const std::string& glsl);

// Runs `fn` and checks that it throws an engine Error with `code` whose message contains
// `substring`. Fails the test (non-fatally) otherwise.
void expectError(const std::function<void()>& fn, ErrorCode code, const std::string& substring);

// What the GPU holds in `tensor`'s primary buffer, read without trusting any host copy: the
// tensor is copied into a fresh device tensor whose host copy is cleared and then downloaded.
// Works for every tensor type, storage included.
std::vector<uint8_t> gpuBytes(const std::shared_ptr<Tensor>& tensor);

template <typename T>
std::vector<T> gpuValues(const std::shared_ptr<Tensor>& tensor) {
  const std::vector<uint8_t> bytes = gpuBytes(tensor);
  std::vector<T> values(bytes.size() / sizeof(T));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  return values;
}

// Fixture for tests that use the device: exposes it as `device_` and checks that the test itself
// caused no validation error.
class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Records `ops` into a new sequence on the default queue and evaluates it once.
  void evalOnce(const std::vector<std::shared_ptr<Op>>& ops);

  std::shared_ptr<Device> device_;

 private:
  uint64_t validationErrorsAtStart_ = 0;
};

}  // namespace kp::engine::test
