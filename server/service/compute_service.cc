#include "compute_service.h"

#include "convert.h"
#include "session_stream.h"
#include "status.h"

namespace kp::service {

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
    response->set_tensor(registry_.find(request->session())->createTensor(*request));
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
