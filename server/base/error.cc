#include "server/base/error.h"

namespace kp::base {

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kFailedPrecondition:
      return "failed precondition";
    case ErrorCode::kResourceExhausted:
      return "resource exhausted";
    case ErrorCode::kDeadlineExceeded:
      return "deadline exceeded";
    case ErrorCode::kDeviceLost:
      return "device lost";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kShuttingDown:
      return "shutting down";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kPermissionDenied:
      return "permission denied";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

}  // namespace kp::base
