// A session's tensors: creating them (kpd's shared regions or the client's arenas), destroying
// them, and reading and writing their host copies.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "server/base/error.h"
#include "server/service/session/convert.h"
#include "server/service/session/session.h"

namespace kp::service {

using base::ErrorCode;
using base::MutexLock;

std::shared_ptr<SharedArena> Session::newArena(uint64_t bytes) {
  KP_REQUIRE(bytes > 0 && bytes <= kMaxClientArenaBytes, ErrorCode::kInvalidArgument,
             "new_arena.size: " + std::to_string(bytes) + " bytes; an arena has 1 to " +
                 std::to_string(kMaxClientArenaBytes) + " bytes");
  MutexLock lock(mutex_);
  requireOpen();
  KP_REQUIRE(shared_ != nullptr, ErrorCode::kFailedPrecondition,
             "the session has no shared memory");
  const uint64_t alignment = shared_->alignment();
  const uint64_t size = (bytes + alignment - 1) / alignment * alignment;
  const uint64_t limit = objects_.memoryLimit();
  KP_REQUIRE(size <= limit && clientArenaBytes_ <= limit - size, ErrorCode::kResourceExhausted,
             "new_arena: client arenas would take " + describeBytes(clientArenaBytes_ + size) +
                 ", more than the session's memory quota (" + describeBytes(limit) +
                 ", --session-memory-bytes)");
  auto arena = shared_->newClientArena(bytes);
  clientArenaBytes_ += size;
  return arena;
}

void Session::createTensor(const v1::CreateTensorRequest& request,
                           v1::CreateTensorResponse* response) {
  PreparedTensor prepared = prepareTensor(request);
  engine::Tensor::uploadInitial(*device_, {prepared.tensor});
  addTensor(prepared, response);
}

Session::PreparedTensor Session::prepareTensor(const v1::CreateTensorRequest& request) {
  const engine::DataType dataType = toEngine(request.data_type(), "data_type");
  const engine::TensorType tensorType = toEngine(request.tensor_type(), "tensor_type");
  KP_REQUIRE(request.size() > 0, ErrorCode::kInvalidArgument,
             "size must be greater than zero (got 0): a zero-sized tensor, which Kompute "
             "refuses too");
  const uint64_t elementBytes = engine::elementSize(dataType);
  KP_REQUIRE(request.size() <= UINT64_MAX / elementBytes, ErrorCode::kInvalidArgument,
             "size " + std::to_string(request.size()) + " is too large");
  const uint64_t bytes = request.size() * elementBytes;
  if (!request.data().empty()) {
    KP_REQUIRE(request.data().size() == bytes, ErrorCode::kInvalidArgument,
               "data has " + std::to_string(request.data().size()) + " bytes; a tensor of " +
                   std::to_string(request.size()) + " " + engine::dataTypeName(dataType) +
                   " elements needs " + std::to_string(bytes) + " (or none for zeros)");
  }
  const bool placed = request.has_region();  // by the client, in an arena of its own
  if (placed) {
    KP_REQUIRE(request.region().offset() % elementBytes == 0, ErrorCode::kInvalidArgument,
               "region.offset: " + std::to_string(request.region().offset()) +
                   " is not a multiple of the element size (" + std::to_string(elementBytes) +
                   " bytes)");
  }
  const bool shared = request.shared_memory() || placed;
  std::shared_ptr<SharedRegion> region;
  std::optional<Reservation> reservation;
  {
    MutexLock lock(mutex_);
    requireOpen();
    if (request.handle() != 0)
      objects_.tensors().requireFreeClientHandle(request.handle(), "handle");
    const char* field = placed ? "region" : "shared_memory";
    if (shared) {
      KP_REQUIRE(tensorType != engine::TensorType::kStorage, ErrorCode::kInvalidArgument,
                 std::string(field) + ": a storage tensor has no host copy to share");
      KP_REQUIRE(shared_ != nullptr, ErrorCode::kFailedPrecondition,
                 std::string(field) +
                     ": attach a local data connection first (SessionOpened.data_socket)");
    }
    if (placed) {
      region = shared_->clientRegion(request.region().arena(), request.region().offset(), bytes,
                                     "region");
    }
    reservation.emplace(objects_.reserve(mutex_, "a tensor", bytes));
    if (shared && !placed) region = shared_->allocate(bytes);
  }
  engine::ExternalHostMemory external;
  if (region) external = {region->data(), region->size, region, placed};
  // Allocation happens outside the lock: the tensor is not shared yet.
  PreparedTensor prepared;
  prepared.tensor = engine::Tensor::createPending(
      device_, dataType, request.size(), tensorType,
      request.data().empty() ? nullptr : request.data().data(), region ? &external : nullptr);
  prepared.reservation.emplace(std::move(*reservation));
  if (!placed) prepared.region = std::move(region);
  prepared.handle = request.handle();
  return prepared;
}

void Session::addTensor(PreparedTensor& prepared, v1::CreateTensorResponse* response) {
  MutexLock lock(mutex_);
  if (closed_) prepared.tensor->destroy();
  requireOpen();
  response->set_tensor(objects_.add(prepared.tensor, *prepared.reservation, prepared.handle));
  if (prepared.region) {
    response->mutable_region()->set_arena(prepared.region->arena->id());
    response->mutable_region()->set_offset(prepared.region->offset);
    response->mutable_region()->set_size(prepared.region->size);
  }
}

void Session::destroyTensor(uint64_t handle) {
  MutexLock lock(mutex_);
  requireOpen();
  objects_.destroyTensor(handle);
}

std::shared_ptr<engine::Tensor> Session::tensorWithHostData(uint64_t handle) {
  requireOpen();
  const auto& tensor = objects_.tensors().get(handle, "tensor");
  KP_REQUIRE(tensor->hasHostData(), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) + " is a storage tensor: it has no host data");
  return tensor;
}

