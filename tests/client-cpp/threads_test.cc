// Thread safety: two threads driving two sequences on one Manager, and two Managers at once.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

using ThreadsTest = KpdTest;

// Runs 50 evaluations of lhs * factor on `mgr`, checking each; returns an error or "".
std::string multiplyLoop(Manager& mgr, float factor) {
  try {
    constexpr uint32_t n = 1000;
    std::vector<float> values(n);
    for (uint32_t i = 0; i < n; ++i) values[i] = static_cast<float>(i);
    auto lhs = mgr.tensor(values);
    auto rhs = mgr.tensor(std::vector<float>(n, factor));
    auto out = mgr.tensor(std::vector<float>(n, 0.0f));
    auto seq = mgr.sequence()
                   ->record<OpTensorSyncDevice>({lhs, rhs})
                   ->record<OpMult>({lhs, rhs, out}, mgr.algorithm())
                   ->record<OpTensorSyncLocal>({out});
    for (int round = 0; round < 50; ++round) {
      out->setData(std::vector<float>(n, -1.0f));
      if (round % 2 == 0) {
        seq->eval();
      } else {
        seq->evalAsync()->evalAwait();
      }
      for (uint32_t i = 0; i < n; ++i) {
        if (out->data()[i] != values[i] * factor) {
          return "round " + std::to_string(round) + ": out[" + std::to_string(i) +
                 "] = " + std::to_string(out->data()[i]);
        }
      }
    }
    return "";
  } catch (const std::exception& error) {
    return error.what();
  }
}

TEST_F(ThreadsTest, TwoSequencesOfOneManager) {
  std::string errorA, errorB;
  std::thread a([&] { errorA = multiplyLoop(mgr(), 2.0f); });
  std::thread b([&] { errorB = multiplyLoop(mgr(), 3.0f); });
  a.join();
  b.join();
  EXPECT_EQ(errorA, "");
  EXPECT_EQ(errorB, "");
}

TEST_F(ThreadsTest, TwoManagers) {
  Manager other(kpd_->address());
  std::string errorA, errorB;
  std::thread a([&] { errorA = multiplyLoop(mgr(), 5.0f); });
  std::thread b([&] { errorB = multiplyLoop(other, 7.0f); });
  a.join();
  b.join();
  EXPECT_EQ(errorA, "");
  EXPECT_EQ(errorB, "");
}

TEST_F(ThreadsTest, TwoThreadsOnOneSequenceAreSerialised) {
  auto t = mgr().tensor({0});
  auto algo = mgr().algorithm({t}, kIncrementGlsl);
  auto seq = mgr().sequence()->record<OpAlgoDispatch>(algo);
  std::atomic<int> failures{0};
  auto run = [&] {
    for (int i = 0; i < 20; ++i) {
      try {
        seq->eval();
      } catch (const std::exception&) {
        ++failures;
      }
    }
  };
  std::thread a(run);
  std::thread b(run);
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  mgr().sequence()->eval<OpTensorSyncLocal>({t});
  EXPECT_EQ(t->vector(), std::vector<float>({40}));
}

}  // namespace
}  // namespace kp::test
