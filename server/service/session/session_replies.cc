// Session's reply charges (Session::holdReply): replies built and not yet sent count against
// the session's memory quota, so a client that stops reading holds no more than it may.
#include "server/service/session/session.h"

#include "server/base/error.h"
#include "server/service/session/objects.h"

namespace kp::service {

using base::ErrorCode;

std::shared_ptr<void> Session::holdReply(uint64_t bytes, const std::string& what) {
  if (bytes < kUnchargedReplyBytes) return nullptr;
  const uint64_t charge = kReplyCopies * bytes;
  KP_REQUIRE(charge <= replyBudget_, ErrorCode::kResourceExhausted,
             what + ": a reply of " + describeBytes(bytes) + " is held twice until sent (" +
                 describeBytes(charge) + "), more than the session's memory quota allows (" +
                 describeBytes(replyBudget_) +
                 ", --session-memory-bytes): read it in chunks (ReadTensorStream)");
  uint64_t held = repliesInFlight_->load();
  do {
    KP_REQUIRE(held <= replyBudget_ - charge, ErrorCode::kResourceExhausted,
               what + ": the session's replies not yet read by its client hold " +
                   describeBytes(held) + "; " + describeBytes(charge) + " more would pass " +
                   describeBytes(replyBudget_) +
                   " (its memory quota, --session-memory-bytes): read the replies first");
  } while (!repliesInFlight_->compare_exchange_weak(held, held + charge));
  // The token points at the counter it decrements (any non-null pointer would do: null means
  // "nothing charged").
  return std::shared_ptr<void>(repliesInFlight_.get(), [counter = repliesInFlight_, charge](void*) {
    counter->fetch_sub(charge);
  });
}

}  // namespace kp::service
