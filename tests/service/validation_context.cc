#include "validation_context.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "server/service/transport/status.h"
#include "validation_shaders.h"

namespace kp::service::test::validation {
namespace {

// The owner of the sessions the calls use: the service's calls run on bare ServerContexts,
// with no peer, which PeerCredentials::owner names "tcp".
constexpr const char* kOwner = "tcp";

template <typename T>
std::string bytesOf(std::initializer_list<T> values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  std::memcpy(bytes.data(), std::data(values), bytes.size());
  return bytes;
}

v1::Op tensorsOp(std::vector<uint64_t> tensors,
                 google::protobuf::RepeatedField<uint64_t>* (*field)(v1::Op&)) {
  v1::Op op;
  field(op)->Add(tensors.begin(), tensors.end());
  return op;
}

// Throws naming `what` unless `status` is OK: the context cannot be set up.
void require(const grpc::Status& status, const std::string& what) {
  if (!status.ok()) {
    throw std::runtime_error("setting up the validation context: " + what +
                             " failed: " + status.error_message());
  }
}

std::string readFile(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  if (text.str().empty()) throw std::runtime_error("cannot read " + path);
  return text.str();
}

}  // namespace

std::string f32(std::initializer_list<float> values) {
  return bytesOf(values);
}
std::string u32(std::initializer_list<uint32_t> values) {
  return bytesOf(values);
}

std::vector<float> floats(const std::string& bytes) {
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

v1::Constants constants(v1::DataType dataType, std::string values) {
  v1::Constants result;
  result.set_data_type(dataType);
  result.set_values(std::move(values));
  return result;
}

v1::Op syncDevice(std::vector<uint64_t> tensors) {
  return tensorsOp(std::move(tensors),
                   [](v1::Op& op) { return op.mutable_tensor_sync_device()->mutable_tensors(); });
}

v1::Op syncLocal(std::vector<uint64_t> tensors) {
  return tensorsOp(std::move(tensors),
                   [](v1::Op& op) { return op.mutable_tensor_sync_local()->mutable_tensors(); });
}

v1::Op copy(std::vector<uint64_t> tensors) {
  return tensorsOp(std::move(tensors),
                   [](v1::Op& op) { return op.mutable_tensor_copy()->mutable_tensors(); });
}

v1::Op mult(std::vector<uint64_t> tensors) {
  return tensorsOp(std::move(tensors),
                   [](v1::Op& op) { return op.mutable_mult()->mutable_tensors(); });
}

v1::Op dispatch(uint64_t algorithm, std::optional<v1::Constants> pushConstants) {
  v1::Op op;
  op.mutable_algo_dispatch()->set_algorithm(algorithm);
  if (pushConstants) *op.mutable_algo_dispatch()->mutable_push_constants() = *pushConstants;
  return op;
}

v1::Op barrier(const Barrier& fields) {
  v1::Op op;
  v1::OpMemoryBarrier* barrier = op.mutable_memory_barrier();
  barrier->mutable_tensors()->Add(fields.tensors.begin(), fields.tensors.end());
  barrier->set_src_access_mask(fields.srcAccess);
  barrier->set_dst_access_mask(fields.dstAccess);
  barrier->set_src_stage_mask(fields.srcStage);
  barrier->set_dst_stage_mask(fields.dstStage);
  barrier->set_barrier_on_primary(fields.primary);
  return op;
}

v1::TensorData upload(uint64_t tensor, std::string data) {
  v1::TensorData result;
  result.set_tensor(tensor);
  result.set_data(std::move(data));
  return result;
}

v1::Workgroup workgroup(uint32_t x, uint32_t y, uint32_t z) {
  v1::Workgroup result;
  result.set_x(x);
  result.set_y(y);
  result.set_z(z);
  return result;
}

std::string replaceEntryPointName(const std::string& spirv, const std::string& from,
                                  const std::string& to) {
  if (from.size() != to.size()) throw std::invalid_argument("names of different lengths");
  constexpr uint32_t kOpEntryPoint = 15;
  std::string result = spirv;
  for (size_t offset = 20; offset + 4 <= result.size();) {  // after the 5-word header
    uint32_t word = 0;
    std::memcpy(&word, result.data() + offset, sizeof(word));
    const uint32_t count = word >> 16;
    if ((word & 0xFFFF) == kOpEntryPoint) {  // OpEntryPoint model function name...
      const size_t name = offset + 12;
      if (result.compare(name, from.size(), from) != 0) {
        throw std::invalid_argument("the entry point is not named " + from);
      }
      result.replace(name, to.size(), to);
      return result;
    }
    if (count == 0) break;
    offset += 4 * static_cast<size_t>(count);
  }
  throw std::invalid_argument("no OpEntryPoint");
}

// ---- the context ----

ValidationContext::ValidationContext() : instance_(engine::Instance::create({})) {
  if (instance_->deviceCount() == 0) return;
  // As Server::start assembles them (without listeners and without the device watchdog).
  config_.compiler.worker = KPD_COMPILE_BINARY;
  pool_ = std::make_unique<DevicePool>(instance_, config_);
  retirement_ = std::make_unique<Retirement>(*pool_, config_);
  registry_ = std::make_unique<SessionRegistry>(*pool_, *retirement_, config_);
  reaper_ = std::make_unique<LeaseReaper>(*registry_, *retirement_);
  service_ = std::make_unique<ComputeService>(*pool_, *registry_, *reaper_, *retirement_, gate_,
                                              peers_, std::nullopt);

  v1::SessionOpened opened;
  session = openOrThrow("test_validation", &opened);
  device = opened.device();
  other = openOrThrow("test_validation other", nullptr);
  multiplyGlsl = readFile(KP_SHADER_SOURCE_DIR "/multiply.comp");
  multiplySpirv = compile(multiplyGlsl);

  const auto tensor = [&](TensorFields fields) {
    if (fields.dataType == v1::DATA_TYPE_UNSPECIFIED) fields.dataType = kF32;
    if (fields.tensorType == v1::TENSOR_TYPE_UNSPECIFIED) fields.tensorType = kDevice;
    if (fields.size == 0) fields.size = 3;
    return tensorOrThrow(session, fields);
  };
  a = tensor({.data = f32({1, 2, 3})});
  b = tensor({.data = f32({4, 5, 6})});
  c = tensor({});
  int3 = tensor({.dataType = kI32});
  four = tensor({.size = 4});
  storage = tensor({.tensorType = kStorage});
  host = tensor({.tensorType = kHost});
  destroyed = tensor({});
  require(destroyTensor(destroyed), "DestroyTensor");
  foreign = tensorOrThrow(other, {.dataType = kF32, .tensorType = kDevice, .size = 3});

  algorithm = algorithmOrThrow({.tensors = {a},
                                .glsl = shaders::kPush12Bytes,
                                .workgroup = workgroup(1),
                                .pushConstants = constants(kF32, f32({1, 2, 3}))});
  // An algorithm whose tensor is destroyed afterwards, and one destroyed itself.
  const uint64_t doomed = tensor({});
  orphanAlgorithm = algorithmOrThrow({.tensors = {doomed},
                                      .glsl = shaders::kPush12Bytes,
                                      .pushConstants = constants(kF32, f32({0, 0, 0}))});
  require(destroyTensor(doomed), "DestroyTensor");
  destroyedAlgorithm = algorithmOrThrow({.tensors = {b},
                                         .glsl = shaders::kPush12Bytes,
                                         .pushConstants = constants(kF32, f32({0, 0, 0}))});
  require(destroyAlgorithm(destroyedAlgorithm), "DestroyAlgorithm");

  sequence = sequenceOrThrow();
  neverEvaluated = sequenceOrThrow();
  destroyedSequence = sequenceOrThrow();
  require(destroySequence(destroyedSequence), "DestroySequence");
  // A sequence recorded with a copy into a tensor that is destroyed afterwards.
  const uint64_t target = tensor({});
  staleSequence = sequenceOrThrow();
  require(record({copy({a, target})}, staleSequence), "RecordSequence");
  require(destroyTensor(target), "DestroyTensor");
  // A sequence left running (evaluated asynchronously, not awaited), with its tensor and
  // algorithm.
  busy = tensor({});
  busyAlgorithm = algorithmOrThrow({.tensors = {busy},
                                    .glsl = shaders::kPush12Bytes,
                                    .workgroup = workgroup(1),
                                    .pushConstants = constants(kF32, f32({1, 1, 1}))});
  busySequence = sequenceOrThrow();
  require(evalAsync({.sequence = busySequence,
                     .record = true,
                     .ops = {dispatch(busyAlgorithm), syncLocal({busy})}}),
          "EvalAsync");
}

ValidationContext::~ValidationContext() {
  if (!registry_) return;
  // As Server::shutdown ends what is left: the sessions, then the service's threads.
  gate_.startDraining();
  reaper_->stop();
  registry_->closeAll("the test ended", Session::Clock::now() + std::chrono::seconds(10));
  retirement_->releaseIdle();
  service_.reset();
  reaper_.reset();
  registry_.reset();
  retirement_.reset();
  pool_.reset();
}

grpc::Status ValidationContext::openSession(const v1::OpenSessionRequest& request,
                                            v1::SessionOpened* opened) {
  v1::SessionOpened filled;
  std::shared_ptr<Session> opening;
  grpc::Status status = guarded("OpenSession", [&] {
    opening = registry_->open(request, "in-process test", kOwner, /*sameHost=*/false, &filled);
  });
  if (opening) registry_->close(filled.session(), kOwner, "the test cancelled the stream");
  if (opened) *opened = filled;
  return status;
}

namespace {

v1::CreateTensorRequest tensorRequest(const TensorFields& fields) {
  v1::CreateTensorRequest request;
  request.set_data_type(fields.dataType);
  request.set_tensor_type(fields.tensorType);
  request.set_size(fields.size);
  request.set_data(fields.data);
  return request;
}

}  // namespace

grpc::Status ValidationContext::createTensor(const TensorFields& fields, uint64_t* handle) {
  v1::CreateTensorResponse response;
  grpc::Status status = call(&ComputeService::CreateTensor, tensorRequest(fields), &response);
  if (handle) *handle = response.tensor();
  return status;
}

grpc::Status ValidationContext::destroyTensor(uint64_t tensor) {
  v1::DestroyTensorRequest request;
  request.set_tensor(tensor);
  return call(&ComputeService::DestroyTensor, request);
}

grpc::Status ValidationContext::readTensor(uint64_t tensor, std::string* data) {
  v1::ReadTensorRequest request;
  request.set_tensor(tensor);
  v1::ReadTensorResponse response;
  grpc::Status status = call(&ComputeService::ReadTensor, request, &response);
  if (data) *data = response.data();
  return status;
}

grpc::Status ValidationContext::writeTensor(uint64_t tensor, const std::string& data) {
  v1::WriteTensorRequest request;
  request.set_tensor(tensor);
  request.set_data(data);
  return call(&ComputeService::WriteTensor, request);
}

grpc::Status ValidationContext::createAlgorithm(const AlgorithmFields& fields, uint64_t* handle) {
  v1::CreateAlgorithmRequest request;
  request.mutable_tensors()->Add(fields.tensors.begin(), fields.tensors.end());
  if (fields.spirv) request.set_spirv(*fields.spirv);
  if (fields.glsl) request.set_glsl(*fields.glsl);
  if (fields.workgroup) *request.mutable_workgroup() = *fields.workgroup;
  if (fields.specConstants) *request.mutable_spec_constants() = *fields.specConstants;
  if (fields.pushConstants) *request.mutable_push_constants() = *fields.pushConstants;
  v1::CreateAlgorithmResponse response;
  grpc::Status status = call(&ComputeService::CreateAlgorithm, request, &response);
  if (handle) *handle = response.algorithm();
  return status;
}

grpc::Status ValidationContext::destroyAlgorithm(uint64_t algorithm) {
  v1::DestroyAlgorithmRequest request;
  request.set_algorithm(algorithm);
  return call(&ComputeService::DestroyAlgorithm, request);
}

grpc::Status ValidationContext::createSequence(uint32_t queueIndex, uint32_t totalTimestamps,
                                               uint64_t* handle) {
  v1::CreateSequenceRequest request;
  request.set_queue_index(queueIndex);
  request.set_total_timestamps(totalTimestamps);
  v1::CreateSequenceResponse response;
  grpc::Status status = call(&ComputeService::CreateSequence, request, &response);
  if (handle) *handle = response.sequence();
  return status;
}

grpc::Status ValidationContext::destroySequence(uint64_t sequence) {
  v1::DestroySequenceRequest request;
  request.set_sequence(sequence);
  return call(&ComputeService::DestroySequence, request);
}

grpc::Status ValidationContext::record(std::vector<v1::Op> ops, uint64_t sequence) {
  v1::RecordSequenceRequest request;
  request.set_sequence(sequence ? sequence : this->sequence);
  for (v1::Op& op : ops) *request.add_ops() = std::move(op);
  return call(&ComputeService::RecordSequence, request);
}

namespace {

v1::EvalRequest evalRequest(const EvalFields& fields) {
  v1::EvalRequest request;
  request.set_sequence(fields.sequence);
  request.set_record(fields.record);
  for (const v1::Op& op : fields.ops) *request.add_ops() = op;
  for (const v1::TensorData& data : fields.uploads) *request.add_uploads() = data;
  request.set_timeout_ms(fields.timeoutMs);
  return request;
}

}  // namespace

grpc::Status ValidationContext::eval(const EvalFields& fields, v1::EvalResponse* response) {
  return call(&ComputeService::Eval, evalRequest(fields), response);
}

grpc::Status ValidationContext::evalAsync(const EvalFields& fields) {
  return call(&ComputeService::EvalAsync, evalRequest(fields));
}

grpc::Status ValidationContext::evalAwait(uint64_t sequence, uint64_t timeoutNs,
                                          v1::EvalResponse* response) {
  v1::EvalAwaitRequest request;
  request.set_sequence(sequence);
  request.set_timeout_ns(timeoutNs);
  return call(&ComputeService::EvalAwait, request, response);
}

grpc::Status ValidationContext::compileShader(const std::string& glsl, const std::string& name,
                                              std::string* spirv) {
  v1::CompileShaderRequest request;
  request.set_glsl(glsl);
  request.set_name(name);
  v1::CompileShaderResponse response;
  grpc::Status status = send(&ComputeService::CompileShader, request, &response);
  if (spirv) *spirv = response.spirv();
  return status;
}

v1::GetStatusResponse ValidationContext::status() {
  v1::GetStatusResponse response;
  require(send(&ComputeService::GetStatus, v1::GetStatusRequest(), &response), "GetStatus");
  return response;
}

std::string ValidationContext::compile(const std::string& glsl) {
  std::string spirv;
  require(compileShader(glsl, "", &spirv), "CompileShader");
  return spirv;
}

std::string ValidationContext::openOrThrow(const std::string& clientName,
                                           v1::SessionOpened* opened) {
  v1::OpenSessionRequest request;
  request.set_client_name(clientName);
  v1::SessionOpened filled;
  require(
      guarded("OpenSession",
              [&] { registry_->open(request, "in-process test", kOwner, false, &filled); }),
      "OpenSession");
  if (opened) *opened = filled;
  return filled.session();
}

uint64_t ValidationContext::tensorOrThrow(const std::string& inSession,
                                          const TensorFields& fields) {
  v1::CreateTensorRequest request = tensorRequest(fields);
  request.set_session(inSession);
  v1::CreateTensorResponse response;
  require(send(&ComputeService::CreateTensor, request, &response), "CreateTensor");
  return response.tensor();
}

uint64_t ValidationContext::algorithmOrThrow(const AlgorithmFields& fields) {
  uint64_t handle = 0;
  require(createAlgorithm(fields, &handle), "CreateAlgorithm");
  return handle;
}

uint64_t ValidationContext::sequenceOrThrow() {
  uint64_t handle = 0;
  require(createSequence(0, 0, &handle), "CreateSequence");
  return handle;
}

}  // namespace kp::service::test::validation
