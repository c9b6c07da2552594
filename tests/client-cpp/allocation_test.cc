// The fast path's latency: evaluating a recorded sequence again allocates nothing on the
// caller's thread (the request is written into a reused frame, the reply parsed into a reused
// arena). Counts operator new per thread, for the whole test program.
#include <gtest/gtest.h>

#include "allocation_counter.h"
#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

class SharedMemoryAllocationTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(kpd_.ready()) << kpd_.log(); }

  KpdProcess kpd_;
};

TEST_F(SharedMemoryAllocationTest, EvaluatingAgainAllocatesNothing) {
  Manager mgr(managerOptions(kpd_.address(), true));
  ASSERT_TRUE(mgr.sharedMemory());
  auto a = mgr.tensor({2, 2, 2});
  auto b = mgr.tensor({1, 2, 3});
  auto c = mgr.tensor({0, 0, 0});
  auto flags = mgr.tensorT<bool>({true, false, true});  // not shared: inline both ways
  auto algo = mgr.algorithm({a, b, c}, kMultiplyGlsl);
  auto seq = mgr.sequence()
                 ->record<OpTensorSyncDevice>({a, b, flags})
                 ->record<OpAlgoDispatch>(algo)
                 ->record<OpTensorSyncLocal>({c, flags});
  for (int i = 0; i < 3; ++i) seq->eval();  // the first evaluations encode and grow buffers

  const long before = allocations;
  for (int i = 0; i < 100; ++i) {
    a->data()[0] = static_cast<float>(i);
    seq->eval();
    ASSERT_EQ(c->data()[0], static_cast<float>(i));
  }
  seq->evalAsync()->evalAwait();
  EXPECT_EQ(allocations - before, 0);
  EXPECT_EQ(flags->vector(), std::vector<bool>({true, false, true}));
}

}  // namespace
}  // namespace kp::test
