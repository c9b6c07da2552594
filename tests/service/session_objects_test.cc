// A session's objects and quotas (session/objects.h): reservations count against the limits
// until the object is added or the reservation goes, handles belong to one session, a tensor
// or algorithm that a running evaluation uses cannot be destroyed.
#include <optional>

#include "server/engine/fault_injection.h"
#include "server/engine/tensor.h"
#include "service_fixture.h"

namespace kp::service::test {
namespace {

using base::ErrorCode;

class SessionObjectsTest : public ServiceTest {
 protected:
  void SetUp() override {
    config_.sessionMaxObjects = 3;
    ServiceTest::SetUp();
  }
  void TearDown() override {
    engine::FaultInjection::configure("");
    ServiceTest::TearDown();
  }
};

TEST_F(SessionObjectsTest, AReservationCountsUntilAddedOrGone) {
  base::Mutex mutex;
  SessionObjects objects(100, config_);
  {
    base::MutexLock lock(mutex);
    std::optional<Reservation> first;
    first.emplace(objects.reserve(mutex, "a tensor", 60));
    EXPECT_EQ(objects.tensorBytes(), 60u);
    expectError([&] { objects.reserve(mutex, "a tensor", 50); }, ErrorCode::kResourceExhausted,
                "session device memory quota exceeded: 60 bytes in use + 50 bytes requested > "
                "100 bytes (--session-memory-bytes 0: 75% of the device's largest device-local heap)");
    lock.unlock();
    first.reset();  // not added: the quota comes back
    lock.lock();
    EXPECT_EQ(objects.tensorBytes(), 0u);
    std::optional<Reservation> again;
    again.emplace(objects.reserve(mutex, "a tensor", 100));  // the whole quota fits again
    lock.unlock();
    again.reset();
    lock.lock();
  }
}

TEST_F(SessionObjectsTest, PendingObjectsCountAgainstTheObjectLimit) {
  base::Mutex mutex;
  SessionObjects objects(1 << 20, config_);
  base::MutexLock lock(mutex);
  std::vector<Reservation> held;
  for (int i = 0; i < 3; ++i) held.push_back(objects.reserve(mutex, "a sequence", 0));
  expectError([&] { objects.reserve(mutex, "an algorithm", 0); }, ErrorCode::kResourceExhausted,
              "session object quota exceeded: cannot create an algorithm, the session holds 3 "
              "tensors, algorithms and sequences, its limit (--session-max-objects 3)");
  lock.unlock();
  held.clear();
}

TEST_F(SessionObjectsTest, AFailedCreationGivesItsQuotaBack) {
  auto session = open();
  engine::FaultInjection::configure("oom-after=0");
  v1::CreateTensorRequest request;
  request.set_data_type(v1::DATA_TYPE_FLOAT32);
  request.set_size(1024);
  v1::CreateTensorResponse response;
  expectError([&] { session->createTensor(request, &response); }, ErrorCode::kResourceExhausted,
              "out of device memory");
  engine::FaultInjection::configure("");
  // Had the failed tensor kept its reservation, the third of these would exceed the limit.
  for (int i = 0; i < 3; ++i) tensor(*session, {1, 2});
  EXPECT_EQ(session->objectCount(), 3u);
  expectError([&] { tensor(*session, {1}); }, ErrorCode::kResourceExhausted,
              "(--session-max-objects 3)");
}

TEST_F(SessionObjectsTest, HandlesMeanNothingInAnotherSession) {
  auto mine = open("mine");
  auto theirs = open("theirs");
  const uint64_t handle = tensor(*mine, {1, 2, 3});
  expectError([&] { theirs->readTensor(handle); }, ErrorCode::kNotFound,
              "tensor: tensor " + std::to_string(handle) + " does not exist in this session");
  expectError([&] { theirs->destroyTensor(handle); }, ErrorCode::kNotFound,
              "does not exist in this session");
  EXPECT_EQ(floats(mine->readTensor(handle)), (std::vector<float>{1, 2, 3}));
}

TEST_F(SessionObjectsTest, WhatARunningEvaluationUsesCannotBeDestroyed) {
  config_.sessionMaxObjects = 100;
  auto session = open();
  const uint64_t busy = tensor(*session, {0}, v1::TENSOR_TYPE_HOST);
  Gate gate(*session);
  ASSERT_TRUE(gate.close());
  // An evaluation waiting behind the gate, which uses `busy`.
  const uint64_t sequence = session->createSequence(v1::CreateSequenceRequest());
  v1::EvalRequest request;
  request.set_sequence(sequence);
  request.set_record(true);
  request.add_ops()->mutable_tensor_sync_local()->add_tensors(busy);
  session->evalAsync(request);
  expectError([&] { session->destroyTensor(busy); }, ErrorCode::kFailedPrecondition,
              "is used by a running evaluation; await it before destroying the tensor");
  expectError([&] { session->writeTensor(busy, floatBytes({1})); },
              ErrorCode::kFailedPrecondition, "await it before writing the tensor");
  gate.open();
  v1::EvalAwaitRequest await;
  await.set_sequence(sequence);
  await.set_timeout_ns(60'000'000'000ull);
  v1::EvalResponse response;
  session->evalAwait(await, &response);
  EXPECT_TRUE(response.finished());
  session->destroyTensor(busy);  // now it can go
  EXPECT_TRUE(gate.held());
}

}  // namespace
}  // namespace kp::service::test
