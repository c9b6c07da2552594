#include "kp/tensor.hpp"

#include <cstring>

#include "access.h"
#include "kp/error.hpp"
#include "session.h"
#include "wire.h"

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

Tensor::Tensor(std::shared_ptr<detail::Session> session, std::vector<uint8_t> hostBytes,
               uint32_t count, TensorDataTypes dataType, TensorTypes tensorType)
    : session_(std::move(session)),
      hostData_(std::move(hostBytes)),
      size_(count),
      dataType_(dataType),
      tensorType_(tensorType) {
  if (hostData_.size() != static_cast<size_t>(count) * hostElementSize(dataType)) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "tensor: " + std::to_string(hostData_.size()) + " bytes given for " +
                                   std::to_string(count) + " " + toString(dataType) +
                                   " elements of " + std::to_string(hostElementSize(dataType)) +
                                   " bytes");
  }
  v1::CreateTensorRequest request;
  request.set_session(session_->id());
  request.set_data_type(detail::toProto(dataType));
  request.set_tensor_type(detail::toProto(tensorType));
  request.set_size(count);
  if (count > 0) request.set_data(detail::toWire(dataType, hostData_.data(), count));
  handle_ = session_->call(&detail::Session::Stub::CreateTensor, request).tensor();
}

Tensor::~Tensor() {
  try {
    destroy();
  } catch (const std::exception&) {
    // Best effort: the session's end frees the tensor anyway.
  }
}

void Tensor::destroy() {
  if (destroyed_.exchange(true)) return;
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
  std::memcpy(hostData_.data(), data, hostData_.size());
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
