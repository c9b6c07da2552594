#include "server/service/session/objects.h"

#include <algorithm>
#include <cstdio>

#include "server/base/error.h"
#include "server/engine/ops/op_algo_dispatch.h"

namespace kp::service {

using base::ErrorCode;

std::string describeBytes(uint64_t bytes) {
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::string text = std::to_string(bytes) + " bytes";
  if (bytes < 1024) return text;
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  char readable[32];
  std::snprintf(readable, sizeof(readable), " (%.1f %s)", value, units[unit]);
  return text + readable;
}

Reservation::~Reservation() {
  if (objects_ == nullptr) return;
  base::MutexLock lock(*mutex_);
  objects_->unreserve(bytes_);
}

SessionObjects::SessionObjects(uint64_t memoryLimit, const ServiceConfig& config)
    : memoryLimit_(memoryLimit), config_(config), random_(std::random_device{}()) {}

Reservation SessionObjects::reserve(base::Mutex& mutex, const char* kind, uint64_t bytes) {
  const size_t held = count() + pendingObjects_;
  KP_REQUIRE(held < config_.sessionMaxObjects, ErrorCode::kResourceExhausted,
             std::string("session object quota exceeded: cannot create ") + kind +
                 ", the session holds " + std::to_string(held) +
                 " tensors, algorithms and sequences, its limit (--session-max-objects " +
                 std::to_string(config_.sessionMaxObjects) + ")");
  KP_REQUIRE(
      bytes <= memoryLimit_ && tensorBytes_ <= memoryLimit_ - bytes, ErrorCode::kResourceExhausted,
      "session device memory quota exceeded: " + describeBytes(tensorBytes_) + " in use + " +
          describeBytes(bytes) + " requested > " + describeBytes(memoryLimit_) +
          (config_.sessionMemoryBytes > 0
               ? std::string(" (--session-memory-bytes)")
               : " (--session-memory-bytes 0: " + std::to_string(kDefaultSessionMemoryPercent) +
                     "% of the device's largest device-local heap)"));
  ++pendingObjects_;
  tensorBytes_ += bytes;
  return Reservation(mutex, *this, bytes);
}

void SessionObjects::unreserve(uint64_t bytes) {
  --pendingObjects_;
  tensorBytes_ -= bytes;
}

void SessionObjects::added(Reservation& reservation) {
  --pendingObjects_;  // the bytes stay counted, as the tensor's
  reservation.objects_ = nullptr;
}

template <typename T>
uint64_t SessionObjects::addTo(HandleTable<T>& table, std::shared_ptr<T> object,
                               Reservation& reservation, uint64_t handle) {
  if (handle != 0) table.requireFreeClientHandle(handle, "handle");
  added(reservation);
  if (handle == 0) return table.add(std::move(object), random_);
  table.addAs(handle, std::move(object));
  return handle;
}

uint64_t SessionObjects::add(std::shared_ptr<engine::Tensor> tensor, Reservation& reservation,
                             uint64_t handle) {
  return addTo(tensors_, std::move(tensor), reservation, handle);
}

uint64_t SessionObjects::add(std::shared_ptr<engine::Algorithm> algorithm, Reservation& reservation,
                             uint64_t handle) {
  return addTo(algorithms_, std::move(algorithm), reservation, handle);
}

uint64_t SessionObjects::add(std::shared_ptr<SequenceEntry> entry, Reservation& reservation,
                             uint64_t handle) {
  return addTo(sequences_, std::move(entry), reservation, handle);
}

void SessionObjects::destroyTensor(uint64_t handle) {
  const auto& tensor = tensors_.get(handle, "tensor");
  KP_REQUIRE(!usedByRunningEvaluation(tensor.get(), nullptr), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) +
                 " is used by a running evaluation; await it before destroying the tensor");
  tensorBytes_ -= tensor->byteSize();
  tensor->destroy();
  tensors_.remove(handle, "tensor");
}

