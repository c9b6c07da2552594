// Sequences: record once / evaluate many, re-recording, timestamps, asynchronous evaluation,
// timeouts, threads and destruction.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <tuple>

#include "gate.h"
#include "test_environment.h"

namespace kp::engine::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// data[i] += 1 for each invocation i.
constexpr const char* kAddOneShader = R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data { float data[]; };
void main() {
  data[gl_GlobalInvocationID.x] += 1.0;
}
)";

// A shader that runs long on lavapipe: every workgroup scrambles its own element with
// `iterations` x kLongSteps xorshift steps. The loop body is unrolled because lavapipe stops any
// invocation after 65535 loop iterations in total.
constexpr int kLongSteps = 64;
constexpr uint32_t kLongIterations = 60000;
constexpr uint32_t kLongGroups = 32;  // about 0.15 s on lavapipe with 2 cores

std::string longShader() {
  std::string body;
  for (int i = 0; i < kLongSteps; ++i) body += "    x ^= x << 13; x ^= x >> 17; x ^= x << 5;\n";
  return R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data { uint data[]; };
layout(push_constant) uniform PushConstants { uint iterations; } pc;
void main() {
  uint x = data[gl_WorkGroupID.x];
  for (uint i = 0u; i < pc.iterations; ++i) {
)" + body +
         R"(  }
  data[gl_WorkGroupID.x] = x;
}
)";
}

uint32_t longResult(uint32_t x, uint32_t iterations) {
  for (uint32_t i = 0; i < iterations; ++i) {
    for (int step = 0; step < kLongSteps; ++step) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
    }
  }
  return x;
}

// Counts how often a sequence records and evaluates it; records no commands.
class CountingOp : public Op {
 public:
  explicit CountingOp(std::shared_ptr<Tensor> tensor) : tensor_(std::move(tensor)) {}
  const char* name() const override { return "CountingOp"; }
  void checkUsable() const override { checkTensors(name(), {tensor_}); }
  void record(VkCommandBuffer) const override { ++records; }
  void preEval() override { ++preEvals; }
  void postEval() override { ++postEvals; }
  std::vector<std::shared_ptr<Tensor>> tensors() const override { return {tensor_}; }

  mutable std::atomic<int> records{0};
  std::atomic<int> preEvals{0};
  std::atomic<int> postEvals{0};

 private:
  std::shared_ptr<Tensor> tensor_;
};

class SequenceTest : public EngineTest {
 protected:
  std::shared_ptr<Algorithm> addOne(const std::shared_ptr<Tensor>& tensor) {
    return Algorithm::create(device_, {tensor}, compile(kAddOneShader));
  }

  // A sequence that runs the long shader over a fresh tensor and downloads it.
  struct LongJob {
    std::shared_ptr<Tensor> tensor;
    std::shared_ptr<Sequence> sequence;
    std::vector<uint32_t> expected;
  };
  LongJob longJob(uint32_t totalTimestamps = 0) {
    static const std::vector<uint32_t> spirv = compile(longShader());
    std::vector<uint32_t> seeds(kLongGroups);
    for (uint32_t i = 0; i < kLongGroups; ++i) seeds[i] = 1 + i % 2;
    static const std::array<uint32_t, 2> results = {longResult(1, kLongIterations),
                                                    longResult(2, kLongIterations)};
    LongJob job;
    job.tensor = Tensor::create(device_, seeds);
    for (uint32_t seed : seeds) job.expected.push_back(results[seed - 1]);
    auto algorithm = Algorithm::create(device_, {job.tensor}, spirv, Workgroup{kLongGroups, 1, 1},
                                       {}, Constants::of<uint32_t>({kLongIterations}));
    job.sequence = Sequence::create(device_, 0, totalTimestamps);
    job.sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{job.tensor}))
        .record(std::make_shared<OpAlgoDispatch>(algorithm))
        .record(std::make_shared<OpTensorSyncLocal>(std::vector{job.tensor}));
    return job;
  }
};

