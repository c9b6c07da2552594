#include "kp/operations/op_tensor_sync_local.hpp"

#include "client-cpp/src/field.h"
#include "client-cpp/src/op_encoder.h"

namespace kp {

OpTensorSyncLocal::OpTensorSyncLocal(const Tensors& tensors) : tensors_(tensors) {
  detail::checkTensors(tensors_, "OpTensorSyncLocal", 1);
}

void OpTensorSyncLocal::encode(detail::OpEncoder& encoder) const {
  v1::OpTensorSyncLocal* sync = encoder.add()->mutable_tensor_sync_local();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    sync->add_tensors(encoder.tensor(tensors_[i], detail::tensorField("OpTensorSyncLocal", i)));
  }
}

}  // namespace kp
