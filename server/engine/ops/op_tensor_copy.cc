#include "server/engine/ops/op_tensor_copy.h"

#include <cstring>
#include <string>

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;

OpTensorCopy::OpTensorCopy(std::vector<std::shared_ptr<Tensor>> tensors)
    : tensors_(std::move(tensors)) {
  KP_REQUIRE(tensors_.size() >= 2, ErrorCode::kInvalidArgument,
             "OpTensorCopy: needs at least 2 tensors (a source and a destination), got " +
                 std::to_string(tensors_.size()));
  checkTensors(name(), tensors_);
  const Tensor& source = *tensors_[0];
  for (size_t i = 1; i < tensors_.size(); ++i) {
    const std::string field = "OpTensorCopy: tensors[" + std::to_string(i) + "]";
    KP_REQUIRE(tensors_[i]->dataType() == source.dataType(), ErrorCode::kInvalidArgument,
               field + " has data type " + dataTypeName(tensors_[i]->dataType()) +
                   ", tensors[0] has " + dataTypeName(source.dataType()));
    KP_REQUIRE(tensors_[i]->size() == source.size(), ErrorCode::kInvalidArgument,
               field + " has " + std::to_string(tensors_[i]->size()) +
                   " elements, tensors[0] has " + std::to_string(source.size()));
    for (size_t j = 0; j < i; ++j) {
      KP_REQUIRE(tensors_[j] != tensors_[i], ErrorCode::kInvalidArgument,
                 field + " is the same tensor as tensors[" + std::to_string(j) + "]");
    }
  }
}

void OpTensorCopy::checkUsable() const { checkTensors(name(), tensors_); }

void OpTensorCopy::record(VkCommandBuffer commandBuffer) const {
  for (size_t i = 1; i < tensors_.size(); ++i) {
    tensors_[i]->recordCopyFrom(commandBuffer, *tensors_[0]);
  }
}

void OpTensorCopy::postEval() {
  const void* source = tensors_[0]->hostData();
  if (!source) return;
  for (size_t i = 1; i < tensors_.size(); ++i) {
    if (void* target = tensors_[i]->hostData()) {
      std::memcpy(target, source, tensors_[0]->byteSize());
    }
  }
}

std::vector<std::shared_ptr<Tensor>> OpTensorCopy::hostOutputs() const {
  std::vector<std::shared_ptr<Tensor>> outputs;
  if (!tensors_[0]->hasHostData()) return outputs;
  for (size_t i = 1; i < tensors_.size(); ++i) {
    if (tensors_[i]->hasHostData()) outputs.push_back(tensors_[i]);
  }
  return outputs;
}

}  // namespace kp::engine
