// The same-host fast path: host copies in memory shared with kpd, evaluations over its local
// data socket, and the ways to switch it off.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <random>

#include "kp/kp.hpp"
#include "kpd_process.h"
#include "client-cpp/src/local/local_channel.h"
#include "client-cpp/src/op_encoder.h"

namespace kp::test {
namespace {

// Sets an environment variable for the life of the object, then restores it.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    hadValue_ = old != nullptr;
    setenv(name, value, 1);
  }
  ~ScopedEnvironment() {
    if (hadValue_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool hadValue_ = false;
};

class SharedMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kpd_.ready()) << kpd_.log();
    mgr_ = std::make_unique<Manager>(managerOptions(kpd_.address(), true));
  }
  void TearDown() override {
    mgr_.reset();
    if (HasFailure()) std::cerr << "---- kpd log ----\n" << kpd_.log();
  }

  Manager& mgr() { return *mgr_; }
  std::string dataSocket() const { return kpd_.dir() + "/kpd.sock.data"; }

  KpdProcess kpd_;
  std::unique_ptr<Manager> mgr_;
};

TEST_F(SharedMemoryTest, LocalClientsGetSharedMemory) {
  EXPECT_TRUE(mgr().sharedMemory());
  EXPECT_TRUE(std::filesystem::is_socket(dataSocket()));
  auto t = mgr().tensor({1, 2, 3});
  EXPECT_TRUE(t->inSharedMemory());
  EXPECT_EQ(t->vector(), std::vector<float>({1, 2, 3}));
  EXPECT_TRUE(mgr().tensorT<int32_t>({1}, Tensor::TensorTypes::eHost)->inSharedMemory());
  EXPECT_TRUE(mgr().tensorT<double>({1})->inSharedMemory());
}

TEST_F(SharedMemoryTest, SharedTensorsMoveNoBytes) {
  auto a = mgr().tensor(std::vector<float>(1000, 1.0f));
  auto b = mgr().tensor(std::vector<float>(1000, 0.0f));
  std::vector<std::shared_ptr<OpBase>> ops = {std::make_shared<OpTensorSyncDevice>(Tensors{a}),
                                              std::make_shared<OpTensorCopy>(Tensors{a, b}),
                                              std::make_shared<OpTensorSyncLocal>(Tensors{b})};
  detail::OpEncoder encoder(ops);
  v1::EvalRequest request;
  encoder.addUploads(request);
  EXPECT_EQ(request.uploads_size(), 0);  // nothing to send: the daemon reads a in place
  // A host write, seen by the daemon in place.
  std::fill(a->data(), a->data() + 1000, 5.0f);
  auto seq = mgr().sequence();
  for (const auto& op : ops) seq->record(op);
  seq->eval();
  EXPECT_EQ(b->vector(), std::vector<float>(1000, 5.0f));
  // Again, with the ops already in the daemon: the request is only the sequence's handle.
  std::fill(a->data(), a->data() + 1000, -2.0f);
  seq->eval();
  EXPECT_EQ(b->vector(), std::vector<float>(1000, -2.0f));
}

TEST_F(SharedMemoryTest, BoolAndStorageTensorsKeepPrivateHostCopies) {
  auto flags = mgr().tensorT<bool>({true, false, true});
  EXPECT_FALSE(flags->inSharedMemory());  // one byte per bool here, a uint32 on the GPU
  auto copy = mgr().tensorT<bool>({false, false, false});
  mgr().sequence()->eval<OpTensorCopy>({flags, copy});
  EXPECT_EQ(copy->vector(), std::vector<bool>({true, false, true}));
  EXPECT_FALSE(mgr().tensor({1, 2}, Tensor::TensorTypes::eStorage)->inSharedMemory());
}

