#include "server/service/transport/status.h"

#include <spdlog/spdlog.h>

#include <new>

#include "server/base/metrics.h"

namespace kp::service {
namespace {

// gRPC carries a status message in a header, which clients refuse beyond their metadata limit
// (8 KiB by default): a message that echoes a long value the client sent is cut to fit.
constexpr size_t kLongestMessage = 2048;

grpc::Status statusWithMessage(grpc::StatusCode code, std::string message) {
  if (message.size() > kLongestMessage) {
    const std::string note = "... (" + std::to_string(message.size()) + " bytes, cut)";
    message.resize(kLongestMessage - note.size());
    message += note;
  }
  return grpc::Status(code, message);
}

}  // namespace

grpc::StatusCode statusCodeOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case ErrorCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case ErrorCode::kDeviceLost:
    case ErrorCode::kUnavailable:
    case ErrorCode::kShuttingDown:
      return grpc::StatusCode::UNAVAILABLE;
    case ErrorCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    case ErrorCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case ErrorCode::kInternal:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

namespace {

grpc::Status mapCurrentException(const char* rpc, std::string* kind) {
  if (kind) kind->clear();
  try {
    throw;
  } catch (const base::Error& error) {
    if (kind && error.code() == ErrorCode::kDeviceLost) *kind = kDeviceLostKind;
    if (error.code() == ErrorCode::kInternal) {
      spdlog::error("{}: {}", rpc, error.what());
    } else if (error.code() == ErrorCode::kDeviceLost) {
      spdlog::warn("{}: {}", rpc, error.what());
    } else {
      spdlog::debug("{}: {}", rpc, error.what());
    }
    return statusWithMessage(statusCodeOf(error.code()), error.what());
  } catch (const std::bad_alloc&) {
    spdlog::error("{}: out of host memory", rpc);
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "the daemon is out of host memory");
  } catch (const std::exception& error) {
    spdlog::error("{}: unexpected error: {}", rpc, error.what());
    return statusWithMessage(grpc::StatusCode::INTERNAL,
                             std::string("internal error: ") + error.what());
  } catch (...) {
    spdlog::error("{}: unknown exception", rpc);
    return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
  }
}

}  // namespace

grpc::Status currentExceptionStatus(const char* rpc, std::string* kind) {
  grpc::Status status = mapCurrentException(rpc, kind);
  base::metrics().countError(status.error_code());
  return status;
}

}  // namespace kp::service
