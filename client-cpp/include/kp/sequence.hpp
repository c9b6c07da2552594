// kp::Sequence: a recorded list of ops in kpd, evaluated in one round trip each time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "kp/algorithm.hpp"
#include "kp/detail/fwd.hpp"
#include "kp/operations/op_base.hpp"
#include "kp/tensor.hpp"

namespace kp {

/// A sequence of ops, recorded once and evaluated many times (Kompute's kp::Sequence).
/// Create it with Manager::sequence().
///
/// record() collects ops in this process; as in Kompute, the first record() after an
/// evaluation starts a new op list, so `seq->record(a)->eval()->record(b)->eval()` runs a,
/// then only b, and eval() with nothing newly recorded runs the same ops again. Each
/// evaluation is one request to the daemon carrying the ops (only when they changed) and
/// the host copies of the tensors its OpTensorSyncDevice ops upload; the reply carries what
/// its OpTensorSyncLocal ops download, written into those tensors' host copies.
///
/// Methods that change or evaluate the sequence throw FailedPreconditionError while an
/// evalAsync() has not been collected by evalAwait().
///
/// Thread safety: every method may be called from any thread; calls on one sequence are
/// serialised (an eval() waits for another thread's eval() of the same sequence). Different
/// sequences of one Manager evaluate concurrently. Tensors are not locked: two sequences
/// evaluated at once must not sync the same tensor.
class Sequence : public std::enable_shared_from_this<Sequence> {
 public:
  /// Creates the sequence in the daemon (one CreateSequence call). Use Manager::sequence()
  /// instead; this is public only for std::make_shared.
  Sequence(std::shared_ptr<detail::Session> session, uint32_t queueIndex, uint32_t totalTimestamps);
  /// Frees the sequence in the daemon (errors are ignored here: call destroy() to see them).
  ~Sequence();

  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // ---- recording ----

  /// Records an op; returns this sequence for chaining.
  std::shared_ptr<Sequence> record(std::shared_ptr<OpBase> op);

  /// Records a T(tensors, params...), e.g. `record<kp::OpTensorSyncDevice>(tensors)`.
  template <typename T, typename... TArgs>
  std::shared_ptr<Sequence> record(std::vector<std::shared_ptr<Tensor>> tensors,
                                   TArgs&&... params) {
    static_assert(std::is_base_of_v<OpBase, T>, "record<T>: T must be a kp op");
    return record(std::make_shared<T>(tensors, std::forward<TArgs>(params)...));
  }

  /// Records a T(algorithm, params...), e.g. `record<kp::OpAlgoDispatch>(algo, push)`.
  template <typename T, typename... TArgs>
  std::shared_ptr<Sequence> record(std::shared_ptr<Algorithm> algorithm, TArgs&&... params) {
    static_assert(std::is_base_of_v<OpBase, T>, "record<T>: T must be a kp op");
    return record(std::make_shared<T>(algorithm, std::forward<TArgs>(params)...));
  }

  /// Ends recording, as Kompute's clear(): the next record() starts a new op list, while an
  /// eval() before it still runs the ops recorded so far (Kompute's command buffer kept
  /// them), and rerecord() records an empty list.
  void clear();
  /// Starts a new op list now (what the first record() after an evaluation does).
  void begin();
  /// Ends recording: the next record() starts a new op list.
  void end();
  /// Sends the current ops again with the next evaluation (after Algorithm::rebuild()).
  void rerecord();

  // ---- evaluation ----

  /// Evaluates the recorded ops and waits (one round trip). If the daemon's time limit
  /// passes first, throws DeadlineExceededError and the sequence stays running: evalAwait()
  /// collects it.
  std::shared_ptr<Sequence> eval();
  /// clear(), record(op), eval(): evaluates only `op`.
  std::shared_ptr<Sequence> eval(std::shared_ptr<OpBase> op);
  /// eval() of a T(tensors, params...).
  template <typename T, typename... TArgs>
  std::shared_ptr<Sequence> eval(std::vector<std::shared_ptr<Tensor>> tensors, TArgs&&... params) {
    return eval(std::make_shared<T>(tensors, std::forward<TArgs>(params)...));
  }
  /// eval() of a T(algorithm, params...).
  template <typename T, typename... TArgs>
  std::shared_ptr<Sequence> eval(std::shared_ptr<Algorithm> algorithm, TArgs&&... params) {
    return eval(std::make_shared<T>(algorithm, std::forward<TArgs>(params)...));
  }

