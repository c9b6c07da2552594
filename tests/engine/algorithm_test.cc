// Algorithms with custom GLSL shaders: push constants, specialisation constants, workgroups,
// argument checks and the pipeline cache.
#include "test_environment.h"

namespace kp::engine::test {
namespace {

// Adds three push constants of GLSL type `type` to data[0..2].
std::string addPushConstantsShader(const std::string& type) {
  return R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data { )" +
         type + R"( data[]; };
layout(push_constant) uniform PushConstants { )" +
         type + " x; " + type + " y; " + type + R"( z; } pc;
void main() {
  data[0] += pc.x;
  data[1] += pc.y;
  data[2] += pc.z;
}
)";
}

// data[int(pc.index)] = pc.value: each dispatch writes the slot its push constants name.
constexpr const char* kWriteSlotShader = R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data { float data[]; };
layout(push_constant) uniform PushConstants { float index; float value; } pc;
void main() {
  data[int(pc.index)] = pc.value;
}
)";

// out[i] = in[i] * 2 (one invocation per element).
constexpr const char* kDoubleShader = R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer In { float inValues[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float outValues[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  outValues[i] = inValues[i] * 2.0;
}
)";

class AlgorithmTest : public EngineTest {
 protected:
  // Evaluates `ops` followed by a download of `tensor`.
  void run(const std::vector<std::shared_ptr<Op>>& ops, const std::shared_ptr<Tensor>& tensor) {
    auto sequence = Sequence::create(device_);
    for (const auto& op : ops) sequence->record(op);
    sequence->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
    sequence->eval();
  }

  template <typename T>
  void checkPushConstants(const std::string& glslType, std::vector<T> initial, std::vector<T> first,
                          std::vector<T> second, std::vector<T> expected) {
    std::shared_ptr<Tensor> tensor = Tensor::create(device_, initial);
    auto algorithm = Algorithm::create(device_, {tensor}, compile(addPushConstantsShader(glslType)),
                                       Workgroup{1, 1, 1}, {}, Constants::of(first));
    EXPECT_EQ(algorithm->pushConstantSize(), 3 * sizeof(T));
    EXPECT_EQ(algorithm->pushConstants().type, dataTypeOf<T>());
    // Once with the defaults, once with an override.
    run({std::make_shared<OpAlgoDispatch>(algorithm),
         std::make_shared<OpAlgoDispatch>(algorithm, Constants::of(second))},
        tensor);
    EXPECT_EQ(tensor->vector<T>(), expected);
  }
};

TEST_F(AlgorithmTest, PushConstantsFloat32) {
  checkPushConstants<float>("float", {1, 2, 3}, {0.5f, 1.5f, 2.5f}, {10, 20, 30},
                            {11.5f, 23.5f, 35.5f});
}

TEST_F(AlgorithmTest, PushConstantsInt32) {
  checkPushConstants<int32_t>("int", {100, -100, 0}, {-1, 2, -3}, {-1000, 4, 2147483000},
                              {-901, -94, 2147482997});
}

TEST_F(AlgorithmTest, PushConstantsUInt32) {
  checkPushConstants<uint32_t>("uint", {1, 2, 4000000000u}, {7, 8, 9}, {10, 20, 100000000},
                               {18, 30, 4100000009u});
}

TEST_F(AlgorithmTest, PushConstantsFloat64) {
  ASSERT_TRUE(device_->info().shaderFloat64);
  checkPushConstants<double>("double", {1.0e10, 0.1, -2}, {1.0e-6, 0.2, 0.25}, {3, 0.3, 4},
                             {1.0e10 + 1.0e-6 + 3, 0.1 + 0.2 + 0.3, -2 + 0.25 + 4});
}

TEST_F(AlgorithmTest, PerRecordPushConstantOverrides) {
  auto tensor = Tensor::create(device_, std::vector<float>{0, 0, 0, 0});
  auto algorithm = Algorithm::create(device_, {tensor}, compile(kWriteSlotShader),
                                     Workgroup{1, 1, 1}, {}, Constants::of<float>({3, 9}));
  run({std::make_shared<OpAlgoDispatch>(algorithm, Constants::of<float>({0, 5})),
       std::make_shared<OpAlgoDispatch>(algorithm, Constants::of<float>({1, 7})),
       std::make_shared<OpAlgoDispatch>(algorithm)},
      tensor);
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{5, 7, 0, 9}));
  // Overrides do not change the algorithm's defaults.
  EXPECT_EQ(algorithm->pushConstants().bytes, Constants::of<float>({3, 9}).bytes);
}

