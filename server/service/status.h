// The one place where failures become gRPC statuses. Every RPC handler runs inside
// `guarded`, which maps engine Errors to their status codes and anything unexpected to
// INTERNAL, so no exception ever leaves a handler.
#pragma once

#include <grpcpp/grpcpp.h>

#include <exception>
#include <string>

#include "error.h"

namespace kp::service {

using engine::ErrorCode;

grpc::StatusCode statusCodeOf(ErrorCode code);

// Maps the exception currently being handled (call only inside a catch block).
grpc::Status currentExceptionStatus(const char* rpc);

template <typename F>
grpc::Status guarded(const char* rpc, F&& body) {
  try {
    body();
    return grpc::Status::OK;
  } catch (...) {
    return currentExceptionStatus(rpc);
  }
}

}  // namespace kp::service
