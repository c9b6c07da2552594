// inspectInterface / checkInterface: what a module declares, and Algorithm::create refusing a
// module whose interface its tensors, constants or the device's limits do not satisfy.
#include <gmock/gmock.h>

#include "test_environment.h"

namespace kp::engine::test {
namespace {

// Uses bindings 0 and 2 (binding 3 is declared but unused), a 12-byte push-constant block, a
// float and a uint specialisation constant, and 4 x 2 x 1 invocations with 256 bytes of shared
// memory.
constexpr const char* kInterfaceShader = R"(#version 450
layout(local_size_x = 4, local_size_y = 2) in;
layout(constant_id = 0) const float scale = 1.0;
layout(constant_id = 1) const uint offset = 0;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 2) buffer C { float c[]; };
layout(set = 0, binding = 3) buffer Unused { float unused[]; };
layout(push_constant) uniform Push { float x; float y; float z; } push;
shared float scratch[64];
void main() {
  uint i = gl_LocalInvocationIndex;
  scratch[i] = a[i];
  barrier();
  c[i + offset] = scratch[i] * scale + push.x + push.y + push.z;
}
)";

// Local size x comes from specialisation constant 0.
constexpr const char* kLocalSizeFromSpec = R"(#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] = 1.0; }
)";

class SpirvInterfaceTest : public EngineTest {
 protected:
  std::shared_ptr<Tensor> tensor() { return Tensor::create(device_, std::vector<float>(8, 1.0f)); }
};

TEST_F(SpirvInterfaceTest, ReadsWhatTheModuleDeclares) {
  const SpirvInterface interface = inspectInterface(compile(kInterfaceShader));
  std::vector<uint32_t> bindings;
  for (const auto& resource : interface.resources) {
    EXPECT_EQ(resource.set, 0u);
    EXPECT_TRUE(resource.storageBuffer) << resource.kind;
    bindings.push_back(resource.binding);
  }
  EXPECT_THAT(bindings, ::testing::UnorderedElementsAre(0u, 2u)) << "binding 3 is unused";
  EXPECT_EQ(interface.pushConstantBytes, 12u);
  ASSERT_EQ(interface.specConstants.size(), 2u);
  EXPECT_EQ(interface.specConstants.at(0).bytes, 4u);
  EXPECT_EQ(interface.specConstants.at(0).type, "32-bit float");
  EXPECT_EQ(interface.specConstants.at(1).type, "32-bit integer");
  EXPECT_EQ(interface.localSize, (std::array<uint64_t, 3>{4, 2, 1}));
  EXPECT_FALSE(interface.localSizeSpecialised);
  EXPECT_EQ(interface.workgroupMemoryBytes, 256u);
}

TEST_F(SpirvInterfaceTest, MatchingAlgorithmIsBuiltAndRuns) {
  auto a = tensor(), b = tensor(), c = tensor();
  auto algorithm = Algorithm::create(device_, {a, b, c}, compile(kInterfaceShader),
                                     Workgroup{1, 1, 1}, Constants::of(std::vector<float>{2.0f}),
                                     Constants::of(std::vector<float>{0.5f, 0.25f, 0.25f, 99.0f}));
  evalOnce({std::make_shared<OpAlgoDispatch>(algorithm),
            std::make_shared<OpTensorSyncLocal>(std::vector{c})});
  EXPECT_EQ(c->vector<float>(), std::vector<float>(8, 3.0f));
}

TEST_F(SpirvInterfaceTest, BindingBeyondTheTensorsIsRefused) {
  auto a = tensor(), b = tensor();
  expectError(
      [&] {
        Algorithm::create(device_, {a, b}, compile(kInterfaceShader), {}, {},
                          Constants::of(std::vector<float>{0, 0, 0}));
      },
      ErrorCode::kInvalidArgument,
      "tensors: the shader uses binding 2 but the algorithm binds 2 tensor(s) (bindings 0..1)");
}

