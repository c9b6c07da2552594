// Frames of the local data socket (white-box): a request serialized once, straight into the
// frame, is the frame of the LocalRequest holding it.
#include <gtest/gtest.h>

#include <cstring>

#include "kp/v1/local.pb.h"
#include "client-cpp/src/local/local_frame.h"

namespace kp::test {
namespace {

uint32_t frameLength(const std::string& frame) {
  uint32_t length = 0;
  std::memcpy(&length, frame.data(), sizeof(length));
  return length;
}

TEST(LocalFrame, RequestSerializedStraightIntoTheFrame) {
  v1::EvalRequest eval;
  eval.set_sequence(7);
  eval.set_record(true);
  eval.add_ops()->mutable_tensor_sync_local()->add_tensors(3);
  eval.add_uploads()->set_data(std::string(300, 'x'));  // a length that needs two varint bytes
  std::string frame = "stale bytes of an earlier, longer frame that must not remain";
  detail::writeLocalFrame(v1::LocalRequest::kEvalFieldNumber, eval, &frame);
  ASSERT_EQ(frameLength(frame) + 4u, frame.size());
  v1::LocalRequest parsed;
  ASSERT_TRUE(parsed.ParseFromArray(frame.data() + 4, static_cast<int>(frame.size() - 4)));
  ASSERT_TRUE(parsed.has_eval());
  EXPECT_EQ(parsed.eval().SerializeAsString(), eval.SerializeAsString());

  v1::LocalRequest built;
  *built.mutable_eval() = eval;
  std::string whole;
  detail::writeLocalFrame(built, &whole);
  EXPECT_EQ(frame, whole);
}

TEST(LocalFrame, EachRequestKindHasItsField) {
  v1::EvalAwaitRequest await;
  await.set_sequence(2);
  await.set_timeout_ns(5);
  std::string frame;
  detail::writeLocalFrame(v1::LocalRequest::kEvalAwaitFieldNumber, await, &frame);
  v1::LocalRequest parsed;
  ASSERT_TRUE(parsed.ParseFromArray(frame.data() + 4, static_cast<int>(frame.size() - 4)));
  EXPECT_TRUE(parsed.has_eval_await());
  EXPECT_EQ(parsed.eval_await().timeout_ns(), 5u);

  v1::EvalRequest empty;
  detail::writeLocalFrame(v1::LocalRequest::kEvalAsyncFieldNumber, empty, &frame);
  ASSERT_EQ(frame.size(), 6u);  // length, tag, zero length
  ASSERT_TRUE(parsed.ParseFromArray(frame.data() + 4, 2));
  EXPECT_TRUE(parsed.has_eval_async());
}

}  // namespace
}  // namespace kp::test
