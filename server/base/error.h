// The one error vocabulary of kpd, shared by the engine and the service. Every failure is an
// Error whose code says what kind of failure it is (the service maps each code to one gRPC
// status, in server/service/transport/status.cc) and whose message names the offending field
// or value. Context is added with withContext, never by catching and rethrowing by hand.
#pragma once

#include <stdexcept>
#include <string>

namespace kp::base {

enum class ErrorCode {
  kInvalidArgument,     // the caller passed something malformed
  kNotFound,            // a named session, object or device does not exist
  kFailedPrecondition,  // the object is in the wrong state (destroyed, running, ...)
  kResourceExhausted,   // out of device or host memory, or a limit reached
  kDeadlineExceeded,    // a wait ran out of time
  kDeviceLost,          // the device was lost, or kpd reset it (runaway work)
  kUnavailable,         // what the call needs cannot be had: no usable Vulkan driver, an
                        // address that cannot be bound, a call given up before its end
  kShuttingDown,        // kpd is shutting down and takes no new calls
  kUnauthenticated,     // the call lacks the credentials kpd requires
  kPermissionDenied,    // the caller is known but may not do this (an operator's call)
  kInternal,            // a Vulkan call failed unexpectedly
};

// "invalid argument", "not found", ...
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

// Runs `body` and returns what it returns. An Error it throws is thrown on with the same code
// and `context()` + ": " in front of its message, e.g. "ops[2]: tensor 7 was destroyed".
// `context` is only called on failure, so the success path builds no string.
template <typename Context, typename Body>
decltype(auto) withContext(Context&& context, Body&& body) {
  try {
    return body();
  } catch (const Error& error) {
    throw Error(error.code(), std::string(context()) + ": " + error.what());
  }
}

}  // namespace kp::base

// Throws Error(code, message) unless `condition` holds. A macro, so that the message (often
// built from strings and numbers) is only built when the check fails: checks run on every
// evaluation, and an evaluation allocates nothing in the steady state.
#define KP_REQUIRE(condition, code, message)               \
  do {                                                     \
    if (!(condition)) ::kp::base::fail((code), (message)); \
  } while (false)