TEST_F(SequenceTest, RecordOnceEvalMany) {
  auto tensor = Tensor::create(device_, std::vector<float>{0, 10, -3});
  auto counting = std::make_shared<CountingOp>(tensor);
  auto sequence = Sequence::create(device_);
  EXPECT_FALSE(sequence->isRecording());
  sequence->record(std::make_shared<OpAlgoDispatch>(addOne(tensor)))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}))
      .record(counting);
  EXPECT_TRUE(sequence->isRecording());
  EXPECT_EQ(sequence->ops().size(), 3u);
  EXPECT_STREQ(sequence->ops()[0]->name(), "OpAlgoDispatch");

  for (int i = 1; i <= 5; ++i) {
    sequence->eval();
    EXPECT_FALSE(sequence->isRecording());
    EXPECT_FALSE(sequence->isRunning());
    EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{1.0f * i, 10.0f + i, -3.0f + i}));
  }
  EXPECT_EQ(counting->records, 1) << "recorded once";
  EXPECT_EQ(counting->preEvals, 5);
  EXPECT_EQ(counting->postEvals, 5);
}

TEST_F(SequenceTest, ClearThenRecord) {
  auto tensor = Tensor::create(device_, std::vector<float>{0, 0});
  auto first = std::make_shared<CountingOp>(tensor);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(addOne(tensor)))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}))
      .record(first);
  sequence->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{1, 1}));

  sequence->clear();
  EXPECT_TRUE(sequence->ops().empty());
  EXPECT_FALSE(sequence->isRecording());
  sequence->eval();  // nothing to do
  EXPECT_EQ(first->preEvals, 1);

  // Only a download now: it replaces the host data set here with the GPU's values.
  tensor->setData(std::vector<float>{7, 7});
  auto second = std::make_shared<CountingOp>(tensor);
  sequence->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor})).record(second);
  EXPECT_TRUE(sequence->isRecording());
  sequence->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_EQ(second->records, 1);
  EXPECT_EQ(first->records, 1);
  EXPECT_EQ(first->postEvals, 1);
}

TEST_F(SequenceTest, Rerecord) {
  auto tensor = Tensor::create(device_, std::vector<float>{0});
  auto counting = std::make_shared<CountingOp>(tensor);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(addOne(tensor)))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}))
      .record(counting);
  sequence->rerecord();
  EXPECT_FALSE(sequence->isRecording());
  EXPECT_EQ(counting->records, 1);
  sequence->eval();
  EXPECT_EQ(counting->records, 1) << "already recorded";
  sequence->rerecord();
  EXPECT_EQ(counting->records, 2);
  sequence->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{2}));

  tensor->destroy();
  expectError([&] { sequence->rerecord(); }, ErrorCode::kFailedPrecondition, "was destroyed");
}

TEST_F(SequenceTest, RecordAfterEvalStartsNewOpList) {
  // Kompute's contract: record(a).eval() then record(b).eval() runs a, then only b.
  auto tensor = Tensor::create(device_, std::vector<float>{0});
  auto a = std::make_shared<CountingOp>(tensor);
  auto b = std::make_shared<CountingOp>(tensor);
  auto c = std::make_shared<CountingOp>(tensor);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(addOne(tensor))).record(a);
  sequence->eval();
  sequence->eval();  // no record in between: the same ops again
  EXPECT_EQ(a->preEvals, 2);

  sequence->record(b);
  EXPECT_TRUE(sequence->isRecording());
  EXPECT_EQ(sequence->ops(), (std::vector<std::shared_ptr<Op>>{b}));
  sequence->record(c);  // still recording: appends
  EXPECT_EQ(sequence->ops(), (std::vector<std::shared_ptr<Op>>{b, c}));
  sequence->eval();
  EXPECT_FALSE(sequence->isRecording());
  EXPECT_EQ(a->preEvals, 2);
  EXPECT_EQ(b->preEvals, 1);
  EXPECT_EQ(c->postEvals, 1);

  // The add-one dispatch ran only in the first two evaluations.
  auto download = Sequence::create(device_);
  download->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
  download->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{2}));
}

TEST_F(SequenceTest, RecordNullIsInvalidArgument) {
  auto sequence = Sequence::create(device_);
  expectError([&] { sequence->record(nullptr); }, ErrorCode::kInvalidArgument,
              "cannot record a null op");
  EXPECT_TRUE(sequence->ops().empty());
}

