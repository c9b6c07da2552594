// What the request-validation table (validation_table.h) runs against: the kp.v1 service
// assembled in-process the way kpd assembles it (server/service/server.cc), two open sessions,
// and the objects the rows refer to: live, destroyed and foreign handles of each kind, an
// algorithm and a sequence whose tensor was destroyed, a sequence left running.
//
// Calls go to ComputeService's handlers with a default ServerContext (no metadata, no
// deadline), so they answer exactly as kpd would (token check, shutdown gate and error mapping
// included). OpenSession is a callback stream; openSession() opens through the session
// registry inside guarded("OpenSession", ...), which is what the stream does.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kp/v1/compute.pb.h"
#include "server/engine/instance.h"
#include "server/service/config.h"
#include "server/service/devices/device_pool.h"
#include "server/service/lifecycle/lease_reaper.h"
#include "server/service/lifecycle/retirement.h"
#include "server/service/lifecycle/session_registry.h"
#include "server/service/transport/call_gate.h"
#include "server/service/transport/compute_service.h"
#include "server/service/transport/peer_credentials.h"

namespace kp::service::test::validation {

constexpr uint64_t kUnknownHandle = 0x5EED'5EED'5EED'5EEDull;
inline const std::string kUnknownSession =
    "0123456789abcdef"
    "0123456789abcdef";

constexpr v1::DataType kF32 = v1::DATA_TYPE_FLOAT32;
constexpr v1::DataType kI32 = v1::DATA_TYPE_INT32;
constexpr v1::DataType kU32 = v1::DATA_TYPE_UINT32;
constexpr v1::DataType kF64 = v1::DATA_TYPE_FLOAT64;
constexpr v1::TensorType kDevice = v1::TENSOR_TYPE_DEVICE;
constexpr v1::TensorType kHost = v1::TENSOR_TYPE_HOST;
constexpr v1::TensorType kStorage = v1::TENSOR_TYPE_STORAGE;

// ---- values and ops ----

// The bytes of float32 values / of uint32 values (little-endian, as on the wire).
std::string f32(std::initializer_list<float> values);
std::string u32(std::initializer_list<uint32_t> values);
// The floats of `bytes`.
std::vector<float> floats(const std::string& bytes);
v1::Constants constants(v1::DataType dataType, std::string values);

v1::Op syncDevice(std::vector<uint64_t> tensors);
v1::Op syncLocal(std::vector<uint64_t> tensors);
v1::Op copy(std::vector<uint64_t> tensors);
v1::Op mult(std::vector<uint64_t> tensors);
v1::Op dispatch(uint64_t algorithm, std::optional<v1::Constants> pushConstants = std::nullopt);
// Defaults: VK_ACCESS_SHADER_READ_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, on the primary
// buffer.
struct Barrier {
  std::vector<uint64_t> tensors;
  uint32_t srcAccess = 0x20;
  uint32_t dstAccess = 0x20;
  uint32_t srcStage = 0x800;
  uint32_t dstStage = 0x800;
  bool primary = true;
};
v1::Op barrier(const Barrier& fields);
v1::TensorData upload(uint64_t tensor, std::string data);

// The module `spirv` with its OpEntryPoint's name `from` replaced by `to` (same length).
std::string replaceEntryPointName(const std::string& spirv, const std::string& from,
                                  const std::string& to);

// ---- requests, by their fields (designated initialisers name them as the proto does) ----

struct TensorFields {
  v1::DataType dataType = v1::DATA_TYPE_UNSPECIFIED;
  v1::TensorType tensorType = v1::TENSOR_TYPE_UNSPECIFIED;
  uint64_t size = 0;
  std::string data;
};

struct AlgorithmFields {
  std::vector<uint64_t> tensors;
  std::optional<std::string> spirv;
  std::optional<std::string> glsl;
  std::optional<v1::Workgroup> workgroup;
  std::optional<v1::Constants> specConstants;
  std::optional<v1::Constants> pushConstants;
};

struct EvalFields {
  uint64_t sequence = 0;
  bool record = false;
  std::vector<v1::Op> ops;
  std::vector<v1::TensorData> uploads;
  uint64_t timeoutMs = 0;
};

v1::Workgroup workgroup(uint32_t x, uint32_t y = 0, uint32_t z = 0);

// ---- the context ----

class ValidationContext {
 public:
  // No Vulkan device: deviceCount() == 0 and nothing else is set up. Throws
  // std::runtime_error naming the call when a set-up call fails.
  ValidationContext();
  // Closes every session and stops the service's threads.
  ~ValidationContext();

  ValidationContext(const ValidationContext&) = delete;
  ValidationContext& operator=(const ValidationContext&) = delete;

  uint32_t deviceCount() const { return instance_->deviceCount(); }

