// Building engine ops from kp.v1 ops (session/op_builder.h): handles resolved in the session's
// tables, every error naming its field, downloads collected once each in op order, and the
// weight that --max-sequence-ops bounds.
#include "server/engine/algorithm.h"
#include "server/engine/tensor.h"
#include "server/service/session/op_builder.h"
#include "service_fixture.h"

namespace kp::service::test {
namespace {

using base::ErrorCode;
using Ops = google::protobuf::RepeatedPtrField<v1::Op>;

class OpBuilderTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    if (!registry_) return;
    device_ = pool_->open(0, {});
    for (int i = 0; i < 3; ++i) {
      handles_.push_back(tensors_.add(engine::Tensor::create(device_, std::vector<float>{1, 2}),
                                      random_));
    }
    storage_ = tensors_.add(engine::Tensor::create(device_, engine::DataType::kFloat32, 2,
                                                   engine::TensorType::kStorage),
                            random_);
  }
  void TearDown() override {
    tensors_.clear();
    device_.reset();
    ServiceTest::TearDown();
  }

  BuiltOps build(const Ops& ops) { return buildOps(ops, tensors_, algorithms_); }

  std::shared_ptr<engine::Device> device_;
  std::mt19937_64 random_{7};
  HandleTable<engine::Tensor> tensors_{"tensor"};
  HandleTable<engine::Algorithm> algorithms_{"algorithm"};
  std::vector<uint64_t> handles_;
  uint64_t storage_ = 0;
};

TEST_F(OpBuilderTest, DownloadsAreCollectedOnceInOpOrder) {
  Ops ops;
  auto* local = ops.Add()->mutable_tensor_sync_local();
  local->add_tensors(handles_[2]);
  local->add_tensors(handles_[0]);
  auto* copy = ops.Add()->mutable_tensor_copy();
  copy->add_tensors(handles_[1]);
  copy->add_tensors(handles_[0]);  // already downloaded
  copy->add_tensors(storage_);     // no host copy: nothing to download
  const BuiltOps built = build(ops);
  ASSERT_EQ(built.ops.size(), 2u);
  EXPECT_STREQ(built.ops[0]->name(), "OpTensorSyncLocal");
  EXPECT_STREQ(built.ops[1]->name(), "OpTensorCopy");
  ASSERT_EQ(built.downloads.size(), 2u);
  EXPECT_EQ(built.downloads[0].handle, handles_[2]);
  EXPECT_EQ(built.downloads[1].handle, handles_[0]);
}

TEST_F(OpBuilderTest, ErrorsNameTheirField) {
  Ops ops;
  ops.Add()->mutable_tensor_sync_device()->add_tensors(handles_[0]);
  ops.Add()->mutable_tensor_sync_device()->add_tensors(77);
  expectError([&] { build(ops); }, ErrorCode::kNotFound,
              "ops[1].tensor_sync_device.tensors[0]: tensor 77 does not exist in this session");

  ops.Mutable(1)->mutable_tensor_sync_device()->set_tensors(0, handles_[0]);
  ops.Mutable(1)->mutable_tensor_sync_device()->add_tensors(handles_[0]);
  expectError([&] { build(ops); }, ErrorCode::kInvalidArgument,
              "ops[1].tensor_sync_device.tensors[1]: tensor " + std::to_string(handles_[0]) +
                  " is also ops[1].tensor_sync_device.tensors[0]");

  Ops dispatch;
  dispatch.Add()->mutable_algo_dispatch()->set_algorithm(5);
  expectError([&] { build(dispatch); }, ErrorCode::kNotFound,
              "ops[0].algo_dispatch.algorithm: algorithm 5 does not exist in this session");

  Ops empty;
  empty.Add();
  expectError([&] { build(empty); }, ErrorCode::kInvalidArgument, "ops[0] has no op set");

  // The engine's own checks come back with the op's field in front.
  Ops sync;
  sync.Add()->mutable_tensor_sync_device();
  expectError([&] { build(sync); }, ErrorCode::kInvalidArgument,
              "ops[0]: OpTensorSyncDevice: tensors is empty");
}

TEST_F(OpBuilderTest, AnOpWeighsOnePerTensorAndAtLeastOne) {
  Ops ops;
  ops.Add()->mutable_tensor_sync_local()->add_tensors(handles_[0]);
  auto* copy = ops.Add()->mutable_tensor_copy();
  for (int i = 0; i < 3; ++i) copy->add_tensors(handles_[i]);
  ops.Add()->mutable_algo_dispatch()->set_algorithm(1);
  ops.Add();
  EXPECT_EQ(opsWeight(ops), 1u + 3u + 1u + 1u);
}

}  // namespace
}  // namespace kp::service::test
