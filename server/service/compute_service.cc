#include "compute_service.h"

#include <algorithm>

#include "convert.h"
#include "session_stream.h"
#include "status.h"

namespace kp::service {
namespace {

// ReadTensorStream's largest chunk: large enough that per-message costs vanish, and with its
// framing under the smallest message limit kpd accepts (1 MiB).
constexpr uint64_t kChunkBytes = (1 << 20) - 1024;

}  // namespace

grpc::ServerWriteReactor<v1::SessionEvent>* ComputeService::OpenSession(
    grpc::CallbackServerContext* context, const v1::OpenSessionRequest* request) {
  return new SessionStream(registry_, context, request);
}

grpc::Status ComputeService::ListDevices(grpc::ServerContext*, const v1::ListDevicesRequest*,
                                         v1::ListDevicesResponse* response) {
  return guarded("ListDevices", [&] {
    for (const auto& info : pool_.instance().devices()) toProto(info, response->add_devices());
  });
}

grpc::Status ComputeService::CloseSession(grpc::ServerContext*,
                                          const v1::CloseSessionRequest* request,
                                          v1::CloseSessionResponse*) {
  return guarded("CloseSession",
                 [&] { registry_.close(request->session(), "closed by the client"); });
}

grpc::Status ComputeService::CreateTensor(grpc::ServerContext*,
                                          const v1::CreateTensorRequest* request,
                                          v1::CreateTensorResponse* response) {
  return guarded("CreateTensor", [&] {
    registry_.find(request->session())->createTensor(*request, response);
  });
}

grpc::Status ComputeService::DestroyTensor(grpc::ServerContext*,
                                           const v1::DestroyTensorRequest* request,
                                           v1::DestroyTensorResponse*) {
  return guarded("DestroyTensor", [&] {
    registry_.find(request->session())->destroyTensor(request->tensor());
  });
}

grpc::Status ComputeService::ReadTensor(grpc::ServerContext*, const v1::ReadTensorRequest* request,
                                        v1::ReadTensorResponse* response) {
  return guarded("ReadTensor", [&] {
    *response->mutable_data() = registry_.find(request->session())->readTensor(request->tensor());
  });
}

grpc::Status ComputeService::WriteTensor(grpc::ServerContext*,
                                         const v1::WriteTensorRequest* request,
                                         v1::WriteTensorResponse*) {
  return guarded("WriteTensor", [&] {
    registry_.find(request->session())->writeTensor(request->tensor(), request->data());
  });
}

grpc::Status ComputeService::WriteTensorStream(grpc::ServerContext*,
                                               grpc::ServerReader<v1::TensorChunk>* reader,
                                               v1::WriteTensorResponse*) {
  return guarded("WriteTensorStream", [&] {
    std::shared_ptr<Session> session;
    uint64_t tensor = 0;
    v1::TensorChunk chunk;
    while (reader->Read(&chunk)) {
      if (!session) {
        session = registry_.find(chunk.session());
        tensor = chunk.tensor();
      }
      engine::require(chunk.tensor() == 0 || chunk.tensor() == tensor,
                      engine::ErrorCode::kInvalidArgument,
                      "tensor: a stream writes one tensor (" + std::to_string(tensor) +
                          "), a chunk names " + std::to_string(chunk.tensor()));
      session->writeTensorChunk(tensor, chunk.offset(), chunk.data());
    }
    engine::require(session != nullptr, engine::ErrorCode::kInvalidArgument,
                    "the stream had no chunk");
  });
}

grpc::Status ComputeService::ReadTensorStream(grpc::ServerContext* context,
                                              const v1::ReadTensorStreamRequest* request,
                                              grpc::ServerWriter<v1::TensorChunk>* writer) {
  return guarded("ReadTensorStream", [&] {
    auto session = registry_.find(request->session());
    const uint64_t chunkBytes =
        request->chunk_bytes() ? std::min<uint64_t>(request->chunk_bytes(), kChunkBytes) : kChunkBytes;
    v1::TensorChunk chunk;
    chunk.set_tensor(request->tensor());
    uint64_t offset = 0;
    uint64_t size = 0;
    do {
      chunk.set_offset(offset);
      chunk.mutable_data()->clear();
      size = session->readTensorChunk(request->tensor(), offset, chunkBytes, chunk.mutable_data());
      if (size == 0 || context->IsCancelled()) break;
      if (!writer->Write(chunk)) break;
      offset += chunk.data().size();
    } while (offset < size);
  });
}

grpc::Status ComputeService::CreateAlgorithm(grpc::ServerContext*,
                                             const v1::CreateAlgorithmRequest* request,
                                             v1::CreateAlgorithmResponse* response) {
  return guarded("CreateAlgorithm", [&] {
    registry_.find(request->session())->createAlgorithm(*request, response);
  });
}

grpc::Status ComputeService::DestroyAlgorithm(grpc::ServerContext*,
                                              const v1::DestroyAlgorithmRequest* request,
                                              v1::DestroyAlgorithmResponse*) {
  return guarded("DestroyAlgorithm", [&] {
    registry_.find(request->session())->destroyAlgorithm(request->algorithm());
  });
}

grpc::Status ComputeService::CreateSequence(grpc::ServerContext*,
                                            const v1::CreateSequenceRequest* request,
                                            v1::CreateSequenceResponse* response) {
  return guarded("CreateSequence", [&] {
    response->set_sequence(registry_.find(request->session())->createSequence(*request));
  });
}

grpc::Status ComputeService::DestroySequence(grpc::ServerContext*,
                                             const v1::DestroySequenceRequest* request,
                                             v1::DestroySequenceResponse*) {
  return guarded("DestroySequence", [&] {
    registry_.find(request->session())->destroySequence(request->sequence());
  });
}

grpc::Status ComputeService::RecordSequence(grpc::ServerContext*,
                                            const v1::RecordSequenceRequest* request,
                                            v1::RecordSequenceResponse*) {
  return guarded("RecordSequence",
                 [&] { registry_.find(request->session())->recordSequence(*request); });
}

grpc::Status ComputeService::Eval(grpc::ServerContext* context, const v1::EvalRequest* request,
                                  v1::EvalResponse* response) {
  return guarded("Eval", [&] {
    registry_.find(request->session())->eval(*request, response, context->deadline());
  });
}

grpc::Status ComputeService::EvalAsync(grpc::ServerContext*, const v1::EvalRequest* request,
                                       v1::EvalAsyncResponse*) {
  return guarded("EvalAsync", [&] { registry_.find(request->session())->evalAsync(*request); });
}

grpc::Status ComputeService::EvalAwait(grpc::ServerContext*, const v1::EvalAwaitRequest* request,
                                       v1::EvalResponse* response) {
  return guarded("EvalAwait",
                 [&] { registry_.find(request->session())->evalAwait(*request, response); });
}

grpc::Status ComputeService::CompileShader(grpc::ServerContext*,
                                           const v1::CompileShaderRequest* request,
                                           v1::CompileShaderResponse* response) {
  return guarded("CompileShader", [&] {
    const std::string name = request->name().empty() ? "shader" : request->name();
    std::vector<uint32_t> spirv;
    try {
      spirv = pool_.compiler().compile(request->glsl(), name);
    } catch (const engine::Error& error) {
      throw engine::Error(error.code(), std::string("glsl: ") + error.what());
    }
    response->mutable_spirv()->assign(reinterpret_cast<const char*>(spirv.data()),
                                      spirv.size() * sizeof(uint32_t));
  });
}

grpc::Status ComputeService::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                       v1::GetStatusResponse* response) {
  return guarded("GetStatus", [&] {
    response->set_sessions(static_cast<uint32_t>(registry_.size()));
    response->set_objects(registry_.objectCount());
    for (const auto& [device, bytes] : pool_.memoryUsage()) {
      v1::DeviceMemory* memory = response->add_device_memory();
      memory->set_device(device);
      memory->set_allocated_bytes(bytes);
    }
  });
}

}  // namespace kp::service