TEST_F(SharedMemoryTest, LargeTensorRoundTripInPlace) {
  const size_t n = 16 * 1024 * 1024;  // 64 MiB: written in place after creation, not inline
  std::vector<float> values(n);
  std::mt19937 random(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (float& value : values) value = uniform(random);
  auto a = mgr().tensor(values);
  auto b = mgr().tensor(std::vector<float>(n, 0.0f));
  ASSERT_TRUE(a->inSharedMemory() && b->inSharedMemory());
  auto seq = mgr().sequence()->record<OpTensorCopy>({a, b})->record<OpTensorSyncLocal>({b});
  seq->eval();
  EXPECT_TRUE(b->vector() == values);
  // A host write of the whole tensor, uploaded in place by the next sync-device.
  for (size_t i = 0; i < n; ++i) a->data()[i] = -values[i];
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({a})
      ->record<OpTensorCopy>({a, b})
      ->record<OpTensorSyncLocal>({b})
      ->eval();
  EXPECT_EQ(b->data()[0], -values[0]);
  EXPECT_EQ(b->data()[n - 1], -values[n - 1]);
  EXPECT_TRUE(std::equal(a->data(), a->data() + n, b->data()));
}

TEST_F(SharedMemoryTest, LargeBoolTensorStreamsBesideSharedMemory) {
  // A bool tensor cannot be shared: beyond 1 MiB its host copy travels as gRPC streams, while
  // the evaluation itself goes over the local data socket.
  const size_t n = 600'000;  // 2.4 MB on the wire
  std::vector<bool> flags(n);
  for (size_t i = 0; i < n; ++i) flags[i] = (i * 7919) % 3 == 0;
  auto a = mgr().tensorT<bool>(flags);
  auto b = mgr().tensorT<bool>(std::vector<bool>(n, false));
  mgr().sequence()->record<OpTensorCopy>({a, b})->record<OpTensorSyncLocal>({b})->eval();
  EXPECT_TRUE(b->vector() == flags);
  flags.flip();
  a->setData(flags);
  mgr()
      .sequence()
      ->record<OpTensorSyncDevice>({a})
      ->record<OpTensorCopy>({a, b})
      ->record<OpTensorSyncLocal>({b})
      ->eval();
  EXPECT_TRUE(b->vector() == flags);
}

TEST_F(SharedMemoryTest, DestroyKeepsAPrivateHostCopy) {
  auto a = mgr().tensor(std::vector<float>(2000, 3.0f));
  ASSERT_TRUE(a->inSharedMemory());
  a->destroy();
  EXPECT_FALSE(a->inSharedMemory());
  // The daemon may hand the freed region to a new tensor: a's host copy is its own now.
  auto b = mgr().tensor(std::vector<float>(2000, 9.0f));
  EXPECT_EQ(a->vector(), std::vector<float>(2000, 3.0f));
  EXPECT_EQ(b->vector(), std::vector<float>(2000, 9.0f));
}

TEST_F(SharedMemoryTest, HostCopiesOutliveTheManager) {
  auto a = mgr().tensor({1, 2, 3});
  auto seq = mgr().sequence()->record<OpTensorSyncLocal>({a});
  seq->eval();
  mgr_.reset();  // the session ends; the arena stays mapped for the tensor
  EXPECT_FALSE(a->isInit());
  EXPECT_TRUE(a->inSharedMemory());
  EXPECT_EQ(a->vector(), std::vector<float>({1, 2, 3}));
  a->data()[0] = 7;
  EXPECT_EQ(a->vector(), std::vector<float>({7, 2, 3}));
  EXPECT_THROW(seq->eval(), UnavailableError);
}

TEST_F(SharedMemoryTest, ManyArenas) {
  // Arenas are 64 MiB by default: these tensors need several, each mapped once.
  std::vector<std::shared_ptr<TensorT<float>>> tensors;
  for (int i = 0; i < 5; ++i) {
    tensors.push_back(mgr().tensor(std::vector<float>(5 * 1024 * 1024, static_cast<float>(i))));
  }
  auto seq = mgr().sequence();
  for (int i = 0; i < 4; ++i) seq->record<OpTensorCopy>({tensors[i], tensors[i + 1]});
  seq->record<OpTensorSyncLocal>({tensors[4]})->eval();
  EXPECT_EQ(tensors[4]->data()[0], 0.0f);
  EXPECT_EQ(tensors[4]->data()[5 * 1024 * 1024 - 1], 0.0f);
}

TEST_F(SharedMemoryTest, AsyncAndTimestampsOverTheDataSocket) {
  auto a = mgr().tensor({1, 2, 3});
  auto b = mgr().tensor({0, 0, 0});
  auto seq = mgr().sequence(0, 3)->record<OpTensorCopy>({a, b})->record<OpTensorSyncLocal>({b});
  seq->evalAsync();
  EXPECT_TRUE(seq->isRunning());
  EXPECT_THROW(seq->eval(), FailedPreconditionError);
  seq->evalAwait();
  EXPECT_EQ(b->vector(), std::vector<float>({1, 2, 3}));
  if (mgr().getDeviceProperties().timestampsSupported) {
    EXPECT_EQ(seq->getTimestamps().size(), 3u);
  }
}

TEST_F(SharedMemoryTest, DaemonErrorsComeBackAsTheirKinds) {
  auto a = mgr().tensor({1, 2});
  auto big = mgr().tensor(std::vector<float>(70000, 1.0f));
  std::vector<std::shared_ptr<Tensor>> many(70000, big);
  try {
    // More tensors than a sequence may name (--max-sequence-ops): the daemon refuses it.
    mgr().sequence()->eval<OpTensorSyncLocal>(many);
    FAIL() << "no error";
  } catch (const ResourceExhaustedError& error) {
    EXPECT_NE(std::string(error.what()).find("--max-sequence-ops"), std::string::npos)
        << error.what();
  }
  mgr().sequence()->eval<OpTensorSyncLocal>({a});  // the connection is still usable
}

TEST_F(SharedMemoryTest, AttachNeedsTheSessionSecret) {
  try {
    detail::LocalChannel channel(dataSocket(), std::string(32, '0'));
    FAIL() << "no error";
  } catch (const NotFoundError& error) {
    EXPECT_NE(std::string(error.what()).find("does not exist"), std::string::npos) << error.what();
  }
}

TEST_F(SharedMemoryTest, SwitchedOffByTheEnvironment) {
  ScopedEnvironment off("KP_SHARED_MEMORY", "0");
  Manager socketOnly(kpd_.address());
  EXPECT_FALSE(socketOnly.sharedMemory());
  auto a = socketOnly.tensor({1, 2});
  auto b = socketOnly.tensor({0, 0});
  EXPECT_FALSE(a->inSharedMemory());
  socketOnly.sequence()->eval<OpTensorCopy>({a, b});
  EXPECT_EQ(b->vector(), std::vector<float>({1, 2}));
}

TEST_F(SharedMemoryTest, OptionWinsOverTheEnvironment) {
  {
    ScopedEnvironment off("KP_SHARED_MEMORY", "0");
    EXPECT_TRUE(Manager(managerOptions(kpd_.address(), true)).sharedMemory());
  }
  ScopedEnvironment on("KP_SHARED_MEMORY", "1");
  Manager socketOnly(managerOptions(kpd_.address(), false));
  EXPECT_FALSE(socketOnly.sharedMemory());
  EXPECT_FALSE(socketOnly.tensor({1})->inSharedMemory());
}

TEST(SharedMemoryDaemon, SwitchedOffByTheDaemon) {
  KpdProcess kpd({"--no-shared-memory"});
  ASSERT_TRUE(kpd.ready()) << kpd.log();
  EXPECT_FALSE(std::filesystem::exists(kpd.dir() + "/kpd.sock.data"));
  Manager mgr(managerOptions(kpd.address(), true));
  EXPECT_FALSE(mgr.sharedMemory());
  auto a = mgr.tensor({1, 2});
  auto b = mgr.tensor({0, 0});
  EXPECT_FALSE(a->inSharedMemory());
  mgr.sequence()->eval<OpTensorCopy>({a, b});
  EXPECT_EQ(b->vector(), std::vector<float>({1, 2}));
}

TEST(SharedMemoryDaemon, DaemonKilledDuringLocalEvaluations) {
  KpdProcess kpd;
  ASSERT_TRUE(kpd.ready()) << kpd.log();
  Manager mgr(managerOptions(kpd.address(), true));
  ASSERT_TRUE(mgr.sharedMemory());
  auto t = mgr.tensor({1, 2, 3});
  auto seq = mgr.sequence()->record<OpTensorSyncLocal>({t});
  seq->eval();
  kpd.kill();
  try {
    seq->eval();
    FAIL() << "no error";
  } catch (const UnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("cannot reach kpd at " + kpd.address()),
              std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("local data socket"), std::string::npos)
        << error.what();
  }
  EXPECT_NE(mgr.closedReason(), "");
  EXPECT_EQ(t->vector(), std::vector<float>({1, 2, 3}));  // still mapped
}

}  // namespace
}  // namespace kp::test
