// The one place where failures become gRPC statuses. Every RPC handler runs inside
// `guarded`, which maps engine Errors to their status codes and anything unexpected to
// INTERNAL, so no exception ever leaves a handler.
#pragma once

#include <grpcpp/grpcpp.h>

#include <exception>
#include <string>

#include "server/base/error.h"

namespace kp::service {

using base::ErrorCode;

grpc::StatusCode statusCodeOf(ErrorCode code);

// Maps the exception currently being handled (call only inside a catch block). `kind`, if
// set, receives the value of the "kp-error" marker the error carries ("" for none): see
// kErrorKindKey.
grpc::Status currentExceptionStatus(const char* rpc, std::string* kind = nullptr);

// Trailing metadata key (gRPC) marking an error as a lost device, so that clients tell it from
// an unreachable daemon (both are UNAVAILABLE). Its only value so far: kDeviceLostKind. The
// local data socket carries it in LocalResponse.error_kind.
constexpr const char* kErrorKindKey = "kp-error";
constexpr const char* kDeviceLostKind = "device-lost";
// Trailing metadata key (gRPC) of an Apply that one of its actions failed: that action's index.
// The local data socket carries it (plus one) in LocalResponse.failed_action.
constexpr const char* kFailedActionKey = "kp-failed-action";

template <typename F>
grpc::Status guarded(const char* rpc, F&& body, std::string* kind = nullptr) {
  try {
    body();
    return grpc::Status::OK;
  } catch (...) {
    return currentExceptionStatus(rpc, kind);
  }
}

}  // namespace kp::service
