// kp::Error: the exceptions of the kp client, one class per kind of failure.
#pragma once

#include <stdexcept>
#include <string>

namespace kp {

/// A gRPC status code. The values are those of grpc::StatusCode (and of every gRPC
/// implementation), so `static_cast<int>(code)` can be compared with them.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

/// The name of a status code as gRPC spells it, e.g. "INVALID_ARGUMENT".
const char* statusCodeName(StatusCode code) noexcept;

/// An error reported by kpd, or by the client on its behalf. It derives from
/// std::runtime_error, so code written for in-process Kompute (which threw runtime_error)
/// still catches it. `what()` is the daemon's message, which names the offending field and
/// value. Errors of a known kind are thrown as the subclasses below.
class Error : public std::runtime_error {
 public:
  Error(StatusCode code, const std::string& message);

  /// The gRPC status code of the failure.
  StatusCode code() const noexcept { return code_; }

 private:
  StatusCode code_;
};

/// The request was malformed: a bad size, type, shader, constant or op (INVALID_ARGUMENT,
/// OUT_OF_RANGE).
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

/// An unknown handle or session, for example an object of another Manager (NOT_FOUND).
class NotFoundError : public Error {
 public:
  using Error::Error;
};

/// The object is in the wrong state: destroyed, or its sequence is still running
/// (FAILED_PRECONDITION).
class FailedPreconditionError : public Error {
 public:
  using Error::Error;
};

/// Out of device or host memory, or a daemon limit was reached (RESOURCE_EXHAUSTED).
class ResourceExhaustedError : public Error {
 public:
  using Error::Error;
};

/// An evaluation did not finish in time; its sequence keeps running and can be awaited
/// (DEADLINE_EXCEEDED).
class DeadlineExceededError : public Error {
 public:
  using Error::Error;
};

/// The daemon cannot be reached: not running, wrong address, or it went away (UNAVAILABLE,
/// CANCELLED). The message names the address.
class UnavailableError : public Error {
 public:
  using Error::Error;
};

/// kpd refused the caller: its bearer token is missing or wrong (UNAUTHENTICATED). See
/// ManagerOptions::token and $KP_TOKEN. The message is kpd's, saying which.
class UnauthenticatedError : public Error {
 public:
  using Error::Error;
};

/// kpd knows the caller, who may not do this (PERMISSION_DENIED).
class PermissionDeniedError : public Error {
 public:
  using Error::Error;
};

/// An unexpected failure inside the daemon (INTERNAL).
class InternalError : public Error {
 public:
  using Error::Error;
};

/// Throws the Error subclass that matches `code` (kp::Error itself for other codes).
[[noreturn]] void throwError(StatusCode code, const std::string& message);

}  // namespace kp
