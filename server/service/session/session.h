// A client's session: the device it runs on and every tensor, algorithm and sequence it
// created, named by handles that mean nothing outside it. Thread-safe: control requests are
// serialised by the session's lock, while evaluations wait for the GPU outside it, so several
// sequences of one session run at once. Ending the session frees everything it owned.
// It enforces the per-session quotas (ServiceConfig): bytes of tensors, objects held, ops per
// sequence, and replies that fit a message.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "server/engine/algorithm.h"
#include "server/service/config.h"
#include "server/engine/device.h"
#include "server/service/devices/device_pool.h"
#include "server/service/session/handle_table.h"
#include "kp/v1/compute.pb.h"
#include "server/service/session/op_builder.h"
#include "server/engine/sequence.h"
#include "server/service/session/shared_memory.h"
#include "server/engine/tensor.h"

namespace kp::service {

class Session {
 public:
  using Clock = std::chrono::steady_clock;

  // `number` (a serial number) and `name` (the client's name, printable) make the session's
  // label, which names it in messages other sessions may see: unlike `id`, it is no secret.
  // `client` describes the client and its peer, for the log.
  Session(std::string id, uint64_t number, const std::string& name, uint32_t deviceIndex,
          std::shared_ptr<engine::Device> device, DevicePool& pool, const ServiceConfig& config,
          uint32_t leaseSeconds, std::string client);
  ~Session();

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& id() const { return id_; }
  const std::string& client() const { return client_; }
  // "session #3 (python kp 0.1.0 pid 42)", or "session #3" for a client without a name.
  const std::string& label() const { return label_; }
  uint64_t number() const { return number_; }
  uint32_t deviceIndex() const { return deviceIndex_; }
  const std::shared_ptr<engine::Device>& device() const { return device_; }
  uint32_t leaseSeconds() const { return leaseSeconds_; }

  // The bodies of the session's RPCs. They throw engine::Error; the service maps it.
  void createTensor(const v1::CreateTensorRequest& request, v1::CreateTensorResponse* response);
  void destroyTensor(uint64_t handle);
  std::string readTensor(uint64_t handle);
  void writeTensor(uint64_t handle, const std::string& data);
  // One chunk of WriteTensorStream / ReadTensorStream: bytes [offset, offset + size).
  void writeTensorChunk(uint64_t handle, uint64_t offset, const std::string& data);
  // Appends up to `maxBytes` bytes from `offset` to `out`; returns the tensor's byte size.
  uint64_t readTensorChunk(uint64_t handle, uint64_t offset, uint64_t maxBytes, std::string* out);
  void createAlgorithm(const v1::CreateAlgorithmRequest& request,
                       v1::CreateAlgorithmResponse* response);
  void destroyAlgorithm(uint64_t handle);
  uint64_t createSequence(const v1::CreateSequenceRequest& request);
  void destroySequence(uint64_t handle);
  void recordSequence(const v1::RecordSequenceRequest& request);
  // `deadline`: the call's gRPC deadline (time_point::max() when none). `cancelled`, if
  // set, is polled while waiting: once it returns true (the client went away, or the daemon
  // is shutting down and gave up on the call) the wait ends and the evaluation is left to
  // finish on its own, as after a timeout.
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

  // Marks the session used now (every request does).
  void touch();
  Clock::time_point lastActive() const;
  bool isClosed() const;
  size_t objectCount() const;

  // Ends the session: refuses new requests, awaits running evaluations (up to the configured
  // wait), frees every object. Returns false if some evaluation did not finish in time: the
  // objects it uses stay alive, and calling close() again retries. Idempotent once it
  // returned true. Calls the close listener once, the first time.
  bool close(const std::string& reason);
  // As close(), waiting for running evaluations until `deadline` at most.
  bool close(const std::string& reason, Clock::time_point deadline);
  // Ends the session at once, without waiting for its GPU work: for a session whose device was
  // retired (lost, or wedged by runaway work), whose work may never finish. Its objects are
  // not freed but appended to `keep` (the device pool frees them once the device's work has
  // finished). Calls the close listener the first time the session ends.
  void abandon(const std::string& reason, std::vector<std::shared_ptr<void>>* keep);
  // Called (outside any lock) with the reason when the session ends.
  void setCloseListener(std::function<void(const std::string&)> listener);