TEST_F(AlgorithmTest, SetPushConstantsChangesDefaultsForNewRecords) {
  auto tensor = Tensor::create(device_, std::vector<float>{0, 0, 0});
  auto algorithm = Algorithm::create(device_, {tensor}, compile(kWriteSlotShader),
                                     Workgroup{1, 1, 1}, {}, Constants::of<float>({0, 1}));
  algorithm->setPushConstants(Constants::of<float>({2, 42}));
  EXPECT_EQ(algorithm->pushConstants().bytes, Constants::of<float>({2, 42}).bytes);
  run({std::make_shared<OpAlgoDispatch>(algorithm)}, tensor);
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{0, 0, 42}));

  // A recorded sequence keeps the push constants it was recorded with until it is re-recorded.
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(algorithm))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
  sequence->eval();
  algorithm->setPushConstants(Constants::of<float>({1, 13}));
  sequence->rerecord();
  sequence->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{0, 13, 42}));
}

TEST_F(AlgorithmTest, WrongPushConstantSizeIsInvalidArgument) {
  auto tensor = Tensor::create(device_, std::vector<float>{0, 0, 0});
  auto algorithm = Algorithm::create(device_, {tensor}, compile(addPushConstantsShader("float")),
                                     Workgroup{1, 1, 1}, {}, Constants::of<float>({1, 2, 3}));
  expectError(
      [&] {
        OpAlgoDispatch(algorithm, Constants::of<float>({1, 2}));
      },
      ErrorCode::kInvalidArgument,
      "push_constants: 8 bytes given, but the algorithm was created with 12 bytes");
  expectError(
      [&] {
        OpAlgoDispatch(algorithm, Constants::of<double>({1, 2, 3}));
      },
      ErrorCode::kInvalidArgument, "24 bytes given");
  expectError([&] { OpAlgoDispatch(algorithm, Constants{}); }, ErrorCode::kInvalidArgument,
              "0 bytes given");
  expectError(
      [&] {
        algorithm->setPushConstants(Constants::of<float>({1, 2, 3, 4}));
      },
      ErrorCode::kInvalidArgument, "16 bytes given, but the algorithm was created with 12");
  // The defaults survive a rejected update.
  EXPECT_EQ(algorithm->pushConstants().bytes, Constants::of<float>({1, 2, 3}).bytes);
  run({std::make_shared<OpAlgoDispatch>(algorithm)}, tensor);
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{1, 2, 3}));
}

TEST_F(AlgorithmTest, PushConstantsBeyondDeviceLimitAreRejected) {
  auto tensor = Tensor::create(device_, std::vector<float>{0});
  const uint32_t limit = device_->info().maxPushConstantsSize;
  std::vector<float> tooMany(limit / 4 + 1, 1.0f);
  expectError(
      [&] {
        Algorithm::create(device_, {tensor}, compile(kWriteSlotShader), Workgroup{1, 1, 1}, {},
                          Constants::of(tooMany));
      },
      ErrorCode::kInvalidArgument,
      "push_constants: " + std::to_string(tooMany.size() * 4) +
          " bytes exceeds the device's maxPushConstantsSize of " + std::to_string(limit));
  Constants ragged;
  ragged.type = DataType::kFloat64;
  ragged.bytes.assign(12, 0);
  expectError(
      [&] {
        Algorithm::create(device_, {tensor}, compile(kWriteSlotShader), Workgroup{1, 1, 1}, {},
                          ragged);
      },
      ErrorCode::kInvalidArgument, "push_constants: 12 bytes is not a whole number of float64");
  expectError(
      [&] {
        Algorithm::create(device_, {tensor}, compile(kWriteSlotShader), Workgroup{1, 1, 1}, ragged);
      },
      ErrorCode::kInvalidArgument, "spec_constants: 12 bytes is not a whole number of float64");
}

