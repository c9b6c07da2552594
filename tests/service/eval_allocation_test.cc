// The daemon's side of an evaluation allocates nothing in the steady state: evaluating a
// recorded sequence again (the local data socket's and gRPC's Eval, once the request is
// decoded) reuses the command buffer, the fence, the descriptor sets and the reply's buffers.
// Counts operator new on the calling thread, for the whole test program.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "allocation_counter.h"
#include "server/service/devices/device_pool.h"
#include "server/engine/instance.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::service {
namespace {

constexpr const char* kMultiply = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) writeonly buffer C { float c[]; };
void main() { uint i = gl_GlobalInvocationID.x; c[i] = a[i] * b[i]; }
)";

std::string floatBytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// A session with a, b, c (3 floats each) and the sequence
// [SyncDevice(a, b), Dispatch(c = a * b), SyncLocal(c)], recorded once.
class EvalAllocationTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    config_.compiler.worker = KPD_COMPILE_BINARY;
    instance_ = engine::Instance::create({});
    if (instance_->deviceCount() == 0) GTEST_SKIP() << "no Vulkan device";
    pool_ = std::make_unique<DevicePool>(instance_, config_);
    retirement_ = std::make_unique<Retirement>(*pool_, config_);
    registry_ = std::make_unique<SessionRegistry>(*pool_, *retirement_, config_);
    v1::SessionOpened opened;
    session_ = registry_->open(v1::OpenSessionRequest(), "test", "uid 1000", true, &opened);
    id_ = opened.session();
    if (sharedMemory()) session_->attachLocal();

    a_ = tensor({2, 2, 2});
    b_ = tensor({1, 2, 3});
    c_ = tensor({0, 0, 0});
    v1::CreateAlgorithmRequest algorithm;
    for (uint64_t t : {a_, b_, c_}) algorithm.add_tensors(t);
    algorithm.set_glsl(kMultiply);
    v1::CreateAlgorithmResponse created;
    session_->createAlgorithm(algorithm, &created);

    sequence_ = session_->createSequence(v1::CreateSequenceRequest());
    v1::RecordSequenceRequest record;
    record.set_sequence(sequence_);
    auto* sync = record.add_ops()->mutable_tensor_sync_device();
    sync->add_tensors(a_);
    sync->add_tensors(b_);
    record.add_ops()->mutable_algo_dispatch()->set_algorithm(created.algorithm());
    record.add_ops()->mutable_tensor_sync_local()->add_tensors(c_);
    session_->recordSequence(record);
  }

  void TearDown() override {
    if (session_) registry_->close(id_, "uid 1000", "the test ended");
    session_.reset();
    registry_.reset();
    retirement_.reset();
    pool_.reset();
  }

  bool sharedMemory() const { return GetParam(); }

  uint64_t tensor(const std::vector<float>& values) {
    v1::CreateTensorRequest request;
    request.set_data_type(v1::DATA_TYPE_FLOAT32);
    request.set_tensor_type(v1::TENSOR_TYPE_DEVICE);
    request.set_size(values.size());
    request.set_data(floatBytes(values));
    request.set_shared_memory(sharedMemory());
    v1::CreateTensorResponse response;
    session_->createTensor(request, &response);
    return response.tensor();
  }

  // One evaluation as the local data socket makes it: a (reused) request, a cleared reply.
  void eval(const v1::EvalRequest& request, v1::EvalResponse* response) {
    response->Clear();
    session_->eval(request, response, std::chrono::system_clock::time_point::max(),
                   [] { return false; });
  }

  ServiceConfig config_;
  std::shared_ptr<engine::Instance> instance_;
  std::unique_ptr<DevicePool> pool_;
  std::unique_ptr<Retirement> retirement_;
  std::unique_ptr<SessionRegistry> registry_;
  std::shared_ptr<Session> session_;
  std::string id_;
  uint64_t a_ = 0, b_ = 0, c_ = 0, sequence_ = 0;
};

TEST_P(EvalAllocationTest, EvaluatingARecordedSequenceAgainAllocatesNothing) {
  v1::EvalRequest request;
  request.set_session(id_);
  request.set_sequence(sequence_);
  v1::TensorData* upload = nullptr;
  if (!sharedMemory()) {
    // The socket path: a's bytes travel with the request, c's come back in the reply.
    upload = request.add_uploads();
    upload->set_tensor(a_);
    upload->set_data(floatBytes({2, 2, 2}));
  }
  v1::EvalResponse response;
  for (int i = 0; i < 3; ++i) eval(request, &response);  // the first ones grow buffers

  long counted = 0;
  for (int i = 0; i < 100; ++i) {
    if (upload) {
      const float value = static_cast<float>(i);
      std::memcpy(upload->mutable_data()->data(), &value, sizeof(value));
    }
    const long before = test::allocations;
    eval(request, &response);
    counted += test::allocations - before;
    ASSERT_TRUE(response.finished());
    if (upload) {
      ASSERT_EQ(response.downloads_size(), 1);
      float first = 0;
      std::memcpy(&first, response.downloads(0).data().data(), sizeof(first));
      ASSERT_EQ(first, static_cast<float>(i));  // c[0] = a[0] * b[0] = i * 1
    } else {
      ASSERT_EQ(response.downloads_size(), 0);  // the client reads c in shared memory
    }
  }
  EXPECT_EQ(counted, 0) << "allocations in 100 evaluations of a recorded sequence";
  if (sharedMemory()) {
    const std::string c = session_->readTensor(c_);
    std::vector<float> values(3);
    std::memcpy(values.data(), c.data(), c.size());
    EXPECT_EQ(values, (std::vector<float>{2, 4, 6}));
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, EvalAllocationTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "SharedMemory" : "Inline"; });

}  // namespace
}  // namespace kp::service
