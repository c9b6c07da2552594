// Typed errors of the engine. Every failure the engine reports is an Error whose code tells
// the service which gRPC status to answer with, and whose message names the offending value.
#pragma once

#include <stdexcept>
#include <string>

namespace kp::engine {

enum class ErrorCode {
  kInvalidArgument,     // the caller passed something malformed
  kNotFound,            // a named object or device does not exist
  kFailedPrecondition,  // the object is in the wrong state (destroyed, running, ...)
  kResourceExhausted,   // out of device or host memory, or a limit reached
  kDeadlineExceeded,    // a wait ran out of time
  kDeviceLost,          // the Vulkan device was lost
  kUnavailable,         // no usable Vulkan driver
  kInternal,            // a Vulkan call failed unexpectedly
};

const char* errorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] inline void fail(ErrorCode code, const std::string& message) {
  throw Error(code, message);
}

}  // namespace kp::engine

// Throws Error(code, message) unless `condition` holds. A macro, so that the message (often
// built from strings and numbers) is only built when the check fails: checks run on every
// evaluation, and an evaluation allocates nothing in the steady state.
#define KP_REQUIRE(condition, code, message)                 \
  do {                                                       \
    if (!(condition)) ::kp::engine::fail((code), (message)); \
  } while (false)
