// The request-validation table: every malformed request gets a precise status whose message
// names the field and value at fault. Each row is (description, request, expected status code,
// regex on the message), sent to the service in-process (validation_context.h). The rows live
// in one file per RPC family (*_validation_test.cc), each instantiating ValidationRow; the
// checks over the whole table are in validation_test.cc.
//
// tests/e2e/test_validation.py sends a smoke subset of these rows to a real kpd over gRPC.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "validation_context.h"

namespace kp::service::test::validation {

struct Row {
  std::string description;
  std::function<grpc::Status(ValidationContext&)> send;
  grpc::StatusCode code;
  std::string message;  // regex (ECMAScript) searched in the status message
};

constexpr grpc::StatusCode kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
constexpr grpc::StatusCode kNotFound = grpc::StatusCode::NOT_FOUND;
constexpr grpc::StatusCode kPrecondition = grpc::StatusCode::FAILED_PRECONDITION;
constexpr grpc::StatusCode kExhausted = grpc::StatusCode::RESOURCE_EXHAUSTED;

// The rows of each family.
std::vector<Row> sessionRows();     // sessions, OpenSession
std::vector<Row> tensorRows();      // CreateTensor, DestroyTensor, ReadTensor, WriteTensor
std::vector<Row> shaderRows();      // CreateAlgorithm's shader, CompileShader
std::vector<Row> algorithmRows();   // CreateAlgorithm's tensors, workgroup and constants
std::vector<Row> sequenceRows();    // CreateSequence, DestroySequence, RecordSequence's ops
std::vector<Row> evaluationRows();  // Eval, EvalAsync, EvalAwait, objects of a running one
// All of them, in that order.
std::vector<Row> allRows();

// "OK", "INVALID_ARGUMENT", ...
std::string codeName(grpc::StatusCode code);
// "" if `status` has `row`'s code and its message matches; else what is wrong.
std::string mismatch(const Row& row, const grpc::Status& status);
// The row's description as a test name: "tensor of size zero" -> "TensorOfSizeZero".
std::string rowName(const ::testing::TestParamInfo<Row>& info);
// Names the row in gtest's messages.
void PrintTo(const Row& row, std::ostream* out);

// One row of the table, as its own test case. The rows of a family share one context, as the
// rows of the Python table shared one: a refused request changes nothing (validation_test.cc
// checks that).
class ValidationRow : public ::testing::TestWithParam<Row> {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  void SetUp() override;
  ValidationContext& context() { return *context_; }

 private:
  static std::unique_ptr<ValidationContext> context_;
  static std::string setUpError_;
};

}  // namespace kp::service::test::validation