TEST_F(SequenceTest, TimestampsForEveryOp) {
  ASSERT_TRUE(device_->info().timestampsSupported);
  LongJob job = longJob(/*totalTimestamps=*/4);  // 3 ops + 1
  EXPECT_EQ(job.sequence->totalTimestamps(), 4u);
  expectError([&] { job.sequence->getTimestamps(); }, ErrorCode::kFailedPrecondition,
              "no timestamps: the sequence has no completed evaluation of its current ops");
  job.sequence->eval();
  EXPECT_EQ(job.tensor->vector<uint32_t>(), job.expected);

  const std::vector<uint64_t> timestamps = job.sequence->getTimestamps();
  ASSERT_EQ(timestamps.size(), 4u);
  EXPECT_TRUE(std::is_sorted(timestamps.begin(), timestamps.end()))
      << ::testing::PrintToString(timestamps);
  // The long dispatch (op 1) is the longest interval by far.
  const uint64_t upload = timestamps[1] - timestamps[0];
  const uint64_t dispatch = timestamps[2] - timestamps[1];
  const uint64_t download = timestamps[3] - timestamps[2];
  EXPECT_GT(dispatch, upload);
  EXPECT_GT(dispatch, download);
  EXPECT_GT(dispatch * device_->info().timestampPeriodNs, 1.0e6) << "more than 1 ms";

  // Recording after an evaluation starts a new op list; its timestamps come with its first
  // evaluation.
  job.sequence->record(std::make_shared<OpTensorSyncLocal>(std::vector{job.tensor}));
  expectError([&] { job.sequence->getTimestamps(); }, ErrorCode::kFailedPrecondition,
              "no timestamps");
  job.sequence->eval();
  EXPECT_EQ(job.sequence->getTimestamps().size(), 2u) << "one op: 2 timestamps";
}

TEST_F(SequenceTest, FewerTimestampsThanOps) {
  auto tensor = Tensor::create(device_, std::vector<float>{0});
  auto algorithm = addOne(tensor);
  for (uint32_t total : {1u, 2u, 3u, 10u}) {
    SCOPED_TRACE(total);
    auto sequence = Sequence::create(device_, 0, total);
    for (int i = 0; i < 4; ++i) sequence->record(std::make_shared<OpAlgoDispatch>(algorithm));
    sequence->eval();
    const std::vector<uint64_t> timestamps = sequence->getTimestamps();
    EXPECT_EQ(timestamps.size(), std::min<size_t>(total, 5));
    EXPECT_TRUE(std::is_sorted(timestamps.begin(), timestamps.end()));
    EXPECT_GT(timestamps.front(), 0u);
  }
  auto sync = Sequence::create(device_);
  sync->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
  sync->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{16}));
  // Without total_timestamps there are none.
  EXPECT_EQ(sync->totalTimestamps(), 0u);
  expectError([&] { sync->getTimestamps(); }, ErrorCode::kFailedPrecondition,
              "timestamps are not enabled: create the sequence with total_timestamps > 0");
}

TEST_F(SequenceTest, EvalAsyncThenAwait) {
  LongJob job = longJob();
  auto counting = std::make_shared<CountingOp>(job.tensor);
  job.sequence->record(counting);
  EXPECT_TRUE(job.sequence->evalAwait()) << "nothing running: true at once";
  job.sequence->evalAsync();
  EXPECT_TRUE(job.sequence->isRunning());
  EXPECT_EQ(counting->preEvals, 1);
  EXPECT_EQ(counting->postEvals, 0) << "postEval waits for the await";
  EXPECT_TRUE(job.sequence->evalAwait());
  EXPECT_FALSE(job.sequence->isRunning());
  EXPECT_FALSE(job.sequence->isExecuting());
  EXPECT_EQ(counting->postEvals, 1);
  EXPECT_EQ(job.tensor->vector<uint32_t>(), job.expected);
  EXPECT_TRUE(job.sequence->evalAwait());
  EXPECT_EQ(counting->postEvals, 1) << "a second await does nothing";
}

TEST_F(SequenceTest, RunningSequenceRejectsChanges) {
  LongJob job = longJob();
  job.sequence->evalAsync();
  ASSERT_TRUE(job.sequence->isRunning());
  expectError([&] { job.sequence->evalAsync(); }, ErrorCode::kFailedPrecondition,
              "cannot evaluate: the sequence is running (await it first with eval_await)");
  expectError([&] { job.sequence->eval(); }, ErrorCode::kFailedPrecondition,
              "the sequence is running");
  expectError(
      [&] { job.sequence->record(std::make_shared<OpTensorSyncLocal>(std::vector{job.tensor})); },
      ErrorCode::kFailedPrecondition, "cannot record an op: the sequence is running");
  expectError([&] { job.sequence->clear(); }, ErrorCode::kFailedPrecondition,
              "cannot clear: the sequence is running");
  expectError([&] { job.sequence->rerecord(); }, ErrorCode::kFailedPrecondition,
              "cannot rerecord: the sequence is running");
  EXPECT_EQ(job.sequence->ops().size(), 3u);
  EXPECT_TRUE(job.sequence->evalAwait());
  EXPECT_EQ(job.tensor->vector<uint32_t>(), job.expected);
}

