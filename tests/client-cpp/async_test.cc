// evalAsync / evalAwait, including a timeout that leaves the sequence awaitable; timestamps.
#include <gtest/gtest.h>

#include <algorithm>

#include <string>

#include "gate.h"
#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

// Busy work: every invocation steps a generator push.iterations times (lavapipe caps any
// loop at 65535 iterations, so long work comes from many invocations, not long loops).
const char* const kSlow = R"(
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer A { uint a[]; };
layout(push_constant) uniform Push { uint iterations; } push;
void main() {
    uint x = gl_GlobalInvocationID.x;
    for (uint i = 0; i < push.iterations; ++i) { x = x * 1664525u + 1013904223u + (x >> 13); }
    atomicAdd(a[0], x & 1u);
    if (gl_GlobalInvocationID.x == 0) { a[1] = 42u; }
}
)";

class AsyncTest : public KpdTest {
 protected:
  // 6400 invocations of 50000 steps: about 0.3 s on lavapipe with 2 cores.
  std::shared_ptr<Sequence> slowSequence(std::shared_ptr<TensorT<uint32_t>>& tensor) {
    tensor = mgr().tensorT<uint32_t>({0, 0});
    auto algo = mgr().algorithm<float, uint32_t>({tensor}, kSlow, {100, 1, 1}, {}, {50000});
    return mgr()
        .sequence()
        ->record<OpTensorSyncDevice>({tensor})
        ->record<OpAlgoDispatch>(algo)
        ->record<OpTensorSyncLocal>({tensor});
  }
};

TEST_F(AsyncTest, EvalAsyncThenAwait) {
  auto lhs = mgr().tensor({1, 2, 3});
  auto rhs = mgr().tensor({4, 5, 6});
  auto out = mgr().tensor({0, 0, 0});
  auto seq = mgr()
                 .sequence()
                 ->record<OpTensorSyncDevice>({lhs, rhs})
                 ->record<OpMult>({lhs, rhs, out}, mgr().algorithm())
                 ->record<OpTensorSyncLocal>({out});
  EXPECT_EQ(seq->evalAsync(), seq);
  EXPECT_TRUE(seq->isRunning());
  EXPECT_EQ(seq->evalAwait(), seq);
  EXPECT_FALSE(seq->isRunning());
  EXPECT_EQ(out->vector(), std::vector<float>({4, 10, 18}));
  seq->evalAwait();  // not running: nothing to do
  seq->evalAwait(10);
  EXPECT_FALSE(seq->isRunning());
}

TEST_F(AsyncTest, EvalAsyncWithOp) {
  auto a = mgr().tensor({7, 8, 9});
  auto b = mgr().tensor({0, 0, 0});
  auto seq = mgr().sequence();
  seq->evalAsync<OpTensorCopy>({a, b});
  seq->evalAwait();
  EXPECT_EQ(b->vector(), std::vector<float>({7, 8, 9}));
}

TEST_F(AsyncTest, EvalAsyncIsAsynchronous) {
  std::shared_ptr<TensorT<uint32_t>> t;
  auto seq = slowSequence(t);  // before the gate closes: a new tensor's upload would wait too
  Gate gate(kpd_->address());
  ASSERT_TRUE(gate.close());
  seq->evalAsync();  // returns while the gate holds the queue: had it waited, the gate would
  gate.open();       // have given up before this line, and nothing would have seen it open
  seq->evalAwait();
  EXPECT_TRUE(gate.held()) << "evalAsync waited for the evaluation";
  EXPECT_EQ(t->vector()[1], 42u);
}

TEST_F(AsyncTest, ATimedOutAwaitEndsTheWaitAsInKompute) {
  for (const char* next : {"evalAsync", "eval", "record"}) {
    std::shared_ptr<TensorT<uint32_t>> t;
    auto seq = slowSequence(t);  // before the gate closes: a new tensor's upload would wait
    Gate gate(kpd_->address());
    ASSERT_TRUE(gate.close());
    seq->evalAsync();
    seq->evalAwait(1000);  // 1 µs: the gate holds the work
    // Kompute: not running after a timed-out await; it can be evaluated again at once. kpd
    // kept the work running: the next use waits for it.
    EXPECT_FALSE(seq->isRunning()) << next;
    EXPECT_EQ(t->vector()[1], 0u) << next;
    gate.open();
    if (std::string(next) == "evalAsync") {
      seq->evalAsync();
      EXPECT_TRUE(seq->isRunning());
      seq->evalAwait();
    } else if (std::string(next) == "eval") {
      seq->eval();
    } else {
      seq->record<OpTensorSyncLocal>({t})->eval();
    }
    EXPECT_FALSE(seq->isRunning()) << next;
    EXPECT_EQ(t->vector()[1], 42u) << next;
    EXPECT_TRUE(gate.held()) << next << ": the timed-out await waited for the evaluation";
  }
}

TEST_F(AsyncTest, TwoSequencesInFlight) {
  std::shared_ptr<TensorT<uint32_t>> first, second;
  auto a = slowSequence(first);
  auto b = slowSequence(second);
  a->evalAsync();
  b->evalAsync();
  EXPECT_TRUE(a->isRunning() && b->isRunning());
  b->evalAwait();
  a->evalAwait();
  EXPECT_EQ(first->vector()[1], 42u);
  EXPECT_EQ(second->vector()[1], 42u);
  EXPECT_EQ(first->vector()[0], second->vector()[0]);  // the same work
}

TEST_F(AsyncTest, Timestamps) {
  auto t = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({t}, kIncrementGlsl);
  auto seq = mgr().sequence(0, 100);
  seq->record<OpTensorSyncDevice>({t})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpAlgoDispatch>(algo)
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>({t})
      ->eval();
  const std::vector<uint64_t> stamps = seq->getTimestamps();
  EXPECT_EQ(stamps.size(), 6u);
  EXPECT_TRUE(std::is_sorted(stamps.begin(), stamps.end()));
  EXPECT_EQ(t->vector(), std::vector<float>({3, 3, 3}));
  try {
    mgr().sequence()->getTimestamps();
    FAIL() << "no error";
  } catch (const FailedPreconditionError& error) {
    EXPECT_NE(std::string(error.what()).find("timestamps are not enabled"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace kp::test
