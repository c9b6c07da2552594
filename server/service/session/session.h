// A client's session: who opened it (its public serial and label, never its secret id, which
// only the session registry holds), the device it runs on, its lease, and the bodies of the
// RPCs that act on it. Everything it creates lives in its SessionObjects; evaluations run
// through its Evaluator. Thread-safe: requests are serialised by the session's lock, while
// evaluations wait for the GPU outside it, so several sequences of one session run at once.
//
// A session ends in one of two ways, chosen by lifecycle/retirement.h (the one place that
// ends sessions): close() frees everything once its running evaluations have finished;
// abandon() hands everything over unfreed, for a session whose device was retired.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kp/v1/compute.pb.h"
#include "server/base/mutex.h"
#include "server/engine/device.h"
#include "server/service/config.h"
#include "server/service/devices/device_pool.h"
#include "server/service/session/evaluator.h"
#include "server/service/session/objects.h"
#include "server/service/session/shared_memory.h"

namespace kp::service {

class Session {
 public:
  using Clock = std::chrono::steady_clock;

  // `serial` (a public serial number) and `name` (the client's name, printable) make the
  // session's label, which may appear in messages to other sessions. `client` describes the
  // client and its peer, for the log.
  Session(uint64_t serial, const std::string& name, uint32_t deviceIndex,
          std::shared_ptr<engine::Device> device, DevicePool& pool, const ServiceConfig& config,
          uint32_t leaseSeconds, std::string client);

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t serial() const { return serial_; }
  // "session #3 (python kp 0.1.0 pid 42)", or "session #3" for a client without a name.
  const std::string& label() const { return label_; }
  const std::string& client() const { return client_; }
  uint32_t deviceIndex() const { return deviceIndex_; }
  const std::shared_ptr<engine::Device>& device() const { return device_; }
  uint32_t leaseSeconds() const { return leaseSeconds_; }

  // ---- the RPCs' bodies (they throw base::Error; the transport maps it) ----

  void createTensor(const v1::CreateTensorRequest& request, v1::CreateTensorResponse* response);
  void destroyTensor(uint64_t handle);
  // The host copy of tensor `handle`, charged to the session (see holdReply) by `replyHold`
  // (if null, the charge ends with the call).
  std::string readTensor(uint64_t handle, std::shared_ptr<void>* replyHold = nullptr);
  void writeTensor(uint64_t handle, const std::string& data);
  // One chunk of WriteTensorStream / ReadTensorStream: bytes [offset, offset + size). Both
  // return the tensor's byte size.
  uint64_t writeTensorChunk(uint64_t handle, uint64_t offset, const std::string& data);
  // Appends up to `maxBytes` bytes from `offset` to `out`; returns the tensor's byte size.
  uint64_t readTensorChunk(uint64_t handle, uint64_t offset, uint64_t maxBytes, std::string* out);
  void createAlgorithm(const v1::CreateAlgorithmRequest& request,
                       v1::CreateAlgorithmResponse* response);
  void destroyAlgorithm(uint64_t handle);
  uint64_t createSequence(const v1::CreateSequenceRequest& request);
  void destroySequence(uint64_t handle);
  void recordSequence(const v1::RecordSequenceRequest& request);
  // `deadline`: the call's gRPC deadline (time_point::max() when none). `cancelled`, if set,
  // is polled while waiting: once it returns true (the client went away, or the daemon is
  // shutting down and gave up on the call) the wait ends and the evaluation is left to finish
  // on its own, as after a timeout.
  void eval(const v1::EvalRequest& request, v1::EvalResponse* response,
            std::chrono::system_clock::time_point deadline,
            const std::function<bool()>& cancelled = {});
  void evalAsync(const v1::EvalRequest& request);
  void evalAwait(const v1::EvalAwaitRequest& request, v1::EvalResponse* response);

  // A local data connection attached: shared-memory tensors become available. Returns the
  // alignment of shared regions.
  uint64_t attachLocal();
  // An arena of the session's shared memory (NotFound if none such).
  std::shared_ptr<SharedArena> arena(uint64_t id);
  // A new client arena of `bytes` (the local data socket's new_arena). Client arenas take at
  // most the session's memory quota in all, apart from its tensors, until the session ends.
  std::shared_ptr<SharedArena> newArena(uint64_t bytes);
  // Largest client arena.
  static constexpr uint64_t kMaxClientArenaBytes = uint64_t{256} << 20;

  // The Apply RPC: `request`'s actions, in order, stopping at the first that fails (its error
  // names it: "actions[i] (create_tensor): ..."). `applied` counts the actions applied.
  void apply(const v1::ApplyRequest& request, uint32_t* applied);