  /// Uploads and submits the recorded ops, then returns while the GPU works; evalAwait()
  /// collects the result.
  std::shared_ptr<Sequence> evalAsync();
  /// clear(), record(op), evalAsync().
  std::shared_ptr<Sequence> evalAsync(std::shared_ptr<OpBase> op);
  /// evalAsync() of a T(tensors, params...).
  template <typename T, typename... TArgs>
  std::shared_ptr<Sequence> evalAsync(std::vector<std::shared_ptr<Tensor>> tensors,
                                      TArgs&&... params) {
    return evalAsync(std::make_shared<T>(tensors, std::forward<TArgs>(params)...));
  }
  /// evalAsync() of a T(algorithm, params...).
  template <typename T, typename... TArgs>
  std::shared_ptr<Sequence> evalAsync(std::shared_ptr<Algorithm> algorithm, TArgs&&... params) {
    return evalAsync(std::make_shared<T>(algorithm, std::forward<TArgs>(params)...));
  }

  /// Waits up to `timeoutNs` nanoseconds (default: until done) for the evaluation started by
  /// evalAsync(), then applies its downloads. If it is still running when the time is up,
  /// the wait ends as in Kompute: isRunning() is false and the sequence may be evaluated
  /// again. kpd keeps the work running (Kompute would resubmit a command buffer the GPU may
  /// still be executing): the next eval, evalAsync, record or clear first waits for it and
  /// applies its downloads. Does nothing when the sequence is not running.
  std::shared_ptr<Sequence> evalAwait(uint64_t timeoutNs = UINT64_MAX);

  // ---- state ----

  /// Device timestamps (ticks; see DeviceProperties::timestampPeriod) of the last
  /// evaluation: one before the first op and one after each op. FailedPreconditionError if
  /// the sequence was created with totalTimestamps = 0.
  std::vector<std::uint64_t> getTimestamps() const;
  /// True from evalAsync() until evalAwait() has collected the result or timed out.
  bool isRunning() const { return running_; }
  /// True from the first record() after an evaluation until the next evaluation.
  bool isRecording() const { return recording_; }
  /// True while the sequence exists in the daemon (not destroyed, session open).
  bool isInit() const;
  /// Frees the sequence in the daemon, after its running evaluation. Idempotent.
  void destroy();

 private:
  friend struct detail::Access;

  void requireUsable(const char* what) const;
  // Waits for an evaluation whose evalAwait timed out (see evalAwait), then throws
  // FailedPreconditionError naming `what` if an evaluation is running.
  void requireIdle(const char* what);
  void recordLocked(std::shared_ptr<OpBase> op);
  void clearLocked();
  void evalLocked();
  void evalAsyncLocked();
  // Encodes the ops when they changed, else checks that their objects still exist.
  void prepareLocked();

  std::shared_ptr<detail::Session> session_;
  uint64_t handle_ = 0;
  uint32_t totalTimestamps_ = 0;
  mutable std::recursive_mutex mutex_;
  std::vector<std::shared_ptr<OpBase>> ops_;
  bool sent_ = false;                               // the daemon holds the current op list
  std::unique_ptr<detail::Evaluation> evaluation_;  // the encoded ops and reused messages
  std::vector<std::uint64_t> timestamps_;
  std::atomic<bool> recording_{false};
  std::atomic<bool> running_{false};
  bool abandoned_ = false;
  bool cleared_ = false;  // clear() was called since the last record(): see clear()  // an evaluation whose evalAwait timed out runs in the daemon
  std::atomic<bool> destroyed_{false};
};

}  // namespace kp
