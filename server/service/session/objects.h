// What a session owns: its tensors, algorithms and sequences, named by handles that mean
// nothing outside it, the evaluations without a sequence still running, and the quota all of
// them count against (bytes of tensors, objects held). Not thread-safe: the session's lock
// guards it.
//
// Creating an object takes three steps, so that the slow part runs outside the session's lock
// while the quota can never be overshot: reserve() under the lock, which hands out a
// Reservation; the creation, outside it; add() under the lock again. A Reservation that goes
// without being added (the creation failed) gives its quota back.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "server/base/mutex.h"
#include "server/engine/algorithm.h"
#include "server/engine/sequence.h"
#include "server/engine/tensor.h"
#include "server/service/config.h"
#include "server/service/session/handle_table.h"
#include "server/service/session/op_builder.h"

namespace kp::service {

// A sequence of the session with the downloads of its recorded ops.
struct SequenceEntry {
  std::shared_ptr<engine::Sequence> sequence;
  std::vector<Download> downloads;
  // When its evaluation in flight was submitted; reset once collected (for the latency
  // histogram of base::metrics()).
  std::optional<std::chrono::steady_clock::time_point> submitted;
};

class SessionObjects;

// "67108864 bytes (64.0 MiB)": exact, and readable, for messages about sizes.
std::string describeBytes(uint64_t bytes);

// Quota held for one object while it is created outside the session's lock. It takes that lock
// to give the quota back: declare it before the MutexLock of its scope.
class Reservation {
 public:
  Reservation(base::Mutex& mutex, SessionObjects& objects, uint64_t bytes)
      : mutex_(&mutex), objects_(&objects), bytes_(bytes) {}
  // Gives the quota back (under the lock) unless the object was added.
  ~Reservation();
  Reservation(Reservation&& other) noexcept
      : mutex_(other.mutex_), objects_(other.objects_), bytes_(other.bytes_) {
    other.objects_ = nullptr;
  }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  Reservation& operator=(Reservation&&) = delete;

 private:
  friend class SessionObjects;

  base::Mutex* mutex_;
  SessionObjects* objects_;  // null once the object was added
  uint64_t bytes_;
};

class SessionObjects {
 public:
  // `memoryLimit`: bytes of tensors the session may hold; the other limits come from `config`.
  SessionObjects(uint64_t memoryLimit, const ServiceConfig& config);

  // One more object of `kind` ("a tensor") holding `bytes` of tensor memory: RESOURCE_EXHAUSTED
  // naming the limit and its flag unless it fits. `mutex` is the lock that guards this object.
  Reservation reserve(base::Mutex& mutex, const char* kind, uint64_t bytes);

  // Adds an object created with `reservation`; returns its handle: `handle` if the client
  // chose one (non-zero; checked before the creation with the tables' requireFreeClientHandle,
  // and again here), else a new one.
  uint64_t add(std::shared_ptr<engine::Tensor> tensor, Reservation& reservation,
               uint64_t handle = 0);
  uint64_t add(std::shared_ptr<engine::Algorithm> algorithm, Reservation& reservation,
               uint64_t handle = 0);
  uint64_t add(std::shared_ptr<SequenceEntry> entry, Reservation& reservation, uint64_t handle = 0);

  HandleTable<engine::Tensor>& tensors() { return tensors_; }
  HandleTable<engine::Algorithm>& algorithms() { return algorithms_; }
  HandleTable<SequenceEntry>& sequences() { return sequences_; }
  const HandleTable<engine::Tensor>& tensors() const { return tensors_; }
  const HandleTable<engine::Algorithm>& algorithms() const { return algorithms_; }

  // Destroys tensor / algorithm `handle` (NotFound naming `field`; FailedPrecondition while a
  // running evaluation uses it).
  void destroyTensor(uint64_t handle);
  void destroyAlgorithm(uint64_t handle);

  // Evaluations without a sequence (Eval with sequence = 0), kept while they run: at most as
  // many as the session may hold objects (RESOURCE_EXHAUSTED from requireAnonymousRoom).
  void requireAnonymousRoom() const;
  void addAnonymous(std::shared_ptr<SequenceEntry> entry) {
    anonymous_.push_back(std::move(entry));
  }
  void removeAnonymous(const std::shared_ptr<SequenceEntry>& entry);
  // Frees the anonymous evaluations (and destroyed sequences still running) that finished.
  void reapAnonymous();
  // A destroyed sequence whose evaluation still runs: freed once it finishes (reapAnonymous).
  void keepUntilFinished(std::shared_ptr<SequenceEntry> entry) { anonymous_.push_back(entry); }

  // True while an evaluation that is running uses `tensor` or `algorithm`.
  bool usedByRunningEvaluation(const engine::Tensor* tensor,
                               const engine::Algorithm* algorithm) const;

  size_t count() const { return tensors_.size() + algorithms_.size() + sequences_.size(); }
  uint64_t memoryLimit() const { return memoryLimit_; }
  uint64_t tensorBytes() const { return tensorBytes_; }

  // Every sequence entry, named or anonymous (to wait for them at the end of the session).
  std::vector<std::shared_ptr<SequenceEntry>> allSequences() const;
  // Forgets every sequence but `stillRunning` (kept until they finish).
  void keepOnlySequences(std::vector<std::shared_ptr<SequenceEntry>> stillRunning);
  // Frees every tensor and algorithm (no evaluation may still use them).
  void destroyAll();
  // Hands every object over to `keep` without freeing anything (their GPU work may still run).
  void handOver(std::vector<std::shared_ptr<void>>* keep);

 private:
  friend class Reservation;
  void unreserve(uint64_t bytes);
  void added(Reservation& reservation);
  template <typename T>
  uint64_t addTo(HandleTable<T>& table, std::shared_ptr<T> object, Reservation& reservation,
                 uint64_t handle);

  const uint64_t memoryLimit_;
  const ServiceConfig& config_;
  std::mt19937_64 random_;
  HandleTable<engine::Tensor> tensors_{"tensor"};
  HandleTable<engine::Algorithm> algorithms_{"algorithm"};
  HandleTable<SequenceEntry> sequences_{"sequence"};
  std::vector<std::shared_ptr<SequenceEntry>> anonymous_;
  uint64_t tensorBytes_ = 0;   // of the live tensors and of those being created
  size_t pendingObjects_ = 0;  // objects being created
};

}  // namespace kp::service