  // Charges a reply carrying `bytes` to the session until the returned token goes (the
  // transport keeps it until gRPC has sent the reply): RESOURCE_EXHAUSTED, naming `what`, when
  // the session's replies in flight would pass its memory quota. Until sent, a reply is held
  // twice (the message and its encoding), so it is charged kReplyCopies x `bytes`. A client that
  // stops reading its replies holds no more of kpd's memory than the tensors it may hold.
  // Replies under kUnchargedReplyBytes are not worth the bookkeeping (null token): the calls a
  // connection may have open (--max-calls-per-connection) bound them.
  static constexpr uint64_t kReplyCopies = 2;
  static constexpr uint64_t kUnchargedReplyBytes = 64 << 10;
  std::shared_ptr<void> holdReply(uint64_t bytes, const std::string& what);
  // What the session's replies not yet sent hold now (the charges of holdReply).
  uint64_t replyBytesHeld() const { return repliesInFlight_->load(); }

  // ---- lease and state ----

  // Marks the session used now (every request does).
  void touch();
  Clock::time_point lastActive() const;
  Clock::time_point opened() const { return opened_; }
  // The client's name as it gave it ("" if none).
  const std::string& clientName() const { return clientName_; }
  uint64_t tensorBytes() const;
  bool isClosed() const;
  size_t objectCount() const;

  // ---- ending (lifecycle/retirement.h decides which) ----

  // Ends the session: refuses new requests, waits for running evaluations until `deadline`,
  // frees every object. Returns false if some evaluation did not finish in time: the objects
  // it uses stay alive, and calling close() again retries. Calls the close listener once.
  bool close(const std::string& reason, Clock::time_point deadline);
  // Ends the session at once without waiting for its GPU work, which may never finish: nothing
  // is freed, every object is appended to `keep`. Calls the close listener once.
  void abandon(const std::string& reason, std::vector<std::shared_ptr<void>>* keep);
  // Called (outside any lock) with the reason when the session ends.
  void setCloseListener(std::function<void(const std::string&)> listener);

 private:
  void requireOpen() const KP_REQUIRES(mutex_);
  // Marks the session ended with `reason` (logged once, as `level`); returns the close listener
  // to call if it was not called yet.
  std::function<void(const std::string&)> markEnded(const std::string& reason, bool warn)
      KP_REQUIRES(mutex_);
  // A tensor made, not in the session's table yet: its first upload runs next
  // (engine::Tensor::uploadInitial, for many at once in an Apply), then addTensor.
  struct PreparedTensor {
    std::shared_ptr<engine::Tensor> tensor;
    std::optional<Reservation> reservation;
    std::shared_ptr<SharedRegion> region;  // kpd's shared region, for the response
    uint64_t handle = 0;                   // the client's, or 0
  };
  PreparedTensor prepareTensor(const v1::CreateTensorRequest& request);
  void addTensor(PreparedTensor& prepared, v1::CreateTensorResponse* response);

  // Tensor `handle`, which must have a host copy (FailedPrecondition for a storage tensor).
  std::shared_ptr<engine::Tensor> tensorWithHostData(uint64_t handle) KP_REQUIRES(mutex_);
  // Writes `data` at `offset` of `tensor`'s host copy (not while an evaluation uses it).
  void writeHostBytes(engine::Tensor& tensor, uint64_t handle, uint64_t offset,
                      const std::string& data) KP_REQUIRES(mutex_);

  const uint64_t serial_;
  const std::string clientName_;
  const std::string label_;
  const Clock::time_point opened_ = Clock::now();
  const uint32_t deviceIndex_;
  const std::shared_ptr<engine::Device> device_;
  DevicePool& pool_;
  const ServiceConfig& config_;
  const uint32_t leaseSeconds_;
  const std::string client_;
  std::atomic<Clock::rep> lastActive_;
  const uint64_t replyBudget_;
  // Bytes of replies built and not yet sent; shared with the tokens of holdReply, which may
  // outlive the session.
  const std::shared_ptr<std::atomic<uint64_t>> repliesInFlight_;

  mutable base::Mutex mutex_;
  bool closed_ KP_GUARDED_BY(mutex_) = false;
  std::string endReason_ KP_GUARDED_BY(mutex_);  // why the session ended, once closed_
  bool listenerCalled_ KP_GUARDED_BY(mutex_) = false;
  std::function<void(const std::string&)> listener_ KP_GUARDED_BY(mutex_);
  SessionObjects objects_ KP_GUARDED_BY(mutex_);
  Evaluator evaluator_ KP_GUARDED_BY(mutex_);
  // Created when the first local data connection attaches.
  std::unique_ptr<SharedMemory> shared_ KP_GUARDED_BY(mutex_);
  uint64_t clientArenaBytes_ KP_GUARDED_BY(mutex_) = 0;  // of newArena, until the session ends
};

}  // namespace kp::service
