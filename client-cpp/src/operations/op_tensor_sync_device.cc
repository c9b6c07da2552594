#include "kp/operations/op_tensor_sync_device.hpp"

#include "client-cpp/src/field.h"
#include "client-cpp/src/op_encoder.h"

namespace kp {

OpTensorSyncDevice::OpTensorSyncDevice(const Tensors& tensors) : tensors_(tensors) {
  detail::checkTensors(tensors_, "OpTensorSyncDevice", 1);
}

void OpTensorSyncDevice::encode(detail::OpEncoder& encoder) const {
  v1::OpTensorSyncDevice* sync = encoder.add()->mutable_tensor_sync_device();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const std::string field = detail::tensorField("OpTensorSyncDevice", i);
    sync->add_tensors(encoder.tensor(tensors_[i], field));
    encoder.upload(tensors_[i], field);
  }
}

}  // namespace kp
