#include "client-cpp/src/access.h"

#include "kp/error.hpp"
#include "client-cpp/src/wire.h"

namespace kp::detail {

uint64_t Access::tensorHandle(const Tensor& tensor, const std::string& what) {
  if (tensor.destroyed_) {
    throw FailedPreconditionError(StatusCode::kFailedPrecondition,
                                  what + ": the tensor was destroyed");
  }
  return tensor.handle_;
}

std::string Access::wireData(const Tensor& tensor) {
  return toWire(tensor.dataType_, tensor.host_, tensor.size_);
}

void Access::writeWireData(const Tensor& tensor, std::string* wire) {
  toWire(tensor.dataType_, tensor.host_, tensor.size_, wire);
}

void Access::storeWireData(Tensor& tensor, const std::string& wire) {
  fromWire(tensor.dataType_, wire, tensor.host_, tensor.size_, tensor.handle_);
}

uint64_t Access::algorithmHandle(const Algorithm& algorithm, const std::string& what) {
  std::lock_guard<std::mutex> lock(algorithm.mutex_);
  if (algorithm.destroyed_) {
    throw FailedPreconditionError(StatusCode::kFailedPrecondition,
                                  what + ": the algorithm was destroyed");
  }
  if (algorithm.handle_ == 0) {
    throw FailedPreconditionError(
        StatusCode::kFailedPrecondition,
        what + ": the algorithm is empty (create it with tensors and a shader)");
  }
  return algorithm.handle_;
}

void Access::adoptTensors(Algorithm& algorithm,
                          const std::vector<std::shared_ptr<Tensor>>& tensors) {
  std::lock_guard<std::mutex> lock(algorithm.mutex_);
  if (algorithm.handle_ == 0 && !algorithm.destroyed_) algorithm.tensors_ = tensors;
}

}  // namespace kp::detail