TEST_F(SequenceTest, AwaitWithShortTimeout) {
  Gate gate(device_);
  auto counting = std::make_shared<CountingOp>(gate.flags());
  gate.sequence()->record(counting);
  ASSERT_TRUE(gate.close());
  // The gate holds the work: had the timeout not been honoured, this would wait until it gave up
  // and then report success.
  EXPECT_FALSE(gate.sequence()->evalAwait(1000));  // 1 us
  EXPECT_TRUE(gate.sequence()->isRunning());
  EXPECT_TRUE(gate.sequence()->isExecuting());
  EXPECT_EQ(counting->postEvals, 0);
  expectError([&] { gate.sequence()->evalAsync(); }, ErrorCode::kFailedPrecondition,
              "the sequence is running");

  gate.open();
  EXPECT_TRUE(gate.sequence()->evalAwait());
  EXPECT_FALSE(gate.sequence()->isRunning());
  EXPECT_EQ(counting->postEvals, 1);
  EXPECT_TRUE(gate.held());
}

TEST_F(SequenceTest, TwoSequencesOnTwoThreads) {
  constexpr int kIterations = 100;
  auto work = [&](float scale, std::atomic<int>& mismatches) {
    auto lhs = Tensor::create(device_, DataType::kFloat32, 64, TensorType::kDevice);
    auto rhs = Tensor::create(device_, DataType::kFloat32, 64, TensorType::kDevice);
    auto out = Tensor::create(device_, DataType::kFloat32, 64, TensorType::kHost);
    auto sequence = Sequence::create(device_);
    sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{lhs, rhs}))
        .record(std::make_shared<OpMult>(std::vector{lhs, rhs, out}));
    std::vector<float> a(64), b(64), expected(64);
    for (int iteration = 0; iteration < kIterations; ++iteration) {
      for (int i = 0; i < 64; ++i) {
        a[i] = scale * static_cast<float>(iteration);
        b[i] = static_cast<float>(i);
        expected[i] = a[i] * b[i];
      }
      lhs->setData(a);
      rhs->setData(b);
      sequence->eval();
      if (out->vector<float>() != expected) ++mismatches;
    }
  };
  std::atomic<int> mismatches1{0}, mismatches2{0};
  std::thread first(work, 1.0f, std::ref(mismatches1));
  std::thread second(work, -3.0f, std::ref(mismatches2));
  first.join();
  second.join();
  EXPECT_EQ(mismatches1, 0);
  EXPECT_EQ(mismatches2, 0);
}

TEST_F(SequenceTest, LongSequencesRunConcurrently) {
  LongJob first = longJob();
  LongJob second = longJob();
  first.sequence->evalAsync();
  second.sequence->evalAsync();
  EXPECT_TRUE(first.sequence->isRunning());
  EXPECT_TRUE(second.sequence->isRunning());
  std::thread awaitFirst([&] { first.sequence->evalAwait(); });
  EXPECT_TRUE(second.sequence->evalAwait());
  awaitFirst.join();
  EXPECT_EQ(first.tensor->vector<uint32_t>(), first.expected);
  EXPECT_EQ(second.tensor->vector<uint32_t>(), second.expected);
}

TEST_F(SequenceTest, SameSequenceAwaitedFromTwoThreads) {
  LongJob job = longJob();
  auto counting = std::make_shared<CountingOp>(job.tensor);
  job.sequence->record(counting);
  job.sequence->evalAsync();
  std::atomic<int> completed{0};
  auto await = [&] {
    if (job.sequence->evalAwait()) ++completed;
  };
  std::thread one(await);
  std::thread two(await);
  one.join();
  two.join();
  EXPECT_EQ(completed, 2);
  EXPECT_EQ(counting->postEvals, 1) << "the evaluation completes once";
  EXPECT_FALSE(job.sequence->isRunning());
  EXPECT_EQ(job.tensor->vector<uint32_t>(), job.expected);
}