std::string Session::readTensor(uint64_t handle, std::shared_ptr<void>* replyHold) {
  MutexLock lock(mutex_);
  const auto tensor = tensorWithHostData(handle);
  std::shared_ptr<void> hold = holdReply(tensor->byteSize(), "ReadTensor");
  if (replyHold) *replyHold = std::move(hold);
  KP_REQUIRE(tensor->byteSize() + 16 <= static_cast<uint64_t>(config_.maxMessageBytes),
             ErrorCode::kResourceExhausted,
             "tensor " + std::to_string(handle) + " has " + describeBytes(tensor->byteSize()) +
                 ", more than a reply may carry (--max-message-bytes " +
                 std::to_string(config_.maxMessageBytes) + ")");
  std::string data(tensor->byteSize(), '\0');
  tensor->getHostData(data.data(), data.size());
  return data;
}

void Session::writeTensor(uint64_t handle, const std::string& data) {
  MutexLock lock(mutex_);
  const auto tensor = tensorWithHostData(handle);
  KP_REQUIRE(data.size() == tensor->byteSize(), ErrorCode::kInvalidArgument,
             "data has " + std::to_string(data.size()) + " bytes; tensor " +
                 std::to_string(handle) + " has " + std::to_string(tensor->byteSize()));
  writeHostBytes(*tensor, handle, 0, data);
}

uint64_t Session::writeTensorChunk(uint64_t handle, uint64_t offset, const std::string& data) {
  MutexLock lock(mutex_);
  const auto tensor = tensorWithHostData(handle);
  writeHostBytes(*tensor, handle, offset, data);
  return tensor->byteSize();
}

void Session::writeHostBytes(engine::Tensor& tensor, uint64_t handle, uint64_t offset,
                             const std::string& data) {
  KP_REQUIRE(!objects_.usedByRunningEvaluation(&tensor, nullptr), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) +
                 " is used by a running evaluation; await it before writing the tensor");
  KP_REQUIRE(offset <= tensor.byteSize() && data.size() <= tensor.byteSize() - offset,
             ErrorCode::kInvalidArgument,
             "chunk at offset " + std::to_string(offset) + " with " + std::to_string(data.size()) +
                 " bytes passes the end of tensor " + std::to_string(handle) + " (" +
                 std::to_string(tensor.byteSize()) + " bytes)");
  std::memcpy(static_cast<char*>(tensor.hostData()) + offset, data.data(), data.size());
}

uint64_t Session::readTensorChunk(uint64_t handle, uint64_t offset, uint64_t maxBytes,
                                  std::string* out) {
  MutexLock lock(mutex_);
  const auto tensor = tensorWithHostData(handle);
  const uint64_t size = tensor->byteSize();
  if (offset < size) {
    const uint64_t n = std::min(maxBytes, size - offset);
    out->append(static_cast<const char*>(tensor->hostData()) + offset, n);
  }
  return size;
}

// ---- algorithms ----

}  // namespace kp::service