TEST_F(AlgorithmTest, SpecialisationConstantsFloat) {
  const std::string shader = R"(#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float c0 = 0;
layout(constant_id = 1) const float c1 = 0;
layout(set = 0, binding = 0) buffer Data { float data[]; };
void main() {
  data[0] = c0;
  data[1] = c1;
  data[2] = c0 * c1;
}
)";
  auto tensor = Tensor::create(device_, std::vector<float>{0, 0, 0});
  auto algorithm = Algorithm::create(device_, {tensor}, compile(shader), Workgroup{1, 1, 1},
                                     Constants::of<float>({1.5f, -4.0f}));
  EXPECT_EQ(algorithm->specConstants().count(), 2u);
  run({std::make_shared<OpAlgoDispatch>(algorithm)}, tensor);
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{1.5f, -4.0f, -6.0f}));

  // Without specialisation constants the shader's defaults apply.
  auto defaults = Tensor::create(device_, std::vector<float>{9, 9, 9});
  auto plain = Algorithm::create(device_, {defaults}, compile(shader), Workgroup{1, 1, 1});
  run({std::make_shared<OpAlgoDispatch>(plain)}, defaults);
  EXPECT_EQ(defaults->vector<float>(), (std::vector<float>{0, 0, 0}));
}

TEST_F(AlgorithmTest, SpecialisationConstantsIntAndUInt) {
  auto ints = Tensor::create(device_, std::vector<int32_t>{0, 0});
  auto intAlgorithm = Algorithm::create(device_, {ints}, compile(R"(#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const int c0 = 0;
layout(constant_id = 1) const int c1 = 0;
layout(set = 0, binding = 0) buffer Data { int data[]; };
void main() {
  data[0] = c0;
  data[1] = c0 + c1;
}
)"),
                                        Workgroup{1, 1, 1}, Constants::of<int32_t>({-7, 100}));
  auto uints = Tensor::create(device_, std::vector<uint32_t>{0, 0});
  auto uintAlgorithm =
      Algorithm::create(device_, {uints}, compile(R"(#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const uint c0 = 0;
layout(constant_id = 1) const uint c1 = 0;
layout(set = 0, binding = 0) buffer Data { uint data[]; };
void main() {
  data[0] = c0;
  data[1] = c1;
}
)"),
                        Workgroup{1, 1, 1}, Constants::of<uint32_t>({4000000000u, 17u}));
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(intAlgorithm))
      .record(std::make_shared<OpAlgoDispatch>(uintAlgorithm))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{ints, uints}));
  sequence->eval();
  EXPECT_EQ(ints->vector<int32_t>(), (std::vector<int32_t>{-7, 93}));
  EXPECT_EQ(uints->vector<uint32_t>(), (std::vector<uint32_t>{4000000000u, 17u}));
}

TEST_F(AlgorithmTest, SpecialisationConstantsBoolAndDouble) {
  auto tensor = Tensor::create(device_, std::vector<uint32_t>{0, 0});
  auto algorithm = Algorithm::create(device_, {tensor}, compile(R"(#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const bool first = false;
layout(constant_id = 1) const bool second = true;
layout(set = 0, binding = 0) buffer Data { uint data[]; };
void main() {
  data[0] = first ? 11u : 22u;
  data[1] = second ? 33u : 44u;
}
)"),
                                     Workgroup{1, 1, 1}, Constants::of<bool>({true, false}));
  run({std::make_shared<OpAlgoDispatch>(algorithm)}, tensor);
  EXPECT_EQ(tensor->vector<uint32_t>(), (std::vector<uint32_t>{11, 44}));

  auto doubles = Tensor::create(device_, std::vector<double>{0, 0});
  auto doubleAlgorithm =
      Algorithm::create(device_, {doubles}, compile(R"(#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const double c0 = 0;
layout(constant_id = 1) const double c1 = 0;
layout(set = 0, binding = 0) buffer Data { double data[]; };
void main() {
  data[0] = c0;
  data[1] = c1;
}
)"),
                        Workgroup{1, 1, 1}, Constants::of<double>({1.0 / 3.0, -1.0e200}));
  run({std::make_shared<OpAlgoDispatch>(doubleAlgorithm)}, doubles);
  EXPECT_EQ(doubles->vector<double>(), (std::vector<double>{1.0 / 3.0, -1.0e200}));
}

