// OpMemoryBarrier: explicit barriers between ops, and their argument checks.
#include "test_environment.h"

namespace kp::engine::test {
namespace {

// out[i] = in[i] * 3.
constexpr const char* kTripleShader = R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer In { float inValues[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float outValues[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  outValues[i] = inValues[i] * 3.0;
}
)";

using OpMemoryBarrierTest = EngineTest;

TEST_F(OpMemoryBarrierTest, BarriersBetweenDispatchAndSync) {
  auto in = Tensor::create(device_, std::vector<float>{0, 0, 0, 0});
  auto out = Tensor::create(device_, DataType::kFloat32, 4, TensorType::kDevice);
  auto algorithm = Algorithm::create(device_, {in, out}, compile(kTripleShader));

  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{in}))
      .record(std::make_shared<OpMemoryBarrier>(
          std::vector{in}, VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_SHADER_READ_BIT,
          VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT))
      .record(std::make_shared<OpAlgoDispatch>(algorithm))
      .record(std::make_shared<OpMemoryBarrier>(
          std::vector{out}, VK_ACCESS_SHADER_WRITE_BIT, VK_ACCESS_TRANSFER_READ_BIT,
          VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{out}))
      .record(std::make_shared<OpMemoryBarrier>(
          std::vector{out}, VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_HOST_READ_BIT,
          VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, /*barrierOnPrimary=*/false));

  in->setData(std::vector<float>{1, 2, 3, 4});
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{3, 6, 9, 12}));

  in->setData(std::vector<float>{-1, 0.5f, 100, 7});
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{-3, 1.5f, 300, 21}));
}

TEST_F(OpMemoryBarrierTest, BroadMasksOnSeveralTensors) {
  auto in = Tensor::create(device_, std::vector<float>{5, 6}, TensorType::kHost);
  auto out = Tensor::create(device_, DataType::kFloat32, 2, TensorType::kHost);
  auto algorithm = Algorithm::create(device_, {in, out}, compile(kTripleShader));
  auto barrier = std::make_shared<OpMemoryBarrier>(
      std::vector{in, out}, VK_ACCESS_MEMORY_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT,
      VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_HOST_READ_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
      VK_PIPELINE_STAGE_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_HOST_BIT);
  EXPECT_STREQ(barrier->name(), "OpMemoryBarrier");
  EXPECT_EQ(barrier->tensors(), (std::vector{in, out}));
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(algorithm)).record(barrier);
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{15, 18}));
}

TEST_F(OpMemoryBarrierTest, InvalidMasksAreRejected) {
  auto tensor = Tensor::create(device_, std::vector<float>{1});
  const VkAccessFlags read = VK_ACCESS_SHADER_READ_BIT;
  const VkPipelineStageFlags compute = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  expectError(
      [&] {
        OpMemoryBarrier({tensor}, VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT, read, compute, compute);
      },
      ErrorCode::kInvalidArgument,
      "OpMemoryBarrier: access masks may use only shader, transfer, host and memory bits");
  expectError(
      [&] { OpMemoryBarrier({tensor}, read, VK_ACCESS_UNIFORM_READ_BIT, compute, compute); },
      ErrorCode::kInvalidArgument, "access masks may use only");
  expectError([&] { OpMemoryBarrier({tensor}, read, read, 0, compute); },
              ErrorCode::kInvalidArgument,
              "OpMemoryBarrier: stage masks must be non-zero and use only top-of-pipe, compute, "
              "transfer, bottom-of-pipe, host and all-commands bits");
  expectError([&] { OpMemoryBarrier({tensor}, read, read, compute, 0); },
              ErrorCode::kInvalidArgument, "stage masks must be non-zero");
  expectError(
      [&] {
        OpMemoryBarrier({tensor}, read, read, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT, compute);
      },
      ErrorCode::kInvalidArgument, "stage masks must be non-zero and use only");
  expectError([&] { OpMemoryBarrier({tensor}, read, read, compute, 0x80000000u); },
              ErrorCode::kInvalidArgument, "stage masks");
}

TEST_F(OpMemoryBarrierTest, AccessUnsupportedByTheStageAddsTheStageItNeeds) {
  // Vulkan requires every access bit to be supported by a stage of its mask (shader access in
  // shader stages, transfer access in the transfer stage, host access in the host stage).
  // Kompute records such barriers as given; here the stages they need are added, so the
  // barrier is valid (the validation layer, when on, counts no error) and orders at least
  // what was asked.
  auto in = Tensor::create(device_, std::vector<float>{1, 2});
  auto out = Tensor::create(device_, DataType::kFloat32, 2, TensorType::kDevice);
  auto algorithm = Algorithm::create(device_, {in, out}, compile(kTripleShader));
  auto transferAtCompute = std::make_shared<OpMemoryBarrier>(
      std::vector{in}, VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_SHADER_READ_BIT,
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT);
  EXPECT_EQ(
      transferAtCompute->srcStageMask(),
      VkPipelineStageFlags{VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT});
  EXPECT_EQ(transferAtCompute->dstStageMask(),
            VkPipelineStageFlags{VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT});
  OpMemoryBarrier hostAtTop({in}, VK_ACCESS_HOST_WRITE_BIT, VK_ACCESS_SHADER_READ_BIT,
                            VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT);
  EXPECT_EQ(hostAtTop.srcStageMask(),
            VkPipelineStageFlags{VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT | VK_PIPELINE_STAGE_HOST_BIT});
  EXPECT_EQ(hostAtTop.dstStageMask(), VkPipelineStageFlags{VK_PIPELINE_STAGE_TRANSFER_BIT |
                                                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT});
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{in}))
      .record(transferAtCompute)
      .record(std::make_shared<OpAlgoDispatch>(algorithm))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{out}));
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{3, 6}));
}

TEST_F(OpMemoryBarrierTest, BadTensorsAreRejected) {
  auto host = Tensor::create(device_, std::vector<float>{1}, TensorType::kHost);
  auto dev = Tensor::create(device_, std::vector<float>{1});
  const VkAccessFlags read = VK_ACCESS_SHADER_READ_BIT;
  const VkPipelineStageFlags compute = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  expectError([&] { OpMemoryBarrier({}, read, read, compute, compute); },
              ErrorCode::kInvalidArgument, "OpMemoryBarrier: tensors is empty");
  expectError(
      [&] {
        OpMemoryBarrier({dev, nullptr}, read, read, compute, compute);
      },
      ErrorCode::kInvalidArgument, "OpMemoryBarrier: tensors[1] is null");
  expectError(
      [&] {
        OpMemoryBarrier({dev, host}, read, read, compute, compute, false);
      },
      ErrorCode::kInvalidArgument,
      "OpMemoryBarrier: barrier_on_primary is false but a tensor has no staging buffer");
  auto barrier = std::make_shared<OpMemoryBarrier>(std::vector{dev}, read, read, compute, compute);
  auto sequence = Sequence::create(device_);
  sequence->record(barrier);
  sequence->eval();
  dev->destroy();
  expectError([&] { barrier->checkUsable(); }, ErrorCode::kFailedPrecondition,
              "OpMemoryBarrier: tensors[0] was destroyed");
  expectError([&] { sequence->eval(); }, ErrorCode::kFailedPrecondition, "was destroyed");
  expectError([&] { OpMemoryBarrier({dev}, read, read, compute, compute); },
              ErrorCode::kFailedPrecondition, "tensors[0] was destroyed");
}

}  // namespace
}  // namespace kp::engine::test
