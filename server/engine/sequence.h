// A recorded list of ops, evaluated as one command buffer on one queue, as in Kompute: record
// once, evaluate many. Thread-safe: a sequence can be driven from any thread, several sequences
// can run at once, and evaluating a sequence that is still running is an error.
//
// Recording follows Kompute's contract: record() calls accumulate ops until the next
// evaluation; the first record() after an evaluation starts a new op list, so
// `record(a).eval().record(b).eval()` runs a, then only b. Evaluating again without recording
// re-runs the same ops.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/base/mutex.h"
#include "server/engine/ops/op.h"
#include "server/engine/vk_handle.h"

namespace kp::engine {

class Device;

class Sequence {
 public:
  // `totalTimestamps` > 0 records up to that many timestamps per evaluation: one before the
  // first op and one after each op (FailedPrecondition if the queue cannot write timestamps).
  // `owner`, an opaque number, names the sequence's evaluations in Device::stall() (the service
  // passes the serial of the session).
  static std::shared_ptr<Sequence> create(std::shared_ptr<Device> device, uint32_t queueIndex = 0,
                                          uint32_t totalTimestamps = 0, uint64_t owner = 0);
  // Waits for a running evaluation first. If that fails because the device was lost while the
  // work may still run, the sequence's Vulkan objects and ops are left allocated on purpose
  // (logged): the GPU must never use freed memory.
  ~Sequence();

  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // Appends an op, or starts a new op list with it if the sequence was evaluated since the
  // last record() (FailedPrecondition while running). The command buffer is recorded at the
  // next evaluation.
  Sequence& record(std::shared_ptr<Op> op);
  // Removes every op (FailedPrecondition while running); evaluating then runs nothing.
  void clear();
  // Re-records the command buffer from the current ops now.
  void rerecord();

  // Submits and waits for completion.
  void eval();
  // Submits and returns. FailedPrecondition if the sequence is running or an op's tensors or
  // algorithm were destroyed (the message then starts with "ops[i]: "). `beforeSubmit`, if
  // given, runs once those checks passed, just before the ops' preEval: for work that must not
  // happen when the evaluation is refused (the service writes a request's uploads there).
  void evalAsync(const std::function<void()>& beforeSubmit = nullptr);
  // Waits up to `timeoutNs` for the running evaluation. Returns true once it has completed (and
  // ran the ops' postEval), false on timeout: the sequence then stays running and awaitable.
  // Returns true at once if nothing is running. DeviceLost if the device is lost (the sequence
  // then stays running: its work may still execute).
  bool evalAwait(uint64_t timeoutNs = UINT64_MAX);

  // True from evalAsync until a successful evalAwait.
  bool isRunning() const;
  // True while the GPU still executes the submitted work (a non-blocking fence check).
  bool isExecuting() const;
  // True while some thread waits for the running evaluation (evalAwait, destroy).
  bool isAwaited() const;
  // True from the first record() after an evaluation (or clear) until the next evaluation.
  bool isRecording() const;
  bool isInit() const;
  // Waits (up to `timeoutNs`) for a running evaluation, then frees everything. Idempotent.
  // DeadlineExceeded if the evaluation did not finish in time, DeviceLost if the device was
  // lost while its work may still run (the sequence stays intact either way).
  void destroy(uint64_t timeoutNs = UINT64_MAX);

  // Timestamps (device ticks) of the last completed evaluation: min(total, ops + 1) values.
  // FailedPrecondition without timestamps enabled or before an evaluation of the current ops.
  std::vector<uint64_t> getTimestamps() const;
  // True when getTimestamps() has values to return.
  bool hasTimestamps() const;

  uint32_t queueIndex() const { return queueIndex_; }
  uint32_t totalTimestamps() const { return totalTimestamps_; }
  std::vector<std::shared_ptr<Op>> ops() const;
  const std::shared_ptr<Device>& device() const { return device_; }
  uint64_t owner() const { return owner_; }

 private:
  void checkOpsUsable() const KP_REQUIRES(mutex_);
  Sequence() = default;
  void recordCommandBuffer() KP_REQUIRES(mutex_);
  void requireIdle(const char* what) const KP_REQUIRES(mutex_);
  // Waits for fence_ with mutex_ released (counted in awaiters_); mutex_ is held on
  // entry and on return.
  VkResult waitForFence(uint64_t timeoutNs) KP_REQUIRES(mutex_);

  std::shared_ptr<Device> device_;
  uint32_t queueIndex_ = 0;
  uint32_t totalTimestamps_ = 0;
  uint64_t owner_ = 0;

  mutable base::Mutex mutex_;
  std::vector<std::shared_ptr<Op>> ops_ KP_GUARDED_BY(mutex_);
  bool recording_ KP_GUARDED_BY(mutex_) = false;  // record() calls append until the next eval
  bool commandBufferStale_ KP_GUARDED_BY(mutex_) = true;  // ops_ differ from the commands
  bool running_ KP_GUARDED_BY(mutex_) = false;
  uint64_t ticket_ KP_GUARDED_BY(mutex_) = 0;  // the running evaluation's (Device::submit)
  bool timestampsValid_ KP_GUARDED_BY(mutex_) = false;  // the last evaluation ran ops_
  int awaiters_ KP_GUARDED_BY(mutex_) = 0;  // threads inside vkWaitForFences on fence_
  base::CondVar noAwaiters_;
  // Set by create(), freed by destroy() under mutex_.
  UniqueCommandPool commandPool_;
  VkCommandBuffer commandBuffer_ = VK_NULL_HANDLE;
  UniqueFence fence_;
  UniqueQueryPool queryPool_;
};

}  // namespace kp::engine
