// Evaluations (session/evaluator.h): one round trip carries uploads in and downloads out; a
// refused evaluation changes nothing; the reply's size is checked before anything runs;
// downloads above the inline limit are left for streams; a wait is bounded and cancellable.
#include <chrono>

#include "service_fixture.h"

namespace kp::service::test {
namespace {

using base::ErrorCode;
using std::chrono::system_clock;

class EvaluatorTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    if (!registry_) return;
    session_ = open();
  }
  void TearDown() override {
    session_.reset();
    ServiceTest::TearDown();
  }

  v1::EvalResponse eval(const v1::EvalRequest& request,
                        const std::function<bool()>& cancelled = {}) {
    v1::EvalResponse response;
    session_->eval(request, &response, system_clock::time_point::max(), cancelled);
    return response;
  }

  std::shared_ptr<Session> session_;
};

v1::Op syncDevice(uint64_t tensor) {
  v1::Op op;
  op.mutable_tensor_sync_device()->add_tensors(tensor);
  return op;
}

v1::Op syncLocal(uint64_t tensor) {
  v1::Op op;
  op.mutable_tensor_sync_local()->add_tensors(tensor);
  return op;
}

v1::Op copy(uint64_t from, uint64_t to) {
  v1::Op op;
  op.mutable_tensor_copy()->add_tensors(from);
  op.mutable_tensor_copy()->add_tensors(to);
  return op;
}

TEST_F(EvaluatorTest, OneRoundTripUploadsRunsAndDownloads) {
  const uint64_t a = tensor(*session_, {0, 0, 0});
  const uint64_t b = tensor(*session_, {0, 0, 0});
  v1::EvalRequest request;
  *request.add_ops() = syncDevice(a);
  *request.add_ops() = copy(a, b);
  *request.add_ops() = syncLocal(b);
  v1::TensorData* upload = request.add_uploads();
  upload->set_tensor(a);
  upload->set_data(floatBytes({7, 8, 9}));
  const v1::EvalResponse response = eval(request);
  EXPECT_TRUE(response.finished());
  ASSERT_EQ(response.downloads_size(), 1) << "b once, though copied into and synced";
  EXPECT_EQ(response.downloads(0).tensor(), b);
  EXPECT_EQ(floats(response.downloads(0).data()), (std::vector<float>{7, 8, 9}));
}

TEST_F(EvaluatorTest, ARefusedEvaluationChangesNothing) {
  const uint64_t a = tensor(*session_, {1, 2, 3});
  const uint64_t gone = tensor(*session_, {0, 0, 0});
  const uint64_t sequence = session_->createSequence(v1::CreateSequenceRequest());
  v1::RecordSequenceRequest record;
  record.set_sequence(sequence);
  *record.add_ops() = copy(a, gone);
  session_->recordSequence(record);
  session_->destroyTensor(gone);
  // The sequence can no longer run: its uploads must not be written either.
  v1::EvalRequest request;
  request.set_sequence(sequence);
  v1::TensorData* upload = request.add_uploads();
  upload->set_tensor(a);
  upload->set_data(floatBytes({4, 5, 6}));
  expectError([&] { eval(request); }, ErrorCode::kFailedPrecondition, "sequence ");
  EXPECT_EQ(floats(session_->readTensor(a)), (std::vector<float>{1, 2, 3}));
}

TEST_F(EvaluatorTest, UploadsAreCheckedOneByOne) {
  const uint64_t a = tensor(*session_, {1, 2, 3});
  const uint64_t storage = tensor(*session_, {1}, v1::TENSOR_TYPE_STORAGE);
  v1::EvalRequest request;
  *request.add_ops() = syncDevice(a);
  request.add_uploads()->set_tensor(a);
  request.mutable_uploads(0)->set_data(floatBytes({1}));
  expectError([&] { eval(request); }, ErrorCode::kInvalidArgument,
              "uploads[0].data has 4 bytes; tensor " + std::to_string(a) + " has 12");
  request.mutable_uploads(0)->set_data(floatBytes({1, 2, 3}));
  *request.add_uploads() = request.uploads(0);
  expectError([&] { eval(request); }, ErrorCode::kInvalidArgument,
              "uploads[1].tensor: tensor " + std::to_string(a) + " appears more than once");
  request.mutable_uploads(1)->set_tensor(storage);
  expectError([&] { eval(request); }, ErrorCode::kInvalidArgument,
              "uploads[1].tensor: tensor " + std::to_string(storage) +
                  " is a storage tensor: it has no host data to upload");
  request.mutable_uploads(1)->set_tensor(12345);
  expectError([&] { eval(request); }, ErrorCode::kNotFound,
              "uploads[1].tensor: tensor 12345 does not exist in this session");
}

