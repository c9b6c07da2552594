// kp::Error and its subclasses: one per status code kind, all std::runtime_errors; and the
// mapping of gRPC statuses to them.
#include <gtest/gtest.h>

#include <stdexcept>

#include "client-cpp/src/status.h"
#include "kp/error.hpp"

namespace kp {
namespace {

template <typename Expected>
void expectThrownAs(StatusCode code) {
  try {
    throwError(code, "message");
    FAIL() << "nothing thrown";
  } catch (const Expected& error) {
    EXPECT_EQ(error.code(), code);
    EXPECT_STREQ(error.what(), "message");
  }
}

TEST(Error, EachCodeHasItsClass) {
  expectThrownAs<InvalidArgumentError>(StatusCode::kInvalidArgument);
  expectThrownAs<InvalidArgumentError>(StatusCode::kOutOfRange);
  expectThrownAs<NotFoundError>(StatusCode::kNotFound);
  expectThrownAs<FailedPreconditionError>(StatusCode::kFailedPrecondition);
  expectThrownAs<ResourceExhaustedError>(StatusCode::kResourceExhausted);
  expectThrownAs<DeadlineExceededError>(StatusCode::kDeadlineExceeded);
  expectThrownAs<UnavailableError>(StatusCode::kUnavailable);
  expectThrownAs<UnavailableError>(StatusCode::kCancelled);
  expectThrownAs<InternalError>(StatusCode::kInternal);
  expectThrownAs<UnauthenticatedError>(StatusCode::kUnauthenticated);
  expectThrownAs<PermissionDeniedError>(StatusCode::kPermissionDenied);
  expectThrownAs<Error>(StatusCode::kUnimplemented);
}

TEST(Error, IsARuntimeError) {
  try {
    throwError(StatusCode::kNotFound, "tensor 7 does not exist");
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "tensor 7 does not exist");
    return;
  }
  FAIL() << "not a std::runtime_error";
}

TEST(Error, CodeValuesAreGrpcs) {
  EXPECT_EQ(static_cast<int>(StatusCode::kInvalidArgument),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(static_cast<int>(StatusCode::kUnavailable),
            static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  EXPECT_EQ(static_cast<int>(StatusCode::kUnauthenticated),
            static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_STREQ(statusCodeName(StatusCode::kFailedPrecondition), "FAILED_PRECONDITION");
}

TEST(Error, UnavailableStatusNamesTheAddress) {
  try {
    detail::throwStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"),
                        "unix:/tmp/x.sock", "");
    FAIL() << "nothing thrown";
  } catch (const UnavailableError& error) {
    EXPECT_STREQ(error.what(), "cannot reach kpd at unix:/tmp/x.sock: connection refused");
  }
}

TEST(Error, NotFoundAfterSessionEndSaysWhy) {
  try {
    detail::throwStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "session abc does not exist"),
                        "unix:/tmp/x.sock", "idle for 1 s");
    FAIL() << "nothing thrown";
  } catch (const NotFoundError& error) {
    EXPECT_STREQ(error.what(), "session abc does not exist (the session ended: idle for 1 s)");
  }
}

}  // namespace
}  // namespace kp
