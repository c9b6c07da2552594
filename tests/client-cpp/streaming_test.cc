// Large host copies over the socket path (no shared memory): beyond 1 MiB they travel as
// chunked WriteTensorStream/ReadTensorStream calls around the evaluation, in both directions,
// so that no message comes near a size limit.
#include <gtest/gtest.h>

#include <numeric>

#include "kp/kp.hpp"
#include "kpd_process.h"
#include "client-cpp/src/tensor_stream.h"

namespace kp::test {
namespace {

class StreamingTest : public ::testing::Test {
 protected:
  // A small message limit: anything that did not stream would be refused.
  virtual const char* messageLimit() const { return "4194304"; }

  void SetUp() override {
    kpd_ = std::make_unique<KpdProcess>(
        std::vector<std::string>{"--max-message-bytes", messageLimit()});
    ASSERT_TRUE(kpd_->ready()) << kpd_->log();
    mgr_ = std::make_unique<Manager>(managerOptions(kpd_->address(), false));
    ASSERT_FALSE(mgr_->sharedMemory());
  }
  void TearDown() override {
    mgr_.reset();
    if (HasFailure()) std::cerr << "---- kpd log ----\n" << kpd_->log();
  }

  Manager& mgr() { return *mgr_; }

  std::unique_ptr<KpdProcess> kpd_;
  std::unique_ptr<Manager> mgr_;
};

class StreamingSizeTest : public StreamingTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(StreamingSizeTest, RoundTrip) {
  const size_t n = GetParam();
  std::vector<float> values(n);
  std::iota(values.begin(), values.end(), 0.0f);
  auto a = mgr().tensor(values);  // created from the data: streamed and synced when large
  auto b = mgr().tensor(std::vector<float>(n, 0.0f));
  mgr().sequence()->record<OpTensorCopy>({a, b})->record<OpTensorSyncLocal>({b})->eval();
  EXPECT_TRUE(b->vector() == values);
  for (size_t i = 0; i < n; ++i) a->data()[i] = -values[i];
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({a})
      ->record<OpTensorCopy>({a, b})
      ->record<OpTensorSyncLocal>({b})
      ->eval();
  EXPECT_EQ(b->data()[n - 1], -values[n - 1]);
  EXPECT_TRUE(std::equal(a->data(), a->data() + n, b->data()));
}

INSTANTIATE_TEST_SUITE_P(
    Elements, StreamingSizeTest,
    ::testing::Values(detail::kStreamThreshold / 4,           // the largest inline tensor
                      detail::kStreamThreshold / 4 + 1,       // the smallest streamed one
                      5 * detail::kStreamChunkBytes / 4 + 3,  // chunks, and a partial one
                      size_t{16} * 1024 * 1024));             // 64 MiB

TEST_F(StreamingTest, BoolAndDouble) {
  std::vector<bool> flags(600'000);
  for (size_t i = 0; i < flags.size(); ++i) flags[i] = (i * 31) % 7 < 3;
  auto f = mgr().tensorT<bool>(flags);
  auto g = mgr().tensorT<bool>(std::vector<bool>(flags.size(), false));
  mgr().sequence()->record<OpTensorCopy>({f, g})->record<OpTensorSyncLocal>({g})->eval();
  EXPECT_TRUE(g->vector() == flags);

  std::vector<double> doubles(300'000);
  for (size_t i = 0; i < doubles.size(); ++i) doubles[i] = static_cast<double>(i) / 3.0;
  auto d = mgr().tensorT<double>(std::vector<double>(doubles.size(), 0.0));
  d->setData(doubles);
  mgr().sequence()->record<OpTensorSyncDevice>({d})->record<OpTensorSyncLocal>({d})->eval();
  d->setData(std::vector<double>(doubles.size(), 0.0));
  mgr().sequence()->eval<OpTensorSyncLocal>({d});
  EXPECT_TRUE(d->vector() == doubles);
}

TEST_F(StreamingTest, AsyncAndAwait) {
  const size_t n = 2'000'000;
  std::vector<float> values(n);
  std::iota(values.begin(), values.end(), 1.0f);
  auto a = mgr().tensor(values);
  auto b = mgr().tensor(std::vector<float>(n, 0.0f));
  auto seq = mgr().sequence()->record<OpTensorCopy>({a, b})->record<OpTensorSyncLocal>({b});
  seq->evalAsync()->evalAwait();
  EXPECT_TRUE(b->vector() == values);
}

TEST_F(StreamingTest, StorageTensorWithLargeInitialData) {
  // A storage tensor has no host copy in the daemon: its data goes through a temporary one.
  const size_t n = 1'000'000;
  std::vector<float> values(n);
  std::iota(values.begin(), values.end(), 2.0f);
  const uint64_t objects = mgr().daemonStatus().objects;
  auto s = mgr().tensor(values, Tensor::TensorTypes::eStorage);
  EXPECT_EQ(mgr().daemonStatus().objects, objects + 1);  // the temporary one is gone
  auto out = mgr().tensor(std::vector<float>(n, 0.0f));
  mgr().sequence()->record<OpTensorCopy>({s, out})->record<OpTensorSyncLocal>({out})->eval();
  EXPECT_TRUE(out->vector() == values);
}

TEST_F(StreamingTest, DestroyedLargeTensorIsRefusedBeforeStreaming) {
  auto a = mgr().tensor(std::vector<float>(500'000, 1.0f));
  auto seq = mgr().sequence()->record<OpTensorSyncDevice>({a});
  seq->eval();
  a->destroy();
  EXPECT_THROW(seq->eval(), FailedPreconditionError);
}

// The smallest message limit a daemon accepts (1 MiB): chunks and inline data shrink to fit.
class StreamingSmallestLimitTest : public StreamingTest {
 protected:
  const char* messageLimit() const override { return "1048576"; }
};

TEST_F(StreamingSmallestLimitTest, EverythingFits) {
  const size_t n = detail::kStreamThreshold / 4;  // 1 MiB: inline elsewhere, streamed here
  std::vector<float> values(n);
  std::iota(values.begin(), values.end(), 0.0f);
  auto a = mgr().tensor(values);
  auto b = mgr().tensor(std::vector<float>(n, 0.0f));
  mgr().sequence()->record<OpTensorCopy>({a, b})->record<OpTensorSyncLocal>({b})->eval();
  EXPECT_TRUE(b->vector() == values);
  // Three uploads of 400 KB each: together too large for one request, so some are streamed.
  std::vector<std::shared_ptr<Tensor>> parts;
  std::vector<std::shared_ptr<Tensor>> outs;
  for (int i = 0; i < 3; ++i) {
    parts.push_back(mgr().tensor(std::vector<float>(100'000, 0.0f)));
    outs.push_back(mgr().tensor(std::vector<float>(100'000, 0.0f)));
  }
  // (Downloads stay within one reply here: kpd refuses a reply beyond its limit.)
  auto seq = mgr().sequence()->record<OpTensorSyncDevice>(parts);
  for (int i = 0; i < 2; ++i) seq->record<OpTensorCopy>({parts[i], outs[i]});
  for (int i = 0; i < 3; ++i) {
    parts[i]->setData(std::vector<float>(100'000, static_cast<float>(i + 1)));
  }
  seq->eval();
  EXPECT_EQ(outs[0]->vector<float>(), std::vector<float>(100'000, 1.0f));
  EXPECT_EQ(outs[1]->vector<float>(), std::vector<float>(100'000, 2.0f));
  mgr().sequence()->eval<OpTensorCopy>({parts[2], outs[2]});
  EXPECT_EQ(outs[2]->vector<float>(), std::vector<float>(100'000, 3.0f));
}

}  // namespace
}  // namespace kp::test