TEST_F(AlgorithmTest, TwoDimensionalWorkgroupGrid) {
  auto tensor = Tensor::create(device_, DataType::kUInt32, 128, TensorType::kDevice);
  auto algorithm = Algorithm::create(device_, {tensor}, compile(R"(#version 450
layout(local_size_x = 1, local_size_y = 1) in;
layout(set = 0, binding = 0) buffer Data { uint data[]; };
void main() {
  uint index = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 16;
  data[index] = index;
}
)"),
                                     Workgroup{16, 8, 1});
  EXPECT_EQ(algorithm->workgroup().x, 16u);
  EXPECT_EQ(algorithm->workgroup().y, 8u);
  EXPECT_EQ(algorithm->workgroup().z, 1u);
  run({std::make_shared<OpAlgoDispatch>(algorithm)}, tensor);
  std::vector<uint32_t> expected(128);
  for (uint32_t i = 0; i < 128; ++i) expected[i] = i;
  EXPECT_EQ(tensor->vector<uint32_t>(), expected);
}

TEST_F(AlgorithmTest, DefaultWorkgroupIsFirstTensorSize) {
  auto in = Tensor::create(device_, std::vector<float>{1, 2, 3, 4, 5});
  auto out = Tensor::create(device_, DataType::kFloat32, 5, TensorType::kDevice);
  auto algorithm = Algorithm::create(device_, {in, out}, compile(kDoubleShader));
  EXPECT_EQ(algorithm->workgroup().x, 5u);
  EXPECT_EQ(algorithm->workgroup().y, 1u);
  EXPECT_EQ(algorithm->workgroup().z, 1u);
  EXPECT_EQ(algorithm->tensors(), (std::vector{in, out}));
  run({std::make_shared<OpAlgoDispatch>(algorithm)}, out);
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{2, 4, 6, 8, 10}));
}

TEST_F(AlgorithmTest, DispatchWorkgroupOverridesTheAlgorithmsForThatRecordOnly) {
  auto in = Tensor::create(device_, std::vector<float>{1, 2, 3, 4, 5});
  auto out = Tensor::create(device_, DataType::kFloat32, 5, TensorType::kDevice);
  auto algorithm = Algorithm::create(device_, {in, out}, compile(kDoubleShader));
  // Two workgroups: only out[0] and out[1] are written; the algorithm keeps its own five.
  run({std::make_shared<OpAlgoDispatch>(algorithm, std::nullopt, Workgroup{2, 0, 0})}, out);
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{2, 4, 0, 0, 0}));
  EXPECT_EQ(algorithm->workgroup().x, 5u);
  // Zeros take the defaults: x = the size of tensors[0].
  run({std::make_shared<OpAlgoDispatch>(algorithm, std::nullopt, Workgroup{})}, out);
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{2, 4, 6, 8, 10}));
}

TEST_F(AlgorithmTest, DispatchWorkgroupOverTheLimitIsInvalidArgument) {
  auto tensor = Tensor::create(device_, std::vector<float>{1, 2});
  auto algorithm = Algorithm::create(
      device_, {tensor, Tensor::create(device_, std::vector<float>{0, 0})}, compile(kDoubleShader));
  const uint32_t limit = device_->info().maxWorkGroupCount[2];
  if (limit == UINT32_MAX) GTEST_SKIP() << "the device allows every 32-bit workgroup count";
  expectError(
      [&] {
        OpAlgoDispatch(algorithm, std::nullopt, Workgroup{1, 1, limit + 1});
      },
      ErrorCode::kInvalidArgument,
      "workgroup.z = " + std::to_string(limit + 1ull) +
          " exceeds the device's maxComputeWorkGroupCount[2] = " + std::to_string(limit));
}