 private:
  struct SequenceEntry {
    std::shared_ptr<engine::Sequence> sequence;
    std::vector<Download> downloads;  // of the recorded ops
  };

  void requireOpen() const;  // requires mutex_
  // RESOURCE_EXHAUSTED unless the session may hold one more object / `bytes` more tensor
  // memory (sessionMaxObjects, the memory limit). Both require mutex_.
  size_t objectsHeld() const;
  void requireObjectQuota(const char* kind) const;
  void requireMemoryQuota(uint64_t bytes) const;
  // RESOURCE_EXHAUSTED if `ops` weigh more than a sequence may record (see opsWeight).
  void requireOpsLimit(const google::protobuf::RepeatedPtrField<v1::Op>& ops) const;
  // RESOURCE_EXHAUSTED if an evaluation downloading `downloads` (and `timestamps`) would reply
  // with more than a message can carry (checked before it runs).
  void requireReplyFits(const std::vector<Download>& downloads, uint32_t timestamps,
                        uint64_t inlineLimit, uint64_t sequence) const;
  // "sequence N", or "the evaluation" for sequence 0, for messages.
  static std::string evaluationName(uint64_t sequence);
  SequenceEntry& sequenceEntry(uint64_t handle, const std::string& field);  // requires mutex_
  bool usedByRunningEvaluation(const engine::Tensor* tensor,
                               const engine::Algorithm* algorithm) const;  // requires mutex_
  // Validates the request's uploads and notes them for writeUploads, which writes them into
  // the tensors' host copies (both require mutex_).
  void checkUploads(const v1::EvalRequest& request);
  void writeUploads();
  // Validates the request and submits it; returns the entry that runs it.
  std::shared_ptr<SequenceEntry> submit(const v1::EvalRequest& request, bool allowAnonymous);
  void collect(const SequenceEntry& entry, uint64_t inlineLimit,
               v1::EvalResponse* response);  // requires mutex_
  void reapAnonymous();                                                   // requires mutex_

  const std::string id_;
  const uint64_t number_;
  const std::string label_;
  const uint32_t deviceIndex_;
  const std::shared_ptr<engine::Device> device_;
  DevicePool& pool_;
  const ServiceConfig& config_;
  const uint32_t leaseSeconds_;
  const std::string client_;
  const uint64_t memoryLimit_;  // bytes of tensors the session may hold

  mutable std::mutex mutex_;
  std::mt19937_64 random_;
  bool closed_ = false;
  std::string endReason_;  // why the session ended, once closed_
  bool listenerCalled_ = false;
  std::function<void(const std::string&)> listener_;
  std::atomic<Clock::rep> lastActive_;
  HandleTable<engine::Tensor> tensors_{"tensor"};
  HandleTable<engine::Algorithm> algorithms_{"algorithm"};
  // checkUploads' scratch space, reused by every evaluation (requires mutex_).
  std::vector<uint64_t> uploadHandles_;
  std::vector<std::pair<engine::Tensor*, const std::string*>> uploadWrites_;
  HandleTable<SequenceEntry> sequences_{"sequence"};
  // Sequences of Eval requests with sequence = 0, alive while they run.
  std::vector<std::shared_ptr<SequenceEntry>> anonymous_;
  // Created when the first local data connection attaches.
  std::unique_ptr<SharedMemory> shared_;
  // Quota accounting: bytes of the live tensors (plus those being created), and objects being
  // created outside the lock.
  uint64_t tensorBytes_ = 0;
  size_t pendingObjects_ = 0;
};

}  // namespace kp::service
