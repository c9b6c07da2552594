#include "kp/operations/op_tensor_copy.hpp"

#include "client-cpp/src/field.h"
#include "kp/error.hpp"
#include "client-cpp/src/op_encoder.h"

namespace kp {

OpTensorCopy::OpTensorCopy(const Tensors& tensors) : tensors_(tensors) {
  detail::checkTensors(tensors_, "OpTensorCopy", 2);
  const Tensor& source = *tensors_[0];
  for (size_t i = 1; i < tensors_.size(); ++i) {
    const Tensor& target = *tensors_[i];
    if (target.dataType() != source.dataType() || target.size() != source.size()) {
      throw InvalidArgumentError(
          StatusCode::kInvalidArgument,
          detail::tensorField("OpTensorCopy", i) + ": " + std::to_string(target.size()) + " " +
              Tensor::toString(target.dataType()) + " elements; the source has " +
              std::to_string(source.size()) + " " + Tensor::toString(source.dataType()) +
              " (all tensors of a copy need one data type and size)");
    }
  }
}

void OpTensorCopy::encode(detail::OpEncoder& encoder) const {
  v1::OpTensorCopy* copy = encoder.add()->mutable_tensor_copy();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    copy->add_tensors(encoder.tensor(tensors_[i], detail::tensorField("OpTensorCopy", i)));
  }
  // As in Kompute, the destinations' host data becomes the source's host data as this process
  // holds it: the daemon gets it first (a no-op in shared memory, where it reads it in place).
  encoder.upload(tensors_[0], detail::tensorField("OpTensorCopy", 0));
}

}  // namespace kp