TEST_F(EvaluatorTest, AReplyTooLargeIsRefusedBeforeItRuns) {
  config_.maxMessageBytes = 1 << 20;
  const uint64_t big = tensor(*session_, std::vector<float>(300'000, 1.0f));  // 1.2 MB
  v1::EvalRequest request;
  *request.add_ops() = syncLocal(big);
  expectError([&] { eval(request); }, ErrorCode::kResourceExhausted,
              "the evaluation: its reply would carry 1200048 bytes (1.1 MiB) of downloads, more "
              "than a message may hold (--max-message-bytes 1048576)");
  // Above the inline limit, the download is left for ReadTensorStream instead.
  request.set_inline_download_limit(1 << 20);
  const v1::EvalResponse response = eval(request);
  EXPECT_EQ(response.downloads_size(), 0);
  ASSERT_EQ(response.pending_downloads_size(), 1);
  EXPECT_EQ(response.pending_downloads(0), big);
}

TEST_F(EvaluatorTest, AWaitEndsAtItsTimeoutAndTheSequenceCanBeAwaitedLater) {
  Gate gate(*session_);
  ASSERT_TRUE(gate.close());
  const uint64_t t = tensor(*session_, {1}, v1::TENSOR_TYPE_HOST);  // host: no set-up upload
  const uint64_t sequence = session_->createSequence(v1::CreateSequenceRequest());
  v1::EvalRequest request;
  request.set_sequence(sequence);
  request.set_record(true);
  *request.add_ops() = syncLocal(t);
  request.set_timeout_ms(50);
  expectError([&] { eval(request); }, ErrorCode::kDeadlineExceeded,
              "the evaluation did not finish within 50 ms; sequence " + std::to_string(sequence) +
                  " keeps running and can be awaited with EvalAwait");
  v1::EvalAwaitRequest await;
  await.set_sequence(sequence);
  await.set_timeout_ns(1000);
  v1::EvalResponse response;
  session_->evalAwait(await, &response);
  EXPECT_FALSE(response.finished()) << "the gate still holds it";
  gate.open();
  await.set_timeout_ns(60'000'000'000ull);
  session_->evalAwait(await, &response);
  EXPECT_TRUE(response.finished());
  EXPECT_TRUE(gate.held());
}

TEST_F(EvaluatorTest, ACancelledWaitEndsTheCall) {
  Gate gate(*session_);
  ASSERT_TRUE(gate.close());
  const uint64_t t = tensor(*session_, {1}, v1::TENSOR_TYPE_HOST);
  v1::EvalRequest request;
  *request.add_ops() = syncLocal(t);
  expectError([&] { eval(request, [] { return true; }); }, ErrorCode::kUnavailable,
              "the call was given up while its evaluation ran");
  gate.open();
}

TEST_F(EvaluatorTest, EvalAsyncNeedsASequenceAndNoTimeout) {
  v1::EvalRequest request;
  *request.add_ops() = syncLocal(tensor(*session_, {1}));
  expectError([&] { session_->evalAsync(request); }, ErrorCode::kInvalidArgument,
              "sequence: EvalAsync needs a sequence handle to await");
  request.set_timeout_ms(5);
  expectError([&] { session_->evalAsync(request); }, ErrorCode::kInvalidArgument,
              "timeout_ms applies to Eval only");
}

}  // namespace
}  // namespace kp::service::test