  // Calls `method` with `request` as kpd would, as it arrived (the session as given), and
  // fills `response` with its reply.
  template <typename Request, typename Response>
  grpc::Status send(grpc::Status (ComputeService::*method)(grpc::ServerContext*, const Request*,
                                                           Response*),
                    const Request& request, Response* response = nullptr) {
    grpc::ServerContext context;
    Response fresh;  // gRPC hands every call a new response
    grpc::Status status = (service_.get()->*method)(&context, &request, &fresh);
    if (response) *response = std::move(fresh);
    return status;
  }
  // The same in the test session.
  template <typename Request, typename Response>
  grpc::Status call(grpc::Status (ComputeService::*method)(grpc::ServerContext*, const Request*,
                                                           Response*),
                    Request request, Response* response = nullptr) {
    request.set_session(session);
    return send(method, request, response);
  }

  // OpenSession: the status its stream would finish with; an opened session is closed again
  // (as when the client cancels the stream) after filling `opened`.
  grpc::Status openSession(const v1::OpenSessionRequest& request,
                           v1::SessionOpened* opened = nullptr);

  // One RPC each, in the test session.
  grpc::Status createTensor(const TensorFields& fields, uint64_t* handle = nullptr);
  grpc::Status destroyTensor(uint64_t tensor);
  grpc::Status readTensor(uint64_t tensor, std::string* data = nullptr);
  grpc::Status writeTensor(uint64_t tensor, const std::string& data);
  grpc::Status createAlgorithm(const AlgorithmFields& fields, uint64_t* handle = nullptr);
  grpc::Status destroyAlgorithm(uint64_t algorithm);
  grpc::Status createSequence(uint32_t queueIndex = 0, uint32_t totalTimestamps = 0,
                              uint64_t* handle = nullptr);
  grpc::Status destroySequence(uint64_t sequence);
  // RecordSequence of `ops` into `sequence` (0: the context's `sequence`).
  grpc::Status record(std::vector<v1::Op> ops, uint64_t sequence = 0);
  grpc::Status eval(const EvalFields& fields, v1::EvalResponse* response = nullptr);
  grpc::Status evalAsync(const EvalFields& fields);
  grpc::Status evalAwait(uint64_t sequence, uint64_t timeoutNs,
                         v1::EvalResponse* response = nullptr);
  grpc::Status compileShader(const std::string& glsl, const std::string& name = "",
                             std::string* spirv = nullptr);
  v1::GetStatusResponse status();

  // SPIR-V of `glsl` through CompileShader (throws if it does not compile).
  std::string compile(const std::string& glsl);

  // The sessions: the test session and another one (whose objects are foreign to it).
  std::string session;
  std::string other;
  v1::Device device;  // SessionOpened.device of the test session
  // The built-in multiply shader (shaders/multiply.comp: three storage buffers, c = a * b) as
  // GLSL and, compiled through CompileShader, as SPIR-V.
  std::string multiplyGlsl;
  std::string multiplySpirv;

  // Tensors of the test session (float32 x 3 on the device unless named otherwise):
  // a = [1 2 3], b = [4 5 6], c; int3 (int32); four (4 elements); storage; host; destroyed;
  // and foreign, a tensor of the other session.
  uint64_t a = 0, b = 0, c = 0, int3 = 0, four = 0, storage = 0, host = 0, destroyed = 0;
  uint64_t foreign = 0;
  // algorithm: PUSH_12_BYTES on a, push constants [1 2 3], workgroup x = 1. orphanAlgorithm:
  // its tensor was destroyed afterwards. destroyedAlgorithm: on b, destroyed.
  uint64_t algorithm = 0, orphanAlgorithm = 0, destroyedAlgorithm = 0;
  // sequence and neverEvaluated: empty; destroyedSequence; staleSequence: a copy of a into a
  // tensor destroyed afterwards.
  uint64_t sequence = 0, neverEvaluated = 0, destroyedSequence = 0, staleSequence = 0;
  // A sequence left running (evaluated asynchronously, not awaited): it dispatches
  // busyAlgorithm (busy[0] += 1 + 1 + 1) and syncs busy back.
  uint64_t busy = 0, busyAlgorithm = 0, busySequence = 0;

 private:
  std::string openOrThrow(const std::string& clientName, v1::SessionOpened* opened);
  uint64_t tensorOrThrow(const std::string& inSession, const TensorFields& fields);
  uint64_t algorithmOrThrow(const AlgorithmFields& fields);
  uint64_t sequenceOrThrow();

  ServiceConfig config_;
  std::shared_ptr<engine::Instance> instance_;
  CallGate gate_;
  PeerCredentials peers_;
  std::unique_ptr<DevicePool> pool_;
  std::unique_ptr<Retirement> retirement_;
  std::unique_ptr<SessionRegistry> registry_;
  std::unique_ptr<LeaseReaper> reaper_;
  std::unique_ptr<ComputeService> service_;
};

}  // namespace kp::service::test::validation