TEST_F(SpirvInterfaceTest, FewerPushConstantsThanTheBlockAreAccepted) {
  // As Kompute: the range still covers the shader's block, the rest pushed as zeros.
  auto a = tensor(), b = tensor(), c = tensor();
  const auto spirv = compile(kInterfaceShader);
  EXPECT_EQ(Algorithm::create(device_, {a, b, c}, spirv)->pushConstantSize(), 12u);
  EXPECT_EQ(Algorithm::create(device_, {a, b, c}, spirv, {}, {},
                              Constants::of(std::vector<float>{1, 2}))
                ->pushConstantSize(),
            12u);
  EXPECT_EQ(Algorithm::create(device_, {a, b, c}, spirv, {}, {},
                              Constants::of(std::vector<float>{1, 2, 3, 4}))
                ->pushConstantSize(),
            16u);
}

TEST_F(SpirvInterfaceTest, SpecConstantsMustHaveTheShadersTypes) {
  auto a = tensor(), b = tensor(), c = tensor();
  expectError(
      [&] {
        Algorithm::create(device_, {a, b, c}, compile(kInterfaceShader), {},
                          Constants::of(std::vector<double>{2.0}),
                          Constants::of(std::vector<float>{0, 0, 0}));
      },
      ErrorCode::kInvalidArgument,
      "spec_constants: constant_id 0 is a 32-bit float (4 bytes) in the shader, but the float64 "
      "values given are 8 bytes each");
}

TEST_F(SpirvInterfaceTest, LocalSizeFromSpecConstantIsChecked) {
  auto a = tensor();
  const auto spirv = compile(kLocalSizeFromSpec);
  EXPECT_TRUE(
      inspectInterface(spirv, Constants::of(std::vector<uint32_t>{8})).localSizeSpecialised);
  EXPECT_EQ(inspectInterface(spirv, Constants::of(std::vector<uint32_t>{8})).localSize[0], 8u);
  EXPECT_NO_THROW(Algorithm::create(device_, {a}, spirv, Workgroup{1, 1, 1},
                                    Constants::of(std::vector<uint32_t>{8})));
  const uint32_t tooMany = device_->info().maxWorkGroupSize[0] + 1;
  expectError(
      [&] {
        Algorithm::create(device_, {a}, spirv, Workgroup{1, 1, 1},
                          Constants::of(std::vector<uint32_t>{tooMany}));
      },
      ErrorCode::kInvalidArgument,
      "spec_constants: the shader's local size x = " + std::to_string(tooMany) + " exceeds");
  expectError(
      [&] {
        Algorithm::create(device_, {a}, spirv, Workgroup{1, 1, 1},
                          Constants::of(std::vector<uint32_t>{0}));
      },
      ErrorCode::kInvalidArgument, "spec_constants: the shader's local size x is 0");
}

TEST_F(SpirvInterfaceTest, SharedMemoryBeyondTheDeviceLimitIsRefused) {
  auto a = tensor();
  const uint32_t floats = device_->info().maxComputeSharedMemorySize / 4 + 1;
  const std::string shader = R"(#version 450
layout(local_size_x = 1) in;
shared float scratch[)" + std::to_string(floats) +
                             R"(];
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { scratch[gl_LocalInvocationIndex] = a[0]; barrier(); a[1] = scratch[0]; }
)";
  expectError(
      [&] {
        Algorithm::create(device_, {a}, compile(shader), Workgroup{1, 1, 1});
      },
      ErrorCode::kInvalidArgument,
      "spirv: the shader's shared (Workgroup) variables take " + std::to_string(floats * 4) +
          " bytes");
}

TEST_F(SpirvInterfaceTest, CapabilitiesKpdDoesNotEnableAreRefused) {
  const auto spirv = compile(R"(#version 450
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { float16_t h = float16_t(a[0]); a[0] = float(h * h); }
)");
  expectError([&] { SpirvValidator(device_->info()).validate(spirv); }, ErrorCode::kInvalidArgument,
              "spirv uses capability Float16, which kpd does not enable on device");
}

}  // namespace
}  // namespace kp::engine::test
