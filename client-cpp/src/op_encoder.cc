#include "op_encoder.h"

#include <algorithm>
#include <unordered_map>

#include "access.h"
#include "kp/error.hpp"

namespace kp::detail {

OpEncoder::OpEncoder(const std::vector<std::shared_ptr<OpBase>>& ops) {
  for (const auto& op : ops) op->encode(*this);
}

uint64_t OpEncoder::tensor(const std::shared_ptr<Tensor>& tensor, const std::string& field) {
  const uint64_t handle = Access::tensorHandle(*tensor, field);
  if (std::find(tensors_.begin(), tensors_.end(), tensor) == tensors_.end()) {
    tensors_.push_back(tensor);
  }
  return handle;
}

void OpEncoder::upload(const std::shared_ptr<Tensor>& tensor, const std::string& field) {
  const uint64_t handle = Access::tensorHandle(*tensor, field);
  const bool seen = std::any_of(uploads_.begin(), uploads_.end(),
                                [&](const auto& upload) { return upload.first == handle; });
  if (!seen) uploads_.emplace_back(handle, tensor);
}

void OpEncoder::moveOpsInto(v1::EvalRequest& request) {
  request.mutable_ops()->Swap(&ops_);
}

void OpEncoder::addUploads(v1::EvalRequest& request) const {
  for (const auto& [handle, tensor] : uploads_) {
    v1::TensorData* upload = request.add_uploads();
    upload->set_tensor(handle);
    upload->set_data(Access::wireData(*tensor));
  }
}

void OpEncoder::applyDownloads(const v1::EvalResponse& response,
                               const std::vector<std::shared_ptr<Tensor>>& tensors) {
  if (response.downloads().empty()) return;
  std::unordered_map<uint64_t, Tensor*> byHandle;
  for (const auto& tensor : tensors) {
    // A tensor destroyed since is skipped: its host copy keeps its last values.
    try {
      byHandle[Access::tensorHandle(*tensor, "")] = tensor.get();
    } catch (const Error&) {
    }
  }
  for (const v1::TensorData& download : response.downloads()) {
    auto found = byHandle.find(download.tensor());
    if (found != byHandle.end()) Access::storeWireData(*found->second, download.data());
  }
}

}  // namespace kp::detail