TEST_F(SequenceTest, RacingEvaluationsSubmitOnce) {
  // Two threads await a running evaluation while two others try to start the next one as soon
  // as it finishes. Every evaluation that starts must be submitted once (a second submission
  // of the pending command buffer is a validation error) and complete once.
  auto tensor = Tensor::create(device_, std::vector<float>{0});
  auto counting = std::make_shared<CountingOp>(tensor);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpAlgoDispatch>(addOne(tensor))).record(counting);
  int started = 0;
  for (int round = 0; round < 200; ++round) {
    sequence->evalAsync();
    ++started;
    std::atomic<int> successes{0};
    auto awaiter = [&] { sequence->evalAwait(); };
    auto starter = [&] {
      while (sequence->isRunning() && successes == 0) {
      }
      try {
        sequence->evalAsync();
        ++successes;
      } catch (const Error& error) {
        if (error.code() != ErrorCode::kFailedPrecondition) throw;
      }
    };
    std::thread a(awaiter), b(awaiter), c(starter), d(starter);
    a.join();
    b.join();
    c.join();
    d.join();
    // At least one starter gets in; both may, when an awaiter completes the first one's
    // evaluation before the second tries.
    EXPECT_GE(successes, 1) << "round " << round;
    started += successes;
    sequence->evalAwait();
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_EQ(counting->preEvals, started);
  EXPECT_EQ(counting->postEvals, started) << "each evaluation completed once";
  auto sync = Sequence::create(device_);
  sync->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
  sync->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{static_cast<float>(started)}));
}

TEST_F(SequenceTest, DestroyRacingEvaluation) {
  // While awaiters return from an evaluation, one thread starts the next evaluation and another
  // destroys the sequence: either the evaluation starts first and destroy waits for it, or it
  // fails because the sequence was destroyed. Destroying objects of a pending submission is a
  // validation error (or a crash).
  auto tensor = Tensor::create(device_, std::vector<float>{0});
  auto algorithm = addOne(tensor);
  int started = 0;
  for (int round = 0; round < 200; ++round) {
    auto sequence = Sequence::create(device_);
    sequence->record(std::make_shared<OpAlgoDispatch>(algorithm));
    sequence->evalAsync();
    ++started;
    std::atomic<int> successes{0};
    std::atomic<int> destroyedFirst{0};
    auto awaiter = [&] { sequence->evalAwait(); };
    auto starter = [&] {
      while (sequence->isRunning()) {
      }
      try {
        sequence->evalAsync();
        ++successes;
      } catch (const Error& error) {
        if (error.code() != ErrorCode::kFailedPrecondition) throw;
        if (std::string(error.what()).find("destroyed") != std::string::npos) ++destroyedFirst;
      }
    };
    auto destroyer = [&] {
      while (sequence->isRunning() && successes == 0) {
      }
      sequence->destroy();
    };
    std::thread a(awaiter), b(awaiter), c(starter), d(destroyer);
    a.join();
    b.join();
    c.join();
    d.join();
    EXPECT_FALSE(sequence->isInit());
    EXPECT_FALSE(sequence->isRunning());
    EXPECT_EQ(successes + destroyedFirst, 1) << "round " << round;
    started += successes;
    if (::testing::Test::HasFailure()) break;
  }
  auto sync = Sequence::create(device_);
  sync->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
  sync->eval();
  EXPECT_EQ(tensor->vector<float>(), (std::vector<float>{static_cast<float>(started)}));
}

TEST_F(SequenceTest, EvalWithDestroyedTensorIsFailedPrecondition) {
  auto tensor = Tensor::create(device_, std::vector<float>{1});
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{tensor}));
  sequence->eval();
  tensor->destroy();
  expectError([&] { sequence->eval(); }, ErrorCode::kFailedPrecondition,
              "OpTensorSyncDevice: tensors[0] was destroyed");
  expectError([&] { sequence->evalAsync(); }, ErrorCode::kFailedPrecondition, "was destroyed");
  EXPECT_FALSE(sequence->isRunning());
  // Clearing the ops makes it usable again.
  sequence->clear();
  sequence->eval();
  EXPECT_FALSE(sequence->isRunning());
}

TEST_F(SequenceTest, DestroyedSequence) {
  auto tensor = Tensor::create(device_, std::vector<float>{1});
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
  sequence->eval();
  ASSERT_TRUE(sequence->isInit());
  sequence->destroy();
  EXPECT_FALSE(sequence->isInit());
  EXPECT_TRUE(sequence->ops().empty());
  sequence->destroy();  // idempotent
  EXPECT_FALSE(sequence->isInit());
  expectError([&] { sequence->eval(); }, ErrorCode::kFailedPrecondition,
              "cannot evaluate: the sequence was destroyed");
  expectError([&] { sequence->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor})); },
              ErrorCode::kFailedPrecondition, "cannot record an op: the sequence was destroyed");
  expectError([&] { sequence->clear(); }, ErrorCode::kFailedPrecondition, "was destroyed");
  EXPECT_TRUE(sequence->evalAwait());
  EXPECT_TRUE(tensor->isInit()) << "the sequence's tensors live on";
}

