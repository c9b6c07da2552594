// Replies charged to their session until sent (Session::holdReply): a client that stops
// reading holds no more of kpd's memory than its quota; once replies go, reading works again.
#include "service_fixture.h"

namespace kp::service::test {
namespace {

using base::ErrorCode;

class ReplyBudgetTest : public ServiceTest {
 protected:
  void SetUp() override {
    config_.sessionMemoryBytes = 20 << 20;  // 20 MiB of tensors, and of replies in flight
    ServiceTest::SetUp();
  }
};

TEST_F(ReplyBudgetTest, UnsentRepliesAreBoundedByTheQuota) {
  auto session = open();
  const uint64_t t = tensor(*session, std::vector<float>(1 << 20, 1.0f));  // 4 MiB
  std::vector<std::shared_ptr<void>> unsent;
  for (int i = 0; i < 2; ++i) {
    unsent.emplace_back();
    EXPECT_EQ(session->readTensor(t, &unsent.back()).size(), 4u << 20);
  }
  std::shared_ptr<void> third;
  expectError([&] { session->readTensor(t, &third); }, ErrorCode::kResourceExhausted,
              "ReadTensor: the session's replies not yet read by its client hold 16777216 bytes "
              "(16.0 MiB); 8388608 bytes (8.0 MiB) more would pass 20971520 bytes (20.0 MiB)");
  unsent.pop_back();  // a reply went out
  EXPECT_EQ(session->readTensor(t, &third).size(), 4u << 20);
  unsent.clear();
  third.reset();
  // The tokens may outlive the session.
  auto token = session->holdReply(1 << 20, "test");
  session.reset();
  token.reset();
}

TEST_F(ReplyBudgetTest, AReplyLargerThanTheQuotaAllowsPointsToStreams) {
  auto session = open();
  const uint64_t t = tensor(*session, std::vector<float>(3 << 20, 1.0f));  // 12 MiB, held twice
  expectError([&] { session->readTensor(t); }, ErrorCode::kResourceExhausted,
              "ReadTensor: a reply of 12582912 bytes (12.0 MiB) is held twice until sent "
              "(25165824 bytes (24.0 MiB)), more than the session's memory quota allows "
              "(20971520 bytes (20.0 MiB), --session-memory-bytes): read it in chunks "
              "(ReadTensorStream)");
  // Nothing stays charged: a smaller reply goes through.
  const uint64_t small = tensor(*session, std::vector<float>(1 << 20, 2.0f));
  EXPECT_EQ(session->readTensor(small).size(), 4u << 20);
}

}  // namespace
}  // namespace kp::service::test
