#include "kp/error.hpp"

namespace kp {

const char* statusCodeName(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kCancelled:
      return "CANCELLED";
    case StatusCode::kUnknown:
      return "UNKNOWN";
    case StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case StatusCode::kNotFound:
      return "NOT_FOUND";
    case StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case StatusCode::kAborted:
      return "ABORTED";
    case StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case StatusCode::kInternal:
      return "INTERNAL";
    case StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case StatusCode::kDataLoss:
      return "DATA_LOSS";
    case StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

Error::Error(StatusCode code, const std::string& message)
    : std::runtime_error(message), code_(code) {}

void throwError(StatusCode code, const std::string& message) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      throw InvalidArgumentError(code, message);
    case StatusCode::kNotFound:
      throw NotFoundError(code, message);
    case StatusCode::kFailedPrecondition:
      throw FailedPreconditionError(code, message);
    case StatusCode::kResourceExhausted:
      throw ResourceExhaustedError(code, message);
    case StatusCode::kDeadlineExceeded:
      throw DeadlineExceededError(code, message);
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
      throw UnavailableError(code, message);
    case StatusCode::kUnauthenticated:
      throw UnauthenticatedError(code, message);
    case StatusCode::kPermissionDenied:
      throw PermissionDeniedError(code, message);
    case StatusCode::kInternal:
      throw InternalError(code, message);
    default:
      throw Error(code, message);
  }
}

}  // namespace kp