TEST_F(AlgorithmTest, TensorBoundTwiceIsInvalidArgument) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto b = Tensor::create(device_, std::vector<float>{1, 2});
  expectError(
      [&] {
        Algorithm::create(device_, {a, a}, compile(kDoubleShader));
      },
      ErrorCode::kInvalidArgument,
      "tensors[1] is the same tensor as tensors[0]: a tensor can be bound only once");
  expectError(
      [&] {
        Algorithm::create(device_, {a, b, a}, compile(kDoubleShader));
      },
      ErrorCode::kInvalidArgument, "tensors[2] is the same tensor as tensors[0]");
}

TEST_F(AlgorithmTest, WorkgroupBeyondDeviceLimitsIsInvalidArgument) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto b = Tensor::create(device_, std::vector<float>{1, 2});
  const auto& limits = device_->info().maxWorkGroupCount;
  const std::vector<uint32_t> spirv = compile(kDoubleShader);
  const char* axes[3] = {"x", "y", "z"};
  for (int axis = 0; axis < 3; ++axis) {
    if (limits[axis] == UINT32_MAX) continue;  // nothing is beyond it
    uint32_t counts[3] = {1, 1, 1};
    counts[axis] = limits[axis] + 1;
    expectError(
        [&] {
          Algorithm::create(device_, {a, b}, spirv, Workgroup{counts[0], counts[1], counts[2]});
        },
        ErrorCode::kInvalidArgument,
        std::string("workgroup.") + axes[axis] + " = " + std::to_string(counts[axis]) +
            " exceeds the device's maxComputeWorkGroupCount[" + std::to_string(axis) + "]");
  }
  // Exactly at the limit is accepted.
  auto algorithm = Algorithm::create(device_, {a, b}, spirv, Workgroup{1, limits[1], 1});
  EXPECT_EQ(algorithm->workgroup().y, limits[1]);
}

TEST_F(AlgorithmTest, BadArgumentsAreRejected) {
  auto a = Tensor::create(device_, std::vector<float>{1, 2});
  auto b = Tensor::create(device_, std::vector<float>{1, 2});
  const std::vector<uint32_t> spirv = compile(kDoubleShader);
  expectError(
      [&] {
        Algorithm::create(device_, {a, b}, {});
      },
      ErrorCode::kInvalidArgument, "spirv is empty");
  expectError(
      [&] {
        Algorithm::create(device_, {a, nullptr}, spirv);
      },
      ErrorCode::kInvalidArgument, "tensors[1] is null");
  expectError([&] { Algorithm::create(device_, {}, spirv); }, ErrorCode::kInvalidArgument,
              "workgroup.x is 0 and there is no tensor to take the default size from");

  auto other = Device::open(instance(), 0);
  auto foreign = Tensor::create(other, std::vector<float>{1, 2});
  expectError(
      [&] {
        Algorithm::create(device_, {a, foreign}, spirv);
      },
      ErrorCode::kInvalidArgument, "tensors[1] belongs to another device");
  foreign.reset();

  b->destroy();
  expectError(
      [&] {
        Algorithm::create(device_, {a, b}, spirv);
      },
      ErrorCode::kFailedPrecondition, "tensors[1] was destroyed");
}

TEST_F(AlgorithmTest, DestroyedAlgorithmCannotBeDispatched) {
  auto in = Tensor::create(device_, std::vector<float>{1, 2});
  auto out = Tensor::create(device_, std::vector<float>{0, 0});
  auto algorithm = Algorithm::create(device_, {in, out}, compile(kDoubleShader));
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(algorithm))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{out}));
  sequence->eval();
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{2, 4}));
  ASSERT_TRUE(algorithm->isInit());

  algorithm->destroy();
  EXPECT_FALSE(algorithm->isInit());
  algorithm->destroy();  // idempotent
  EXPECT_FALSE(algorithm->isInit());
  expectError([&] { algorithm->checkUsable(); }, ErrorCode::kFailedPrecondition,
              "the algorithm was destroyed");
  expectError([&] { OpAlgoDispatch op(algorithm); }, ErrorCode::kFailedPrecondition,
              "the algorithm was destroyed");
  expectError([&] { sequence->eval(); }, ErrorCode::kFailedPrecondition,
              "the algorithm was destroyed");
  expectError([&] { OpAlgoDispatch op(nullptr); }, ErrorCode::kInvalidArgument,
              "OpAlgoDispatch: algorithm is null");
  // The tensors outlive the algorithm.
  EXPECT_TRUE(in->isInit());
  EXPECT_EQ(out->vector<float>(), (std::vector<float>{2, 4}));
}

