#include "client-cpp/src/op_encoder.h"

#include <algorithm>

#include "client-cpp/src/access.h"
#include "kp/error.hpp"
#include "client-cpp/src/tensor_stream.h"
#include "client-cpp/src/wire.h"

namespace kp::detail {
namespace {

// The tensor of `tensors` with `handle`, or null (none, or destroyed since).
Tensor* find(const std::vector<std::shared_ptr<Tensor>>& tensors, uint64_t handle) {
  for (const auto& tensor : tensors) {
    if (Access::handleIfAlive(*tensor) == handle) return tensor.get();
  }
  return nullptr;
}

}  // namespace

OpEncoder::OpEncoder(const std::vector<std::shared_ptr<OpBase>>& ops, InlineLimits limits)
    : limits_(limits) {
  for (const auto& op : ops) op->encode(*this);
}

uint64_t OpEncoder::tensor(const std::shared_ptr<Tensor>& tensor, const std::string& field) {
  const uint64_t handle = Access::tensorHandle(*tensor, field);
  if (std::find(tensors_.begin(), tensors_.end(), tensor) == tensors_.end()) {
    tensors_.push_back(tensor);
    tensorFields_.push_back(field);
  }
  return handle;
}

void OpEncoder::upload(const std::shared_ptr<Tensor>& tensor, const std::string& field) {
  const uint64_t handle = Access::tensorHandle(*tensor, field);
  if (tensor->inSharedMemory()) return;  // the daemon reads it in place
  // A storage tensor has no host data: syncs skip it, as Kompute v0.9's do.
  if (tensor->tensorType() == Tensor::TensorTypes::eStorage) return;
  const bool seen = std::any_of(uploads_.begin(), uploads_.end(),
                                [&](const Upload& upload) { return upload.handle == handle; });
  if (seen) return;
  const size_t bytes = tensor->size() * wireElementSize(tensor->dataType());
  const bool streamed = bytes > limits_.each || inlineBytes_ + bytes > limits_.total;
  if (!streamed) inlineBytes_ += bytes;
  uploads_.push_back({handle, tensor, streamed});
}

uint64_t OpEncoder::algorithm(const std::shared_ptr<Algorithm>& algorithm,
                              const std::string& field) {
  const uint64_t handle = Access::algorithmHandle(*algorithm, field);
  algorithms_.emplace_back(algorithm, field);
  return handle;
}

void OpEncoder::check() const {
  for (size_t i = 0; i < tensors_.size(); ++i) Access::tensorHandle(*tensors_[i], tensorFields_[i]);
  for (const auto& [algorithm, field] : algorithms_) Access::algorithmHandle(*algorithm, field);
}

void OpEncoder::addUploads(v1::EvalRequest& request) const {
  google::protobuf::RepeatedPtrField<v1::TensorData>* messages = request.mutable_uploads();
  int used = 0;
  for (const Upload& upload : uploads_) {
    if (upload.streamed) continue;
    v1::TensorData* message = used < messages->size() ? messages->Mutable(used) : messages->Add();
    ++used;
    message->set_tensor(upload.handle);
    Access::writeWireData(*upload.tensor, message->mutable_data());
  }
  while (messages->size() > used) messages->RemoveLast();
}

void OpEncoder::streamUploads(const Session& session) const {
  for (const Upload& upload : uploads_) {
    if (!upload.streamed) continue;
    const Tensor& tensor = *upload.tensor;
    writeTensorStream(session, upload.handle, tensor.dataType(), tensor.rawData(), tensor.size());
  }
}

void OpEncoder::applyDownloads(const v1::EvalResponse& response, const Session& session) const {
  applyDownloads(response, tensors_);
  for (uint64_t handle : response.pending_downloads()) {
    if (Tensor* tensor = find(tensors_, handle)) {
      readTensorStream(session, handle, tensor->dataType(), tensor->rawData(), tensor->size());
    }
  }
}

void OpEncoder::applyDownloads(const v1::EvalResponse& response,
                               const std::vector<std::shared_ptr<Tensor>>& tensors) {
  for (const v1::TensorData& download : response.downloads()) {
    if (Tensor* tensor = find(tensors, download.tensor())) {
      Access::storeWireData(*tensor, download.data());
    }
  }
}

}  // namespace kp::detail
