// destroy(): idempotent, isInit() follows, destroyed objects are refused, and the daemon frees
// what a Manager or a dropped shared_ptr owned.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

using DestroyTest = KpdTest;

bool waitFor(const std::function<bool()>& predicate) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

TEST_F(DestroyTest, DestroyObjects) {
  auto lhs = mgr().tensor({2, 2, 2});
  auto rhs = mgr().tensor({1, 2, 3});
  auto out = mgr().tensor({0, 0, 0});
  auto algo = mgr().algorithm({lhs, rhs, out}, kMultiplyGlsl);
  auto seq = mgr().sequence();
  seq->record<OpTensorSyncDevice>({lhs, rhs})
      ->record<OpAlgoDispatch>(algo)
      ->record<OpTensorSyncLocal>({out})
      ->eval();
  EXPECT_TRUE(seq->isInit() && algo->isInit() && out->isInit());
  const uint64_t objects = mgr().daemonStatus().objects;
  seq->destroy();
  seq->destroy();  // idempotent
  EXPECT_FALSE(seq->isInit());
  EXPECT_EQ(out->vector(), std::vector<float>({2, 4, 6}));  // the host copy stays readable
  for (const auto& tensor : {lhs, rhs, out}) {
    tensor->destroy();
    EXPECT_FALSE(tensor->isInit());
  }
  algo->destroy();
  algo->destroy();
  EXPECT_FALSE(algo->isInit());
  EXPECT_EQ(mgr().daemonStatus().objects, objects - 5);
  EXPECT_THROW(seq->eval(), FailedPreconditionError);
}

TEST_F(DestroyTest, DestroyedTensorRefusedByEvaluation) {
  auto a = mgr().tensor({1, 2});
  auto b = mgr().tensor({0, 0});
  auto seq = mgr().sequence()->record<OpTensorCopy>({a, b});
  seq->eval();
  b->destroy();
  try {
    seq->eval();
    FAIL() << "no error";
  } catch (const FailedPreconditionError& error) {
    EXPECT_NE(std::string(error.what()).find("destroyed"), std::string::npos) << error.what();
  }
}

TEST_F(DestroyTest, DestroyedTensorInNewAlgorithm) {
  auto a = mgr().tensor({1, 2});
  a->destroy();
  try {
    mgr().algorithm({a}, kIncrementGlsl);
    FAIL() << "no error";
  } catch (const FailedPreconditionError& error) {
    EXPECT_NE(std::string(error.what()).find("destroyed"), std::string::npos) << error.what();
  }
}

TEST_F(DestroyTest, DestroyedAlgorithmRefused) {
  auto a = mgr().tensor({1, 2});
  auto algo = mgr().algorithm({a}, kIncrementGlsl);
  algo->destroy();
  EXPECT_THROW(mgr().sequence()->eval<OpAlgoDispatch>(algo), FailedPreconditionError);
  // An empty algorithm cannot be dispatched either.
  EXPECT_THROW(mgr().sequence()->eval<OpAlgoDispatch>(mgr().algorithm()), FailedPreconditionError);
}

TEST_F(DestroyTest, DroppingTheLastReferenceFreesInTheDaemon) {
  const uint64_t before = mgr().daemonStatus().objects;
  const uint64_t bytesBefore = mgr().daemonStatus().allocatedBytes;
  {
    auto tensor = mgr().tensor(std::vector<float>(100000, 1.0f));
    auto algo = mgr().algorithm({tensor}, kIncrementGlsl, {1, 1, 1});
    auto seq = mgr().sequence()->record<OpAlgoDispatch>(algo);
    EXPECT_EQ(mgr().daemonStatus().objects, before + 3);
    EXPECT_GE(mgr().daemonStatus().allocatedBytes, bytesBefore + 400000);
  }
  EXPECT_EQ(mgr().daemonStatus().objects, before);
  EXPECT_EQ(mgr().daemonStatus().allocatedBytes, bytesBefore);
}

TEST_F(DestroyTest, ManagerDestroyFreesEverything) {
  Manager observer(kpd_->address());
  const uint64_t before = observer.daemonStatus().allocatedBytes;
  std::vector<std::shared_ptr<TensorT<float>>> tensors;
  for (int i = 0; i < 4; ++i) tensors.push_back(mgr().tensor(std::vector<float>(100000, 1.0f)));
  EXPECT_GE(observer.daemonStatus().allocatedBytes, before + 4 * 400000);
  auto seq = mgr().sequence();
  mgr().destroy();
  EXPECT_FALSE(tensors[0]->isInit());
  EXPECT_FALSE(seq->isInit());
  EXPECT_TRUE(waitFor([&] { return observer.daemonStatus().allocatedBytes == before; }));
  EXPECT_EQ(observer.daemonStatus().sessions, 1u);
}

TEST_F(DestroyTest, ObjectsOutliveTheirManager) {
  std::shared_ptr<TensorT<float>> tensor;
  std::shared_ptr<Sequence> seq;
  {
    Manager shortLived(kpd_->address());
    tensor = shortLived.tensor({1, 2, 3});
    seq = shortLived.sequence();
  }
  EXPECT_FALSE(tensor->isInit());
  EXPECT_FALSE(seq->isInit());
  EXPECT_EQ(tensor->vector(), std::vector<float>({1, 2, 3}));
  EXPECT_THROW(seq->eval<OpTensorSyncLocal>({tensor}), UnavailableError);
  seq.reset();  // destructors after the session ended do nothing, and do not throw
  tensor.reset();
}

}  // namespace
}  // namespace kp::test
