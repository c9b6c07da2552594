// In-process service tests: the objects a Server assembles (device pool, retirement, session
// registry), on the default Vulkan device (lavapipe in CI), without gRPC or threads of their
// own; helpers to open sessions and make requests as the handlers would; and a gate that holds
// a session's device queue until the test opens it (tests/common/gate.comp).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gate_shader.h"  // tests/common
#include "kp/v1/compute.pb.h"
#include "server/base/error.h"
#include "server/engine/instance.h"
#include "server/service/devices/device_pool.h"
#include "server/service/lifecycle/retirement.h"
#include "server/service/lifecycle/session_registry.h"
#include "server/service/session/session.h"

namespace kp::service::test {

// Checks that `body` throws a base::Error of `code` whose message contains `substring`.
inline void expectError(const std::function<void()>& body, base::ErrorCode code,
                        const std::string& substring) {
  try {
    body();
    ADD_FAILURE() << "no error; expected " << base::errorCodeName(code) << " with \""
                  << substring << "\"";
  } catch (const base::Error& error) {
    EXPECT_EQ(error.code(), code) << error.what();
    EXPECT_NE(std::string(error.what()).find(substring), std::string::npos)
        << "\"" << error.what() << "\" lacks \"" << substring << "\"";
  }
}

inline std::string floatBytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

inline std::vector<float> floats(const std::string& bytes) {
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.compiler.worker = KPD_COMPILE_BINARY;
    instance_ = engine::Instance::create({});
    if (instance_->deviceCount() == 0) GTEST_SKIP() << "no Vulkan device";
    pool_ = std::make_unique<DevicePool>(instance_, config_);
    retirement_ = std::make_unique<Retirement>(*pool_, config_);
    registry_ = std::make_unique<SessionRegistry>(*pool_, *retirement_, config_);
  }
  void TearDown() override {
    if (!registry_) return;
    registry_->closeAll("the test ended", Session::Clock::now() + std::chrono::seconds(60));
    retirement_->retryDraining();
    registry_.reset();
    retirement_.reset();
    pool_.reset();
  }

  // Who opens the tests' sessions (PeerCredentials::owner).
  static constexpr const char* kOwner = "uid 1000";

  // Opens a session named `name` for kOwner; its secret id goes to `id` if given.
  std::shared_ptr<Session> open(const std::string& name = "test", std::string* id = nullptr) {
    v1::OpenSessionRequest request;
    request.set_client_name(name);
    v1::SessionOpened opened;
    auto session = registry_->open(request, "in-process", kOwner, true, &opened);
    if (id) *id = opened.session();
    return session;
  }

  // A float32 tensor of `session` holding `values`; its handle.
  static uint64_t tensor(Session& session, const std::vector<float>& values,
                         v1::TensorType type = v1::TENSOR_TYPE_DEVICE) {
    v1::CreateTensorRequest request;
    request.set_data_type(v1::DATA_TYPE_FLOAT32);
    request.set_tensor_type(type);
    request.set_size(values.size());
    request.set_data(floatBytes(values));
    v1::CreateTensorResponse response;
    session.createTensor(request, &response);
    return response.tensor();
  }

  // Bytes of GPU memory allocated on every device.
  uint64_t allocatedBytes() const {
    uint64_t total = 0;
    for (const auto& [device, bytes] : pool_->memoryUsage()) total += bytes;
    return total;
  }

  ServiceConfig config_;
  std::shared_ptr<engine::Instance> instance_;
  std::unique_ptr<DevicePool> pool_;
  std::unique_ptr<Retirement> retirement_;
  std::unique_ptr<SessionRegistry> registry_;
};

// Holds the device queue of `session` while closed: an evaluation of the gate shader over a
// host tensor in the session's shared memory, whose flags the test writes and reads in place.
class Gate {
 public:
  explicit Gate(Session& session) : session_(session) {
    session.attachLocal();
    v1::CreateTensorRequest tensor;
    tensor.set_data_type(v1::DATA_TYPE_UINT32);
    tensor.set_tensor_type(v1::TENSOR_TYPE_HOST);
    tensor.set_size(kp::test::kGateFlagCount);
    tensor.set_shared_memory(true);
    v1::CreateTensorResponse created;
    session.createTensor(tensor, &created);
    flags_ = session.arena(created.region().arena())->base() + created.region().offset();
    v1::CreateAlgorithmRequest algorithm;
    algorithm.add_tensors(created.tensor());
    algorithm.set_glsl(kp::test::gateShaderSource());
    algorithm.mutable_workgroup()->set_x(kp::test::kGateWorkgroups);
    algorithm.mutable_workgroup()->set_y(1);
    algorithm.mutable_workgroup()->set_z(1);
    v1::CreateAlgorithmResponse made;
    session.createAlgorithm(algorithm, &made);
    sequence_ = session.createSequence(v1::CreateSequenceRequest());
    v1::RecordSequenceRequest record;
    record.set_sequence(sequence_);
    record.add_ops()->mutable_algo_dispatch()->set_algorithm(made.algorithm());
    session.recordSequence(record);
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  // Lets its work go (the test awaits it or ends the session).
  ~Gate() { open(); }

  // Starts the gate's evaluation and waits until it runs. False if it did not start in a minute.
  bool close() {
    for (auto flag : {kp::test::kGateOpen, kp::test::kGateStarted, kp::test::kGateSeenOpen}) {
      kp::test::storeGateFlag(flags_, flag, 0);
    }
    v1::EvalRequest request;
    request.set_sequence(sequence_);
    session_.evalAsync(request);
    return kp::test::waitUntil([this] { return flag(kp::test::kGateStarted) != 0; });
  }
  void open() { kp::test::storeGateFlag(flags_, kp::test::kGateOpen, 1); }
  uint32_t flag(kp::test::GateFlag which) const { return kp::test::loadGateFlag(flags_, which); }
  // Once its work finished: it held the queue until it was opened.
  bool held() const { return flag(kp::test::kGateSeenOpen) == 1; }
  uint64_t sequence() const { return sequence_; }

 private:
  Session& session_;
  char* flags_ = nullptr;
  uint64_t sequence_ = 0;
};

}  // namespace kp::service::test
