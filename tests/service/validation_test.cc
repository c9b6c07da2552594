// The request-validation table (validation_table.h): each row as its own test case, and the
// checks over the whole table: it is large enough, its requests changed nothing, and the edge
// cases next to its rows are accepted.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "validation_table.h"

namespace kp::service::test::validation {

std::vector<Row> allRows() {
  std::vector<Row> rows;
  for (auto family :
       {sessionRows, tensorRows, shaderRows, algorithmRows, sequenceRows, evaluationRows}) {
    std::vector<Row> more = family();
    rows.insert(rows.end(), more.begin(), more.end());
  }
  return rows;
}

std::string codeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "status code " + std::to_string(static_cast<int>(code));
  }
}

std::string mismatch(const Row& row, const grpc::Status& status) {
  std::string wrong;
  if (status.error_code() != row.code) {
    wrong = row.description + ": " + codeName(status.error_code()) + " \"" +
            status.error_message() + "\", expected " + codeName(row.code);
  } else if (!std::regex_search(status.error_message(), std::regex(row.message))) {
    wrong = row.description + ": \"" + status.error_message() + "\" does not match \"" +
            row.message + "\"";
  }
  return wrong;
}

std::string rowName(const ::testing::TestParamInfo<Row>& info) {
  // Words of letters and digits, capitalised and joined ("session's" is one word); "_"
  // between two numbers.
  std::string name;
  bool wordStart = true;
  for (const char ch : info.param.description) {
    const auto byte = static_cast<unsigned char>(ch);
    if (ch == '\'') continue;
    if (!std::isalnum(byte)) {
      wordStart = true;
      continue;
    }
    if (wordStart && !name.empty() && std::isdigit(byte) &&
        std::isdigit(static_cast<unsigned char>(name.back()))) {
      name += '_';
    }
    name += wordStart ? static_cast<char>(std::toupper(byte)) : ch;
    wordStart = false;
  }
  return name;
}

void PrintTo(const Row& row, std::ostream* out) {
  *out << '"' << row.description << '"';
}

// ---- each row ----

std::unique_ptr<ValidationContext> ValidationRow::context_;
std::string ValidationRow::setUpError_;

void ValidationRow::SetUpTestSuite() {
  setUpError_.clear();
  try {
    context_ = std::make_unique<ValidationContext>();
  } catch (const std::exception& error) {
    setUpError_ = error.what();
  }
}

void ValidationRow::TearDownTestSuite() {
  context_.reset();
}

void ValidationRow::SetUp() {
  ASSERT_TRUE(setUpError_.empty()) << setUpError_;
  if (context_->deviceCount() == 0) GTEST_SKIP() << "no Vulkan device";
}

TEST_P(ValidationRow, IsRefused) {
  const Row& row = GetParam();
  const grpc::Status status = row.send(context());
  if (const std::string wrong = mismatch(row, status); !wrong.empty()) ADD_FAILURE() << wrong;
}

// ---- the whole table ----

namespace {

uint64_t allocatedBytes(const v1::GetStatusResponse& status) {
  uint64_t bytes = 0;
  for (const auto& memory : status.device_memory()) bytes += memory.allocated_bytes();
  return bytes;
}

// Awaits the context's running sequence: it finishes with busy = [3 0 0].
void expectBusySequenceCompletes(ValidationContext& c) {
  v1::EvalResponse reply;
  const grpc::Status status = c.evalAwait(c.busySequence, 30'000'000'000ull, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(reply.finished());
  ASSERT_EQ(reply.downloads_size(), 1);
  EXPECT_EQ(reply.downloads(0).tensor(), c.busy);
  EXPECT_EQ(floats(reply.downloads(0).data()), (std::vector<float>{3, 0, 0}));
}

}  // namespace

TEST(ValidationTable, IsLargeEnough) {
  const std::vector<Row> rows = allRows();
  EXPECT_GE(rows.size(), 108u);  // as many as the Python table had
  std::set<std::string> descriptions, names;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(descriptions.insert(rows[i].description).second)
        << "descriptions must be unique: " << rows[i].description;
    EXPECT_TRUE(names.insert(rowName({rows[i], i})).second)
        << "test names must be unique: " << rowName({rows[i], i});
    EXPECT_NO_THROW(std::regex(rows[i].message)) << rows[i].description;
  }
}

// Every row sent in one context, in turn: each is refused as its row says, the objects they
// aimed at still work (a valid evaluation of them is right), and the daemon's counts are back.
TEST(ValidationTable, RejectedRequestsChangedNothing) {
  ValidationContext c;
  if (c.deviceCount() == 0) GTEST_SKIP() << "no Vulkan device";
  const v1::GetStatusResponse before = c.status();
  for (const Row& row : allRows()) {
    if (const std::string wrong = mismatch(row, row.send(c)); !wrong.empty()) {
      ADD_FAILURE() << wrong;
    }
  }
  const v1::GetStatusResponse after = c.status();
  EXPECT_EQ(after.sessions(), before.sessions());
  EXPECT_EQ(after.objects(), before.objects());
  EXPECT_EQ(allocatedBytes(after), allocatedBytes(before));

  // A refused evaluation uploads nothing.
  grpc::Status status =
      c.eval({.sequence = c.staleSequence, .uploads = {upload(c.b, f32({0, 0, 0}))}});
  EXPECT_EQ(status.error_code(), kPrecondition) << status.error_message();
  std::string data;
  ASSERT_TRUE(c.readTensor(c.b, &data).ok());
  EXPECT_EQ(floats(data), (std::vector<float>{4, 5, 6}));

  // The sequence the rows found running completes, untouched by them.
  ASSERT_NO_FATAL_FAILURE(expectBusySequenceCompletes(c));

  // A valid evaluation of the objects the rows aimed at is right.
  ASSERT_TRUE(c.writeTensor(c.a, f32({1, 2, 3})).ok());
  v1::EvalResponse reply;
  status = c.eval(
      {.record = true, .ops = {syncDevice({c.a, c.b}), mult({c.a, c.b, c.c}), syncLocal({c.c})}},
      &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(reply.downloads_size(), 1);
  EXPECT_EQ(reply.downloads(0).tensor(), c.c);
  EXPECT_EQ(floats(reply.downloads(0).data()), (std::vector<float>{4, 10, 18}));
}

// Edge cases that are not errors: awaiting a sequence never evaluated, a lease above the
// maximum (lowered to it), an upload of a tensor that no op syncs.
TEST(ValidationTable, AcceptedEdgeCases) {
  ValidationContext c;
  if (c.deviceCount() == 0) GTEST_SKIP() << "no Vulkan device";
  v1::EvalResponse reply;
  grpc::Status status = c.evalAwait(c.neverEvaluated, 0, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(reply.finished());
  EXPECT_EQ(reply.downloads_size(), 0);
  EXPECT_EQ(reply.timestamps_size(), 0);

  // The sequence left running completes.
  ASSERT_NO_FATAL_FAILURE(expectBusySequenceCompletes(c));

  v1::OpenSessionRequest open;
  open.set_lease_seconds(0xFFFF'FFFFu);
  v1::SessionOpened opened;
  status = c.openSession(open, &opened);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(opened.lease_seconds(), 7u * 24 * 3600);

  status = c.eval({.ops = {syncLocal({c.b})}, .uploads = {upload(c.a, f32({7, 8, 9}))}}, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(reply.finished());
  std::string data;
  ASSERT_TRUE(c.readTensor(c.a, &data).ok());
  EXPECT_EQ(floats(data), (std::vector<float>{7, 8, 9}));
}

}  // namespace kp::service::test::validation