TEST_F(AlgorithmTest, DispatchWithDestroyedTensorIsFailedPrecondition) {
  auto in = Tensor::create(device_, std::vector<float>{1, 2});
  auto out = Tensor::create(device_, std::vector<float>{0, 0});
  auto algorithm = Algorithm::create(device_, {in, out}, compile(kDoubleShader));
  in->destroy();
  expectError([&] { OpAlgoDispatch op(algorithm); }, ErrorCode::kFailedPrecondition,
              "the algorithm's tensors[0] was destroyed");
}

TEST_F(AlgorithmTest, PipelineCacheSharesPipelines) {
  PipelineCache& cache = device_->pipelines();
  // out[i] = in[i] * factor. The factor, a specialisation constant, is new in every run of
  // this test (--gtest_repeat), so the first algorithm is a miss.
  const std::vector<uint32_t> spirv = compile(R"(#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float factor = 1.0;
layout(set = 0, binding = 0) readonly buffer In { float inValues[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float outValues[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  outValues[i] = inValues[i] * factor;
}
)");
  static float run = 0;
  run += 1;
  const Constants factor = Constants::of<float>({run + 1});
  const size_t hits = cache.hits();
  const size_t misses = cache.misses();

  auto in1 = Tensor::create(device_, std::vector<float>{1, 2, 3});
  auto out1 = Tensor::create(device_, std::vector<float>{0, 0, 0});
  auto first = Algorithm::create(device_, {in1, out1}, spirv, {}, factor);
  EXPECT_EQ(cache.misses(), misses + 1);
  EXPECT_EQ(cache.hits(), hits);

  auto in2 = Tensor::create(device_, std::vector<float>{10, 20, 30});
  auto out2 = Tensor::create(device_, std::vector<float>{0, 0, 0});
  auto second = Algorithm::create(device_, {in2, out2}, spirv, {}, factor);
  EXPECT_EQ(cache.hits(), hits + 1);
  EXPECT_EQ(cache.misses(), misses + 1);

  // Different specialisation constants shape a different pipeline.
  auto in3 = Tensor::create(device_, std::vector<float>{1, 2, 3});
  auto out3 = Tensor::create(device_, std::vector<float>{0, 0, 0});
  auto third =
      Algorithm::create(device_, {in3, out3}, spirv, {}, Constants::of<float>({run + 0.5f}));
  EXPECT_EQ(cache.hits(), hits + 1);
  EXPECT_EQ(cache.misses(), misses + 2);
  EXPECT_GE(cache.size(), 2u);

  // The shared pipeline still binds each algorithm's own tensors.
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(first))
      .record(std::make_shared<OpAlgoDispatch>(second))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{out1, out2}));
  sequence->eval();
  const float f = run + 1;
  EXPECT_EQ(out1->vector<float>(), (std::vector<float>{1 * f, 2 * f, 3 * f}));
  EXPECT_EQ(out2->vector<float>(), (std::vector<float>{10 * f, 20 * f, 30 * f}));
}

TEST_F(AlgorithmTest, ConstantsPacking) {
  Constants floats = Constants::of<float>({1.0f, 2.0f});
  EXPECT_EQ(floats.type, DataType::kFloat32);
  EXPECT_EQ(floats.count(), 2u);
  EXPECT_EQ(floats.bytes.size(), 8u);
  Constants bools = Constants::of<bool>({true, false, true});
  EXPECT_EQ(bools.type, DataType::kBool);
  EXPECT_EQ(bools.bytes, (std::vector<uint8_t>{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(bools.count(), 3u);
  Constants doubles = Constants::of<double>({1.0});
  EXPECT_EQ(doubles.count(), 1u);
  EXPECT_EQ(doubles.bytes.size(), 8u);
  EXPECT_TRUE(Constants{}.empty());
  EXPECT_TRUE(Constants::of<int32_t>({}).empty());
}

}  // namespace
}  // namespace kp::engine::test
