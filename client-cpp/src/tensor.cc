#include "kp/tensor.hpp"

#include <cstring>

#include "client-cpp/src/access.h"
#include "client-cpp/src/eval_transport.h"
#include "client-cpp/src/session.h"
#include "client-cpp/src/tensor_stream.h"
#include "client-cpp/src/wire.h"
#include "kp/error.hpp"

namespace kp {

std::string Tensor::toString(TensorTypes type) {
  switch (type) {
    case TensorTypes::eDevice:
      return "eDevice";
    case TensorTypes::eHost:
      return "eHost";
    case TensorTypes::eStorage:
      return "eStorage";
  }
  return "unknown";
}

std::string Tensor::toString(TensorDataTypes type) {
  switch (type) {
    case TensorDataTypes::eBool:
      return "eBool";
    case TensorDataTypes::eInt:
      return "eInt";
    case TensorDataTypes::eUnsignedInt:
      return "eUnsignedInt";
    case TensorDataTypes::eFloat:
      return "eFloat";
    case TensorDataTypes::eDouble:
      return "eDouble";
  }
  return "unknown";
}

uint32_t Tensor::hostElementSize(TensorDataTypes type) {
  switch (type) {
    case TensorDataTypes::eBool:
      return 1;
    case TensorDataTypes::eDouble:
      return 8;
    default:
      return 4;
  }
}

namespace {

bool allZero(const std::vector<uint8_t>& bytes) {
  return bytes.empty() ||
         (bytes[0] == 0 && std::memcmp(bytes.data(), bytes.data() + 1, bytes.size() - 1) == 0);
}

// An anonymous evaluation of one op on `tensors` (for the initial data of a new tensor).
template <typename Field>
void evalOp(const detail::Session& session, Field field, std::initializer_list<uint64_t> tensors) {
  google::protobuf::RepeatedPtrField<v1::Op> ops;
  auto* op = (ops.Add()->*field)();
  for (uint64_t tensor : tensors) op->add_tensors(tensor);
  detail::evalOnce(session, ops);
}

}  // namespace

Tensor::Tensor(std::shared_ptr<detail::Session> session, std::vector<uint8_t> hostBytes,
               uint32_t count, TensorDataTypes dataType, TensorTypes tensorType)
    : session_(std::move(session)), dataType_(dataType), tensorType_(tensorType) {
  create(std::move(hostBytes), count);
}

void Tensor::create(std::vector<uint8_t> hostBytes, uint32_t count) {
  const TensorDataTypes dataType = dataType_;
  const TensorTypes tensorType = tensorType_;
  if (hostBytes.size() != static_cast<size_t>(count) * hostElementSize(dataType)) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "tensor: " + std::to_string(hostBytes.size()) + " bytes given for " +
                                   std::to_string(count) + " " + toString(dataType) +
                                   " elements of " + std::to_string(hostElementSize(dataType)) +
                                   " bytes");
  }
  hostBytes_ = hostBytes.size();
  size_ = count;
  // On the daemon's host the host copy moves into shared memory; bool tensors excepted (their
  // host layout is not the GPU's), and storage tensors, which have none in the daemon.
  const bool shared = session_->local() != nullptr && dataType != TensorDataTypes::eBool &&
                      tensorType != TensorTypes::eStorage && count > 0;
  // Small initial data travels in the request; larger data is written in place (shared
  // memory) or streamed afterwards. Zeros need no data at all: new tensors start zeroed.
  const bool zeros = allZero(hostBytes);
  const size_t wireBytes = static_cast<size_t>(count) * detail::wireElementSize(dataType);
  const bool sentInline = zeros || wireBytes <= detail::inlineLimits(*session_).each;
  v1::CreateTensorRequest request;
  request.set_session(session_->id());
  request.set_data_type(detail::toProto(dataType));
  request.set_tensor_type(detail::toProto(tensorType));
  request.set_size(count);
  if (sentInline && !zeros) {
    detail::toWire(dataType, hostBytes.data(), count, request.mutable_data());
  }
  request.set_shared_memory(shared);
  const v1::CreateTensorResponse response =
      session_->call(&detail::Session::Stub::CreateTensor, request);
  handle_ = response.tensor();
  try {
    if (shared) {
      arena_ = session_->arena(response.region().arena());
      host_ = arena_->region(response.region().offset(), hostBytes_);
      if (!sentInline) {
        std::memcpy(host_, hostBytes.data(), hostBytes_);
        evalOp(*session_, &v1::Op::mutable_tensor_sync_device, {handle_});
      }
      return;
    }
    ownHost_ = std::move(hostBytes);
    host_ = ownHost_.data();
    if (sentInline) return;
    if (tensorType != TensorTypes::eStorage) {
      detail::writeTensorStream(*session_, handle_, dataType, host_, count);
      evalOp(*session_, &v1::Op::mutable_tensor_sync_device, {handle_});
      return;
    }
    // A storage tensor has no host copy in the daemon: the data goes through a temporary one.
    Tensor carrier(session_, ownHost_, count, dataType, TensorTypes::eDevice);
    evalOp(*session_, &v1::Op::mutable_tensor_copy, {carrier.handle_, handle_});
  } catch (...) {
    try {
      release(false);
    } catch (const std::exception&) {
      // The first error is the one to report; the session's end frees the tensor anyway.
    }
    throw;
  }
}

