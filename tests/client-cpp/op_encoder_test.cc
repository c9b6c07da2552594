// The data plane of one evaluation (white-box): what OpEncoder puts into an EvalRequest and
// takes from an EvalResponse, and the wire form of host copies.
#include <gtest/gtest.h>

#include <cstring>

#include "kp/kp.hpp"
#include "kpd_process.h"
#include "client-cpp/src/op_encoder.h"
#include "client-cpp/src/wire.h"

namespace kp::test {
namespace {

using OpEncoderTest = KpdTest;

TEST_F(OpEncoderTest, OpsAndDeduplicatedUploadsOfCurrentHostCopies) {
  // Host copies outside shared memory, so that they travel in the request.
  Manager socketOnly(managerOptions(kpd_->address(), false));
  auto a = socketOnly.tensor({1, 2});
  auto b = socketOnly.tensorT<int32_t>({3, 4});
  auto c = socketOnly.tensor({0, 0});
  std::vector<std::shared_ptr<OpBase>> ops = {
      std::make_shared<OpTensorSyncDevice>(Tensors{a, b}),
      std::make_shared<OpTensorSyncDevice>(Tensors{a}),  // a again: uploaded once
      std::make_shared<OpTensorCopy>(Tensors{a, c}),
      std::make_shared<OpTensorSyncLocal>(Tensors{c}),
  };
  detail::OpEncoder encoder(ops);
  v1::EvalRequest request;
  *request.mutable_ops() = encoder.ops();
  a->setData({5, 6});  // the uploads carry the host copy as it is when they are added
  encoder.addUploads(request);
  ASSERT_EQ(request.ops_size(), 4);
  EXPECT_TRUE(request.ops(0).has_tensor_sync_device());
  EXPECT_EQ(request.ops(0).tensor_sync_device().tensors_size(), 2);
  EXPECT_TRUE(request.ops(2).has_tensor_copy());
  EXPECT_TRUE(request.ops(3).has_tensor_sync_local());
  ASSERT_EQ(request.uploads_size(), 2);
  const float expected[2] = {5, 6};
  EXPECT_EQ(request.uploads(0).data(), std::string(reinterpret_cast<const char*>(expected), 8));
  EXPECT_EQ(request.uploads(1).data().size(), 8u);
  EXPECT_EQ(encoder.tensors().size(), 3u);  // a, b, c: each once

  // The next evaluation reuses the request's upload messages, with the new host copies.
  const std::string* reused = &request.uploads(0).data();
  a->setData({7, 8});
  encoder.addUploads(request);
  ASSERT_EQ(request.uploads_size(), 2);
  EXPECT_EQ(&request.uploads(0).data(), reused);
  const float again[2] = {7, 8};
  EXPECT_EQ(request.uploads(0).data(), std::string(reinterpret_cast<const char*>(again), 8));

  // A reply's downloads land in the host copies of the tensors they name.
  v1::EvalResponse response;
  v1::TensorData* download = response.add_downloads();
  download->set_tensor(request.ops(3).tensor_sync_local().tensors(0));
  const float values[2] = {7, 8};
  download->set_data(reinterpret_cast<const char*>(values), 8);
  detail::OpEncoder::applyDownloads(response, encoder.tensors());
  EXPECT_EQ(c->vector(), std::vector<float>({7, 8}));
  EXPECT_EQ(a->vector(), std::vector<float>({7, 8}));
}

TEST_F(OpEncoderTest, CheckNamesTheFieldOfAnObjectDestroyedSinceEncoding) {
  auto a = mgr().tensor({1});
  auto b = mgr().tensor({0});
  auto algo = mgr().algorithm({a}, kIncrementGlsl);
  detail::OpEncoder encoder(
      {std::make_shared<OpTensorCopy>(Tensors{a, b}), std::make_shared<OpAlgoDispatch>(algo)});
  encoder.check();
  algo->destroy();
  try {
    encoder.check();
    FAIL() << "no error";
  } catch (const FailedPreconditionError& error) {
    EXPECT_STREQ(error.what(), "OpAlgoDispatch.algorithm: the algorithm was destroyed");
  }
  b->destroy();
  try {
    encoder.check();
    FAIL() << "no error";
  } catch (const FailedPreconditionError& error) {
    EXPECT_STREQ(error.what(), "OpTensorCopy.tensors[1]: the tensor was destroyed");
  }
}

TEST_F(OpEncoderTest, DestroyedTensorNamesTheField) {
  auto a = mgr().tensor({1});
  auto b = mgr().tensor({0});
  b->destroy();
  try {
    detail::OpEncoder encoder({std::make_shared<OpTensorCopy>(Tensors{a, b})});
    FAIL() << "no error";
  } catch (const FailedPreconditionError& error) {
    EXPECT_STREQ(error.what(), "OpTensorCopy.tensors[1]: the tensor was destroyed");
  }
}

TEST(Wire, BoolIsUint32OnTheWire) {
  const bool host[3] = {true, false, true};
  const std::string wire = detail::toWire(Tensor::TensorDataTypes::eBool, host, 3);
  ASSERT_EQ(wire.size(), 12u);
  uint32_t words[3];
  std::memcpy(words, wire.data(), 12);
  EXPECT_EQ(words[0], 1u);
  EXPECT_EQ(words[1], 0u);
  EXPECT_EQ(words[2], 1u);
  bool back[3] = {false, true, false};
  detail::fromWire(Tensor::TensorDataTypes::eBool, wire, back, 3, 1);
  EXPECT_TRUE(back[0]);
  EXPECT_FALSE(back[1]);
  EXPECT_TRUE(back[2]);
}

TEST(Wire, WrongSizeFromDaemonIsAnError) {
  double host[2] = {0, 0};
  EXPECT_THROW(
      detail::fromWire(Tensor::TensorDataTypes::eDouble, std::string(12, '\0'), host, 2, 9),
      InternalError);
}

TEST(Wire, ConstantsKeepTheirType) {
  const TypedConstants ints = TypedConstants::of(std::vector<int32_t>{-1, 2});
  const v1::Constants message = detail::toProto(ints);
  EXPECT_EQ(message.data_type(), v1::DATA_TYPE_INT32);
  EXPECT_EQ(message.values().size(), 8u);
  EXPECT_EQ(ints.as<int32_t>(), std::vector<int32_t>({-1, 2}));
  EXPECT_EQ(detail::toProto(TypedConstants::of(std::vector<float>{})).ByteSizeLong(), 0u);
}

}  // namespace
}  // namespace kp::test