TEST_F(SequenceTest, DestroyWaitsForTheEvaluation) {
  Gate gate(device_);
  const auto& sequence = gate.sequence();
  ASSERT_TRUE(gate.close());
  expectError([&] { sequence->destroy(1000); }, ErrorCode::kDeadlineExceeded,
              "cannot destroy the sequence: its evaluation is still running");
  EXPECT_TRUE(sequence->isInit());
  EXPECT_TRUE(sequence->isRunning());
  std::thread opener([&] {
    EXPECT_TRUE(kp::test::waitUntil([&] { return sequence->isAwaited(); }));
    gate.open();
  });
  sequence->destroy();  // waits until the gate opens and its work finishes
  opener.join();
  EXPECT_FALSE(sequence->isInit());
  EXPECT_FALSE(sequence->isRunning());
  EXPECT_TRUE(gate.held()) << "the work ran until it was let go";
}

TEST_F(SequenceTest, QueueIndexOutOfRangeIsInvalidArgument) {
  expectError([&] { Sequence::create(device_, 1, 2); }, ErrorCode::kInvalidArgument,
              "queue index 1 out of range");
}

// Destroys tensors, algorithm and sequence in every order (explicitly, or by dropping the last
// references), on a device of its own that is closed afterwards: no validation error, and
// nothing keeps the device alive.
class DestroyOrderTest : public EngineTest,
                         public ::testing::WithParamInterface<std::tuple<int, bool>> {};

TEST_P(DestroyOrderTest, LeavesNothingBehind) {
  const auto [permutation, explicitDestroy] = GetParam();
  auto device = Device::open(instance(), 0);
  auto in = Tensor::create(device, std::vector<float>{1, 2, 3});
  auto out = Tensor::create(device, DataType::kFloat32, 3, TensorType::kStorage);
  auto algorithm = Algorithm::create(device, {in, out}, compile(R"(#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer In { float inValues[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float outValues[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  outValues[i] = inValues[i] + 0.5;
}
)"));
  auto sequence = Sequence::create(device, 0, 3);
  sequence->record(std::make_shared<OpAlgoDispatch>(algorithm))
      .record(std::make_shared<OpTensorCopy>(std::vector{out, in}))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{in}));
  sequence->eval();
  EXPECT_EQ(in->vector<float>(), (std::vector<float>{1.5f, 2.5f, 3.5f}));
  EXPECT_GT(device->allocatedBytes(), 0u);

  std::array<std::function<void()>, 3> steps;
  if (explicitDestroy) {
    steps = {[&] {
               in->destroy();
               out->destroy();
             },
             [&] { algorithm->destroy(); }, [&] { sequence->destroy(); }};
  } else {
    steps = {[&] {
               in.reset();
               out.reset();
             },
             [&] { algorithm.reset(); }, [&] { sequence.reset(); }};
  }
  std::array<int, 3> order = {0, 1, 2};
  for (int i = 0; i < permutation; ++i) std::next_permutation(order.begin(), order.end());
  std::weak_ptr<Device> weak = device;
  if (!explicitDestroy) device.reset();  // the objects keep it open
  for (int step : order) steps[step]();
  if (explicitDestroy) {
    EXPECT_EQ(device->allocatedBytes(), 0u);
    EXPECT_FALSE(in->isInit());
    EXPECT_FALSE(algorithm->isInit());
    EXPECT_FALSE(sequence->isInit());
    in.reset();
    out.reset();
    algorithm.reset();
    sequence.reset();
    EXPECT_EQ(device.use_count(), 1);
    device.reset();
  }
  EXPECT_TRUE(weak.expired()) << "the device was closed";
}

INSTANTIATE_TEST_SUITE_P(AllOrders, DestroyOrderTest,
                         ::testing::Combine(::testing::Range(0, 6), ::testing::Bool()),
                         [](const auto& info) {
                           return "order" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_destroy" : "_release");
                         });

}  // namespace
}  // namespace kp::engine::test
