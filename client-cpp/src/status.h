// gRPC statuses -> kp exceptions: the one place where the client maps status codes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

namespace kp::detail {

/// Throws the kp::Error subclass matching `status` (which must not be OK). UNAVAILABLE and
/// CANCELLED say "cannot reach kpd at <address>: ..."; a NOT_FOUND after the session ended
/// adds why it ended (`closedReason`, when not empty).
[[noreturn]] void throwStatus(const grpc::Status& status, const std::string& address,
                              const std::string& closedReason);

}  // namespace kp::detail