Tensor::~Tensor() {
  try {
    release(false);
  } catch (const std::exception&) {
    // Best effort: the session's end frees the tensor anyway.
  }
}

void Tensor::destroy() {
  release(true);
}

void Tensor::rebuild(const void* data, uint32_t elementTotalCount, uint32_t elementMemorySize) {
  if (elementMemorySize != dataTypeMemorySize()) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "rebuild: elements of " + std::to_string(elementMemorySize) +
                                   " bytes given; the tensor's " + toString(dataType_) +
                                   " elements have " + std::to_string(dataTypeMemorySize()));
  }
  if (!session_->isOpen()) {
    throw FailedPreconditionError(StatusCode::kFailedPrecondition,
                                  "rebuild: the tensor's Manager was destroyed");
  }
  // `data` may point into the current host copy, which release() frees.
  const auto* bytes = static_cast<const uint8_t*>(data);
  std::vector<uint8_t> hostBytes(static_cast<size_t>(elementTotalCount) * elementMemorySize);
  if (!hostBytes.empty()) std::memcpy(hostBytes.data(), bytes, hostBytes.size());
  release(false);
  arena_.reset();
  ownHost_.clear();
  host_ = nullptr;
  handle_ = 0;
  destroyed_ = false;  // so that a failure inside create() frees the new tensor
  try {
    create(std::move(hostBytes), elementTotalCount);
  } catch (...) {
    destroyed_ = true;
    throw;
  }
}

void Tensor::release(bool keepHostCopy) {
  if (destroyed_.exchange(true)) return;
  if (arena_ && keepHostCopy) {
    // The daemon may give the region to another tensor once this one is gone.
    ownHost_.assign(host_, host_ + hostBytes_);
    host_ = ownHost_.data();
    arena_.reset();
  }
  v1::DestroyTensorRequest request;
  request.set_session(session_->id());
  request.set_tensor(handle_);
  session_->release(&detail::Session::Stub::DestroyTensor, request);
}

bool Tensor::isInit() const {
  return !destroyed_ && session_->isOpen();
}

uint32_t Tensor::dataTypeMemorySize() const {
  return hostElementSize(dataType_);
}

void Tensor::setRawData(const void* data) {
  std::memcpy(host_, data, hostBytes_);
}

void Tensor::checkType(TensorDataTypes requested, const char* what) const {
  if (requested != dataType_) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               std::string(what) + ": the tensor holds " + toString(dataType_) +
                                   " elements, not " + toString(requested));
  }
}

void Tensor::checkCount(size_t count, const char* what) const {
  if (count != size_) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               std::string(what) + ": " + std::to_string(count) +
                                   " values given for a tensor of " + std::to_string(size_) +
                                   " elements");
  }
}

}  // namespace kp
