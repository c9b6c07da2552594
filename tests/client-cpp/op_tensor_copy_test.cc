// OpTensorCopy between device, host and storage tensors, and its host-copy update.
#include <gtest/gtest.h>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

class OpTensorCopyTest : public KpdTest,
                         public ::testing::WithParamInterface<Tensor::TensorTypes> {};

TEST_P(OpTensorCopyTest, CopyThroughStorageTensor) {
  auto source = mgr().tensor({1, 2, 3}, GetParam());
  auto storage = mgr().tensor({0, 0, 0}, Tensor::TensorTypes::eStorage);
  auto target = mgr().tensor({0, 0, 0}, GetParam());
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({source})
      ->record<OpTensorCopy>({source, storage})
      ->record<OpTensorCopy>({storage, target})
      ->record<OpTensorSyncLocal>({target})
      ->eval();
  EXPECT_EQ(target->vector(), std::vector<float>({1, 2, 3}));
}

TEST_P(OpTensorCopyTest, CopyUpdatesDestinationHostCopiesWithoutSync) {
  auto a = mgr().tensor({2, 3, 4}, GetParam());
  auto b = mgr().tensor({0, 0, 0});
  auto c = mgr().tensor({0, 0, 0}, Tensor::TensorTypes::eHost);
  mgr().sequence()->eval<OpTensorCopy>({a, b, c});
  EXPECT_EQ(b->vector(), std::vector<float>({2, 3, 4}));
  EXPECT_EQ(c->vector(), std::vector<float>({2, 3, 4}));
  // And on the GPU. (Not for c in shared memory: the host copy of an eHost tensor there may be
  // the GPU buffer itself, as in Kompute, where data() maps it; zeroing it zeroes the tensor.)
  b->setData({0, 0, 0});
  if (!c->inSharedMemory()) c->setData({0, 0, 0});
  mgr().sequence()->eval<OpTensorSyncLocal>({b, c});
  EXPECT_EQ(b->vector(), std::vector<float>({2, 3, 4}));
  EXPECT_EQ(c->vector(), std::vector<float>({2, 3, 4}));
}

INSTANTIATE_TEST_SUITE_P(TensorTypes, OpTensorCopyTest,
                         ::testing::Values(Tensor::TensorTypes::eDevice,
                                           Tensor::TensorTypes::eHost),
                         [](const auto& info) { return Tensor::toString(info.param); });

using OpTensorCopyErrorsTest = KpdTest;

TEST_F(OpTensorCopyErrorsTest, SingleTensorFails) {
  auto a = mgr().tensor({1, 2, 3});
  EXPECT_THROW(mgr().sequence()->eval<OpTensorCopy>({a}), InvalidArgumentError);
}

TEST_F(OpTensorCopyErrorsTest, MismatchedTensorsFail) {
  auto a = mgr().tensor({1, 2, 3});
  auto shorter = mgr().tensor({0, 0});
  auto other = mgr().tensorT<int32_t>({0, 0, 0});
  try {
    mgr().sequence()->record<OpTensorCopy>({a, shorter});
    FAIL() << "no error";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find("OpTensorCopy.tensors[1]"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(mgr().sequence()->record<OpTensorCopy>({a, other}), InvalidArgumentError);
}

TEST_F(OpTensorCopyErrorsTest, HandleOfAnotherManagerIsNotFound) {
  Manager other(kpd_->address());
  auto theirs = other.tensor({1, 2, 3});
  auto mine = mgr().tensor({0, 0, 0});
  try {
    mgr().sequence()->eval<OpTensorCopy>({theirs, mine});
    FAIL() << "no error";
  } catch (const NotFoundError& error) {
    EXPECT_NE(std::string(error.what()).find("does not exist in this session"), std::string::npos)
        << error.what();
  }
  EXPECT_TRUE(theirs->isInit());
  other.sequence()->eval<OpTensorSyncLocal>({theirs});
  EXPECT_EQ(theirs->vector(), std::vector<float>({1, 2, 3}));
}

}  // namespace
}  // namespace kp::test