void SessionObjects::destroyAlgorithm(uint64_t handle) {
  const auto& algorithm = algorithms_.get(handle, "algorithm");
  KP_REQUIRE(!usedByRunningEvaluation(nullptr, algorithm.get()), ErrorCode::kFailedPrecondition,
             "algorithm " + std::to_string(handle) +
                 " is used by a running evaluation; await it before destroying the algorithm");
  algorithm->destroy();
  algorithms_.remove(handle, "algorithm");
}

void SessionObjects::requireAnonymousRoom() const {
  KP_REQUIRE(anonymous_.size() < config_.sessionMaxObjects, ErrorCode::kResourceExhausted,
             "the session has " + std::to_string(anonymous_.size()) +
                 " evaluations without a sequence still running, its limit "
                 "(--session-max-objects " +
                 std::to_string(config_.sessionMaxObjects) + ")");
}

void SessionObjects::removeAnonymous(const std::shared_ptr<SequenceEntry>& entry) {
  anonymous_.erase(std::remove(anonymous_.begin(), anonymous_.end(), entry), anonymous_.end());
}

void SessionObjects::reapAnonymous() {
  auto finished = [](const std::shared_ptr<SequenceEntry>& entry) {
    if (entry->sequence->isExecuting()) return false;
    entry->sequence->evalAwait(0);
    entry->sequence->destroy();
    return true;
  };
  anonymous_.erase(std::remove_if(anonymous_.begin(), anonymous_.end(), finished),
                   anonymous_.end());
}

bool SessionObjects::usedByRunningEvaluation(const engine::Tensor* tensor,
                                             const engine::Algorithm* algorithm) const {
  auto uses = [&](const SequenceEntry& entry) {
    if (!entry.sequence->isRunning()) return false;
    for (const auto& op : entry.sequence->ops()) {
      if (tensor) {
        for (const auto& used : op->tensors()) {
          if (used.get() == tensor) return true;
        }
      }
      if (algorithm) {
        auto* dispatch = dynamic_cast<const engine::OpAlgoDispatch*>(op.get());
        if (dispatch && dispatch->algorithm().get() == algorithm) return true;
      }
    }
    return false;
  };
  for (const auto& [handle, entry] : sequences_.all()) {
    if (uses(*entry)) return true;
  }
  for (const auto& entry : anonymous_) {
    if (uses(*entry)) return true;
  }
  return false;
}

std::vector<std::shared_ptr<SequenceEntry>> SessionObjects::allSequences() const {
  std::vector<std::shared_ptr<SequenceEntry>> all;
  for (const auto& [handle, entry] : sequences_.all()) all.push_back(entry);
  all.insert(all.end(), anonymous_.begin(), anonymous_.end());
  return all;
}

void SessionObjects::keepOnlySequences(std::vector<std::shared_ptr<SequenceEntry>> stillRunning) {
  sequences_.clear();
  anonymous_ = std::move(stillRunning);
}

void SessionObjects::destroyAll() {
  for (const auto& [handle, algorithm] : algorithms_.all()) algorithm->destroy();
  for (const auto& [handle, tensor] : tensors_.all()) {
    tensorBytes_ -= tensor->byteSize();
    tensor->destroy();
  }
  algorithms_.clear();
  tensors_.clear();
}

void SessionObjects::handOver(std::vector<std::shared_ptr<void>>* keep) {
  for (const auto& [handle, entry] : sequences_.all()) keep->push_back(entry);
  for (const auto& entry : anonymous_) keep->push_back(entry);
  for (const auto& [handle, algorithm] : algorithms_.all()) keep->push_back(algorithm);
  for (const auto& [handle, tensor] : tensors_.all()) keep->push_back(tensor);
  sequences_.clear();
  anonymous_.clear();
  algorithms_.clear();
  tensors_.clear();
  tensorBytes_ = 0;
}

}  // namespace kp::service
