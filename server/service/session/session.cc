#include "server/service/session/session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "server/service/session/convert.h"
#include "server/base/error.h"
#include "server/engine/ops/op_algo_dispatch.h"
#include "server/engine/shader/spirv_validator.h"

namespace kp::service {

using engine::ErrorCode;
using engine::fail;

namespace {

// "67108864 bytes (64.0 MiB)": exact, and readable.
std::string describeBytes(uint64_t bytes) {
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::string text = std::to_string(bytes) + " bytes";
  if (bytes < 1024) return text;
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  char readable[32];
  std::snprintf(readable, sizeof(readable), " (%.1f %s)", value, units[unit]);
  return text + readable;
}

}  // namespace

Session::Session(std::string id, uint64_t number, const std::string& name, uint32_t deviceIndex,
                 std::shared_ptr<engine::Device> device, DevicePool& pool,
                 const ServiceConfig& config, uint32_t leaseSeconds, std::string client)
    : id_(std::move(id)),
      number_(number),
      label_("session #" + std::to_string(number) + (name.empty() ? "" : " (" + name + ")")),
      deviceIndex_(deviceIndex),
      device_(std::move(device)),
      pool_(pool),
      config_(config),
      leaseSeconds_(leaseSeconds),
      client_(std::move(client)),
      memoryLimit_(sessionMemoryLimit(config, device_->info())),
      random_(std::random_device{}()),
      lastActive_(Clock::now().time_since_epoch().count()) {}

Session::~Session() {
  if (close("session released")) return;
  // Its GPU work did not finish (only at shutdown does a session go with work running): keep
  // what that work uses allocated, with the device, rather than free memory in use.
  std::vector<std::shared_ptr<void>> keep;
  abandon("session released", &keep);
  pool_.bury(device_, std::move(keep));
}

void Session::touch() { lastActive_.store(Clock::now().time_since_epoch().count()); }

Session::Clock::time_point Session::lastActive() const {
  return Clock::time_point(Clock::duration(lastActive_.load()));
}

bool Session::isClosed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

size_t Session::objectCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return tensors_.size() + algorithms_.size() + sequences_.size();
}

void Session::requireOpen() const {
  KP_REQUIRE(!closed_, ErrorCode::kNotFound,
             "session " + id_ + " does not exist any more (the session ended: " + endReason_ + ")");
}

size_t Session::objectsHeld() const {
  return tensors_.size() + algorithms_.size() + sequences_.size() + pendingObjects_;
}

void Session::requireObjectQuota(const char* kind) const {
  const size_t held = objectsHeld();
  KP_REQUIRE(held < config_.sessionMaxObjects, ErrorCode::kResourceExhausted,
             std::string("session object quota exceeded: cannot create ") + kind +
                 ", the session holds " + std::to_string(held) +
                 " tensors, algorithms and sequences, its limit (--session-max-objects " +
                 std::to_string(config_.sessionMaxObjects) + ")");
}

void Session::requireMemoryQuota(uint64_t bytes) const {
  KP_REQUIRE(
      bytes <= memoryLimit_ && tensorBytes_ <= memoryLimit_ - bytes, ErrorCode::kResourceExhausted,
      "session device memory quota exceeded: " + describeBytes(tensorBytes_) + " in use + " +
          describeBytes(bytes) + " requested > " + describeBytes(memoryLimit_) +
          (config_.sessionMemoryBytes > 0
               ? std::string(" (--session-memory-bytes)")
               : " (--session-memory-bytes 0: " + std::to_string(kDefaultSessionMemoryPercent) +
                     "% of the device's largest device-local heap)"));
}

void Session::requireOpsLimit(const google::protobuf::RepeatedPtrField<v1::Op>& ops) const {
  const uint64_t weight = opsWeight(ops);
  KP_REQUIRE(weight <= config_.maxSequenceOps, ErrorCode::kResourceExhausted,
             "ops: " + std::to_string(ops.size()) + " ops of weight " + std::to_string(weight) +
                 " (an op counts once per tensor it names, at least once), more than a sequence "
                 "may record (--max-sequence-ops " +
                 std::to_string(config_.maxSequenceOps) + ")");
}

void Session::requireReplyFits(const std::vector<Download>& downloads, uint32_t timestamps,
                               uint64_t inlineLimit, uint64_t sequence) const {
  // Each download is a TensorData (handle + bytes) inside the reply: allow 32 bytes of framing
  // per entry, and 11 per timestamp (a varint), on top of the data. Shared-memory tensors and
  // those above the inline limit stay out of the reply (see collect).
  uint64_t bytes = 16 + uint64_t{timestamps} * 11;
  for (const Download& download : downloads) {
    const uint64_t size = download.tensor->byteSize();
    const bool inlined = !download.tensor->hasExternalHostMemory() &&
                         (inlineLimit == 0 || size <= inlineLimit);
    bytes += inlined ? size + 32 : 16;
  }
  KP_REQUIRE(bytes <= static_cast<uint64_t>(config_.maxMessageBytes), ErrorCode::kResourceExhausted,
             evaluationName(sequence) + ": its reply would carry " + describeBytes(bytes) +
                 " of downloads, more than a message may hold (--max-message-bytes " +
                 std::to_string(config_.maxMessageBytes) +
                 "); sync fewer or smaller tensors per evaluation");
}

std::string Session::evaluationName(uint64_t sequence) {
  return sequence == 0 ? "the evaluation" : "sequence " + std::to_string(sequence);
}

void Session::setCloseListener(std::function<void(const std::string&)> listener) {
  std::lock_guard<std::mutex> lock(mutex_);
  listener_ = std::move(listener);
}

// ---- tensors ----

uint64_t Session::attachLocal() {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  if (!shared_) {
    const uint64_t alignment = std::max<uint64_t>(4096, device_->info().importHostPointerAlignment);
    shared_ = std::make_unique<SharedMemory>(alignment, config_.sharedArenaBytes);
  }
  return shared_->alignment();
}

std::shared_ptr<SharedArena> Session::arena(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  KP_REQUIRE(shared_ != nullptr, ErrorCode::kFailedPrecondition,
             "the session has no shared memory");
  return shared_->arena(id);
}

void Session::createTensor(const v1::CreateTensorRequest& request,
                           v1::CreateTensorResponse* response) {
  const engine::DataType dataType = toEngine(request.data_type(), "data_type");
  const engine::TensorType tensorType = toEngine(request.tensor_type(), "tensor_type");
  KP_REQUIRE(request.size() > 0, ErrorCode::kInvalidArgument,
             "size must be greater than zero (got 0)");
  const uint64_t elementBytes = engine::elementSize(dataType);
  KP_REQUIRE(request.size() <= UINT64_MAX / elementBytes, ErrorCode::kInvalidArgument,
             "size " + std::to_string(request.size()) + " is too large");
  const uint64_t bytes = request.size() * elementBytes;
  if (!request.data().empty()) {
    KP_REQUIRE(request.data().size() == bytes, ErrorCode::kInvalidArgument,
               "data has " + std::to_string(request.data().size()) + " bytes; a tensor of " +
                   std::to_string(request.size()) + " " + engine::dataTypeName(dataType) +
                   " elements needs " + std::to_string(bytes) + " (or none for zeros)");
  }
  std::shared_ptr<SharedRegion> region;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requireOpen();
    if (request.shared_memory()) {
      KP_REQUIRE(tensorType != engine::TensorType::kStorage, ErrorCode::kInvalidArgument,
                 "shared_memory: a storage tensor has no host copy to share");
      KP_REQUIRE(shared_ != nullptr, ErrorCode::kFailedPrecondition,
                 "shared_memory: attach a local data connection first (SessionOpened.data_socket)");
    }
    requireObjectQuota("a tensor");
    requireMemoryQuota(bytes);
    if (request.shared_memory()) region = shared_->allocate(bytes);
    ++pendingObjects_;
    tensorBytes_ += bytes;  // reserved now, so concurrent creations cannot overshoot
  }
  engine::ExternalHostMemory external;
  if (region) external = {region->data(), region->size, region};
  // Allocation and the first upload happen outside the lock: the tensor is not shared yet.
  std::shared_ptr<engine::Tensor> tensor;
  try {
    tensor = engine::Tensor::create(device_, dataType, request.size(), tensorType,
                                    request.data().empty() ? nullptr : request.data().data(),
                                    region ? &external : nullptr);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    --pendingObjects_;
    tensorBytes_ -= bytes;
    throw;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  --pendingObjects_;
  if (closed_) {
    tensorBytes_ -= bytes;
    tensor->destroy();
    requireOpen();
  }
  response->set_tensor(tensors_.add(std::move(tensor), random_));
  if (region) {
    response->mutable_region()->set_arena(region->arena->id());
    response->mutable_region()->set_offset(region->offset);
    response->mutable_region()->set_size(region->size);
  }
}

void Session::destroyTensor(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  const auto& tensor = tensors_.get(handle, "tensor");
  KP_REQUIRE(!usedByRunningEvaluation(tensor.get(), nullptr), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) +
                 " is used by a running evaluation; await it before destroying the tensor");
  tensorBytes_ -= tensor->byteSize();
  tensor->destroy();
  tensors_.remove(handle, "tensor");
}

std::string Session::readTensor(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  const auto& tensor = tensors_.get(handle, "tensor");
  KP_REQUIRE(tensor->hasHostData(), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) + " is a storage tensor: it has no host data");
  KP_REQUIRE(tensor->byteSize() + 16 <= static_cast<uint64_t>(config_.maxMessageBytes),
             ErrorCode::kResourceExhausted,
             "tensor " + std::to_string(handle) + " has " + describeBytes(tensor->byteSize()) +
                 ", more than a reply may carry (--max-message-bytes " +
                 std::to_string(config_.maxMessageBytes) + ")");
  std::string data(tensor->byteSize(), '\0');
  tensor->getHostData(data.data(), data.size());
  return data;
}

void Session::writeTensor(uint64_t handle, const std::string& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  const auto& tensor = tensors_.get(handle, "tensor");
  KP_REQUIRE(tensor->hasHostData(), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) + " is a storage tensor: it has no host data");
  KP_REQUIRE(data.size() == tensor->byteSize(), ErrorCode::kInvalidArgument,
             "data has " + std::to_string(data.size()) + " bytes; tensor " +
                 std::to_string(handle) + " has " + std::to_string(tensor->byteSize()));
  KP_REQUIRE(!usedByRunningEvaluation(tensor.get(), nullptr), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) +
                 " is used by a running evaluation; await it before writing the tensor");
  tensor->setHostData(data.data(), data.size());
}

void Session::writeTensorChunk(uint64_t handle, uint64_t offset, const std::string& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  const auto& tensor = tensors_.get(handle, "tensor");
  KP_REQUIRE(tensor->hasHostData(), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) + " is a storage tensor: it has no host data");
  KP_REQUIRE(!usedByRunningEvaluation(tensor.get(), nullptr), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) +
                 " is used by a running evaluation; await it before writing the tensor");
  KP_REQUIRE(offset <= tensor->byteSize() && data.size() <= tensor->byteSize() - offset,
             ErrorCode::kInvalidArgument,
             "chunk at offset " + std::to_string(offset) + " with " + std::to_string(data.size()) +
                 " bytes passes the end of tensor " + std::to_string(handle) + " (" +
                 std::to_string(tensor->byteSize()) + " bytes)");
  std::memcpy(static_cast<char*>(tensor->hostData()) + offset, data.data(), data.size());
}

uint64_t Session::readTensorChunk(uint64_t handle, uint64_t offset, uint64_t maxBytes,
                                  std::string* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  const auto& tensor = tensors_.get(handle, "tensor");
  KP_REQUIRE(tensor->hasHostData(), ErrorCode::kFailedPrecondition,
             "tensor " + std::to_string(handle) + " is a storage tensor: it has no host data");
  const uint64_t size = tensor->byteSize();
  if (offset < size) {
    const uint64_t n = std::min(maxBytes, size - offset);
    out->append(static_cast<const char*>(tensor->hostData()) + offset, n);
  }
  return size;
}

// ---- algorithms ----

void Session::createAlgorithm(const v1::CreateAlgorithmRequest& request,
                              v1::CreateAlgorithmResponse* response) {
  std::vector<uint32_t> spirv;
  switch (request.shader_case()) {
    case v1::CreateAlgorithmRequest::kSpirv:
      spirv = engine::spirvWords(request.spirv().data(), request.spirv().size());
      pool_.validator(deviceIndex_).validate(spirv);
      break;
    case v1::CreateAlgorithmRequest::kGlsl:
      try {
        spirv = pool_.compiler().compile(request.glsl(), "shader");
        // What glslang makes is valid SPIR-V, but it may still use capabilities kpd does not
        // enable on this device (e.g. float16_t).
        pool_.validator(deviceIndex_).validate(spirv);
      } catch (const engine::Error& error) {
        throw engine::Error(error.code(), std::string("glsl: ") + error.what());
      }
      break;
    case v1::CreateAlgorithmRequest::SHADER_NOT_SET:
      fail(ErrorCode::kInvalidArgument, "shader: set spirv or glsl");
  }
  const engine::Constants spec = toEngine(request.spec_constants(), "spec_constants");
  const engine::Constants push = toEngine(request.push_constants(), "push_constants");
  engine::Workgroup workgroup{request.workgroup().x(), request.workgroup().y(),
                              request.workgroup().z()};

  const uint32_t maxTensors = device_->info().maxPerStageDescriptorStorageBuffers;
  KP_REQUIRE(
      static_cast<uint64_t>(request.tensors_size()) <= maxTensors, ErrorCode::kInvalidArgument,
      "tensors: " + std::to_string(request.tensors_size()) + " given; the device binds at most " +
          std::to_string(maxTensors) + " per algorithm (maxPerStageDescriptorStorageBuffers)");

  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  requireObjectQuota("an algorithm");
  std::vector<std::shared_ptr<engine::Tensor>> tensors;
  for (int i = 0; i < request.tensors_size(); ++i) {
    tensors.push_back(tensors_.get(request.tensors(i), "tensors[" + std::to_string(i) + "]"));
  }
  auto algorithm = engine::Algorithm::create(device_, std::move(tensors), spirv, workgroup, spec, push);
  const engine::Workgroup effective = algorithm->workgroup();
  response->mutable_workgroup()->set_x(effective.x);
  response->mutable_workgroup()->set_y(effective.y);
  response->mutable_workgroup()->set_z(effective.z);
  response->set_algorithm(algorithms_.add(std::move(algorithm), random_));
}

void Session::destroyAlgorithm(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  const auto& algorithm = algorithms_.get(handle, "algorithm");
  KP_REQUIRE(!usedByRunningEvaluation(nullptr, algorithm.get()), ErrorCode::kFailedPrecondition,
             "algorithm " + std::to_string(handle) +
                 " is used by a running evaluation; await it before destroying the algorithm");
  algorithm->destroy();
  algorithms_.remove(handle, "algorithm");
}

bool Session::usedByRunningEvaluation(const engine::Tensor* tensor,
                                      const engine::Algorithm* algorithm) const {
  auto uses = [&](const SequenceEntry& entry) {
    if (!entry.sequence->isRunning()) return false;
    for (const auto& op : entry.sequence->ops()) {
      if (tensor) {
        for (const auto& used : op->tensors()) {
          if (used.get() == tensor) return true;
        }
      }
      if (algorithm) {
        auto* dispatch = dynamic_cast<const engine::OpAlgoDispatch*>(op.get());
        if (dispatch && dispatch->algorithm().get() == algorithm) return true;
      }
    }
    return false;
  };
  for (const auto& [handle, entry] : sequences_.all()) {
    if (uses(*entry)) return true;
  }
  for (const auto& entry : anonymous_) {
    if (uses(*entry)) return true;
  }
  return false;
}

// ---- sequences ----

uint64_t Session::createSequence(const v1::CreateSequenceRequest& request) {
  KP_REQUIRE(request.queue_index() < device_->queueCount(), ErrorCode::kInvalidArgument,
             "queue_index " + std::to_string(request.queue_index()) +
                 " out of range: the session has " + std::to_string(device_->queueCount()) +
                 " queue(s)");
  KP_REQUIRE(request.total_timestamps() <= config_.maxTimestamps, ErrorCode::kResourceExhausted,
             "total_timestamps " + std::to_string(request.total_timestamps()) +
                 " exceeds the limit of " + std::to_string(config_.maxTimestamps) +
                 " (--max-timestamps)");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requireOpen();
    requireObjectQuota("a sequence");
    ++pendingObjects_;
  }
  auto entry = std::make_shared<SequenceEntry>();
  try {
    entry->sequence = engine::Sequence::create(device_, request.queue_index(),
                                               request.total_timestamps(), id_);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    --pendingObjects_;
    throw;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  --pendingObjects_;
  requireOpen();
  return sequences_.add(std::move(entry), random_);
}

void Session::destroySequence(uint64_t handle) {
  std::shared_ptr<SequenceEntry> entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requireOpen();
    entry = sequences_.remove(handle, "sequence");
  }
  try {
    entry->sequence->destroy(config_.closeWaitMs * 1'000'000);
  } catch (const engine::Error& error) {
    if (error.code() != ErrorCode::kDeadlineExceeded && error.code() != ErrorCode::kDeviceLost) {
      throw;
    }
    // Still running: it is freed once the GPU finishes (see reapAnonymous), or with the
    // session's other objects once its lost device has no work left (abandon).
    std::lock_guard<std::mutex> lock(mutex_);
    anonymous_.push_back(entry);
    if (error.code() == ErrorCode::kDeviceLost) throw;
  }
}

Session::SequenceEntry& Session::sequenceEntry(uint64_t handle, const std::string& field) {
  return *sequences_.get(handle, field);
}

void Session::recordSequence(const v1::RecordSequenceRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  SequenceEntry& entry = sequenceEntry(request.sequence(), "sequence");
  requireOpsLimit(request.ops());
  BuiltOps built = buildOps(request.ops(), tensors_, algorithms_);
  KP_REQUIRE(
      !entry.sequence->isRunning(), ErrorCode::kFailedPrecondition,
      "sequence " + std::to_string(request.sequence()) + " is running; await it before recording");
  entry.sequence->clear();
  for (auto& op : built.ops) entry.sequence->record(std::move(op));
  entry.downloads = std::move(built.downloads);
}

// ---- evaluation ----

void Session::checkUploads(const v1::EvalRequest& request) {
  // Member scratch vectors (this runs under mutex_): no allocation per evaluation.
  uploadHandles_.clear();
  uploadWrites_.clear();
  for (const v1::TensorData& upload : request.uploads()) uploadHandles_.push_back(upload.tensor());
  std::sort(uploadHandles_.begin(), uploadHandles_.end());
  const bool duplicates =
      std::adjacent_find(uploadHandles_.begin(), uploadHandles_.end()) != uploadHandles_.end();
  for (int i = 0; i < request.uploads_size(); ++i) {
    const v1::TensorData& upload = request.uploads(i);
    // Messages name the field; built only on failure.
    const auto field = [i] { return "uploads[" + std::to_string(i) + "]"; };
    const std::shared_ptr<engine::Tensor>* found = tensors_.find(upload.tensor());
    if (found == nullptr) tensors_.failNotFound(upload.tensor(), field() + ".tensor");
    const std::shared_ptr<engine::Tensor>& tensor = *found;
    if (duplicates) {
      for (int j = 0; j < i; ++j) {
        KP_REQUIRE(request.uploads(j).tensor() != upload.tensor(), ErrorCode::kInvalidArgument,
                   field() + ".tensor: tensor " + std::to_string(upload.tensor()) +
                       " appears more than once in uploads");
      }
    }
    KP_REQUIRE(tensor->hasHostData(), ErrorCode::kInvalidArgument,
               field() + ".tensor: tensor " + std::to_string(upload.tensor()) +
                   " is a storage tensor: it has no host data to upload");
    KP_REQUIRE(upload.data().size() == tensor->byteSize(), ErrorCode::kInvalidArgument,
               field() + ".data has " + std::to_string(upload.data().size()) + " bytes; tensor " +
                   std::to_string(upload.tensor()) + " has " + std::to_string(tensor->byteSize()));
    KP_REQUIRE(!usedByRunningEvaluation(tensor.get(), nullptr), ErrorCode::kFailedPrecondition,
               field() + ".tensor: tensor " + std::to_string(upload.tensor()) +
                   " is used by a running evaluation; await it before uploading to the tensor");
    uploadWrites_.emplace_back(tensor.get(), &upload.data());
  }
}

void Session::writeUploads() {
  for (const auto& [tensor, data] : uploadWrites_) tensor->setHostData(data->data(), data->size());
}

std::shared_ptr<Session::SequenceEntry> Session::submit(const v1::EvalRequest& request,
                                                        bool allowAnonymous) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  reapAnonymous();
  if (request.sequence() == 0) {
    KP_REQUIRE(allowAnonymous, ErrorCode::kInvalidArgument,
               "sequence: EvalAsync needs a sequence handle to await (0 is allowed only in Eval)");
    KP_REQUIRE(request.ops_size() > 0, ErrorCode::kInvalidArgument,
               "ops: evaluating without a sequence (sequence = 0) needs at least one op");
    requireOpsLimit(request.ops());
    KP_REQUIRE(anonymous_.size() < config_.sessionMaxObjects, ErrorCode::kResourceExhausted,
               "the session has " + std::to_string(anonymous_.size()) +
                   " evaluations without a sequence still running, its limit "
                   "(--session-max-objects " +
                   std::to_string(config_.sessionMaxObjects) + ")");
    BuiltOps built = buildOps(request.ops(), tensors_, algorithms_);
    requireReplyFits(built.downloads, 0, request.inline_download_limit(), 0);
    auto entry = std::make_shared<SequenceEntry>();
    entry->sequence = engine::Sequence::create(device_, 0, 0, id_);
    for (auto& op : built.ops) entry->sequence->record(std::move(op));
    entry->downloads = std::move(built.downloads);
    checkUploads(request);
    entry->sequence->evalAsync([this] { writeUploads(); });
    anonymous_.push_back(entry);
    return entry;
  }

  std::shared_ptr<SequenceEntry> entry = sequences_.get(request.sequence(), "sequence");
  // Messages name the sequence; built only when needed (an evaluation allocates nothing).
  const auto name = [&] { return evaluationName(request.sequence()); };
  std::optional<BuiltOps> built;
  if (request.record()) {
    requireOpsLimit(request.ops());
    built = buildOps(request.ops(), tensors_, algorithms_);
  } else {
    KP_REQUIRE(request.ops_size() == 0, ErrorCode::kInvalidArgument,
               "ops: " + std::to_string(request.ops_size()) +
                   " op(s) given with record = false; set record to replace the sequence's ops");
  }
  KP_REQUIRE(!entry->sequence->isRunning(), ErrorCode::kFailedPrecondition,
             name() + " is running; await it before evaluating it again");
  requireReplyFits(built ? built->downloads : entry->downloads, entry->sequence->totalTimestamps(),
                   request.inline_download_limit(), request.sequence());
  if (built) {
    entry->sequence->clear();
    for (auto& op : built->ops) entry->sequence->record(std::move(op));
    entry->downloads = std::move(built->downloads);
  }
  checkUploads(request);
  try {
    // The uploads are written once evalAsync has found the sequence able to run (its ops'
    // tensors and algorithms may have been destroyed since it was recorded): a refused
    // evaluation changes nothing.
    entry->sequence->evalAsync([this] { writeUploads(); });
  } catch (const engine::Error& error) {
    throw engine::Error(error.code(), name() + ": " + error.what());
  }
  return entry;
}

void Session::collect(const SequenceEntry& entry, uint64_t inlineLimit,
                      v1::EvalResponse* response) {
  response->set_finished(true);
  for (const Download& download : entry.downloads) {
    if (!download.tensor->isInit()) continue;  // destroyed since it was recorded
    if (download.tensor->hasExternalHostMemory()) continue;  // the client sees it in place
    if (inlineLimit > 0 && download.tensor->byteSize() > inlineLimit) {
      response->add_pending_downloads(download.handle);
      continue;
    }
    v1::TensorData* data = response->add_downloads();
    data->set_tensor(download.handle);
    std::string* bytes = data->mutable_data();
    bytes->resize(download.tensor->byteSize());
    download.tensor->getHostData(bytes->data(), bytes->size());
  }
  // A sequence awaited before any evaluation has no timestamps yet: the reply has none.
  if (entry.sequence->hasTimestamps()) {
    for (uint64_t value : entry.sequence->getTimestamps()) response->add_timestamps(value);
  }
}

void Session::reapAnonymous() {
  auto finished = [](const std::shared_ptr<SequenceEntry>& entry) {
    if (entry->sequence->isExecuting()) return false;
    entry->sequence->evalAwait(0);
    entry->sequence->destroy();
    return true;
  };
  anonymous_.erase(std::remove_if(anonymous_.begin(), anonymous_.end(), finished),
                   anonymous_.end());
}

void Session::eval(const v1::EvalRequest& request, v1::EvalResponse* response,
                   std::chrono::system_clock::time_point deadline,
                   const std::function<bool()>& cancelled) {
  std::shared_ptr<SequenceEntry> entry = submit(request, true);
  uint64_t timeoutMs = config_.evalTimeoutMs;
  if (request.timeout_ms() > 0) timeoutMs = std::min<uint64_t>(timeoutMs, request.timeout_ms());
  uint64_t timeoutNs = timeoutMs * 1'000'000;
  if (deadline != std::chrono::system_clock::time_point::max()) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    deadline - std::chrono::system_clock::now())
                    .count();
    timeoutNs = std::min<uint64_t>(timeoutNs, left > 0 ? static_cast<uint64_t>(left) : 0);
  }
  // Wait in slices so that a cancelled call does not hold its thread until the timeout.
  constexpr uint64_t kSliceNs = 100'000'000;
  const auto waitUntil = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeoutNs);
  bool finished = false;
  while (true) {
    const int64_t leftNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               waitUntil - std::chrono::steady_clock::now())
                               .count();
    const uint64_t sliceNs =
        cancelled ? std::min<uint64_t>(kSliceNs, leftNs > 0 ? leftNs : 0) : timeoutNs;
    finished = entry->sequence->evalAwait(sliceNs);
    if (finished || !cancelled || leftNs <= 0 || sliceNs >= static_cast<uint64_t>(leftNs)) break;
    if (cancelled()) {
      fail(ErrorCode::kUnavailable,
           "the call was given up while its evaluation ran (the client cancelled it, or kpd "
           "is shutting down and its --drain-ms ran out)");
    }
  }
  if (!finished) {
    fail(ErrorCode::kDeadlineExceeded,
         "the evaluation did not finish within " + std::to_string(timeoutNs / 1'000'000) +
             " ms" +
             (request.sequence() != 0
                  ? "; sequence " + std::to_string(request.sequence()) +
                        " keeps running and can be awaited with EvalAwait"
                  : "; its resources are freed once it finishes"));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  collect(*entry, request.inline_download_limit(), response);
  if (request.sequence() == 0) {
    anonymous_.erase(std::remove(anonymous_.begin(), anonymous_.end(), entry), anonymous_.end());
    entry->sequence->destroy();
  }
}

void Session::evalAsync(const v1::EvalRequest& request) {
  KP_REQUIRE(request.timeout_ms() == 0, ErrorCode::kInvalidArgument,
             "timeout_ms applies to Eval only; pass a timeout to EvalAwait instead");
  submit(request, false);
}

void Session::evalAwait(const v1::EvalAwaitRequest& request, v1::EvalResponse* response) {
  std::shared_ptr<SequenceEntry> entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requireOpen();
    entry = sequences_.get(request.sequence(), "sequence");
  }
  const uint64_t limitNs = config_.evalTimeoutMs * 1'000'000;
  if (!entry->sequence->evalAwait(std::min<uint64_t>(request.timeout_ns(), limitNs))) {
    response->set_finished(false);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  requireOpen();
  collect(*entry, request.inline_download_limit(), response);
}

// ---- lifetime ----

bool Session::close(const std::string& reason) {
  return close(reason, Clock::now() + std::chrono::milliseconds(config_.closeWaitMs));
}

bool Session::close(const std::string& reason, Clock::time_point deadline) {
  std::function<void(const std::string&)> listener;
  bool drained = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_) {
      spdlog::info("session {} (#{}, {}) ends: {}", id_, number_, client_, reason);
      endReason_ = reason;
    }
    closed_ = true;
    if (shared_) shared_->retire();  // the client may still read its host copies
    std::vector<std::shared_ptr<SequenceEntry>> pending;
    for (const auto& [handle, entry] : sequences_.all()) pending.push_back(entry);
    for (const auto& entry : anonymous_) pending.push_back(entry);
    std::vector<std::shared_ptr<SequenceEntry>> stuck;
    for (const auto& entry : pending) {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
      const uint64_t waitNs = left.count() > 0 ? static_cast<uint64_t>(left.count()) : 0;
      try {
        entry->sequence->destroy(waitNs);
      } catch (const engine::Error& error) {
        spdlog::error("session {}: a sequence could not be freed: {}", id_, error.what());
        stuck.push_back(entry);
      }
    }
    sequences_.clear();
    anonymous_ = std::move(stuck);
    drained = anonymous_.empty();
    if (drained) {
      for (const auto& [handle, algorithm] : algorithms_.all()) algorithm->destroy();
      for (const auto& [handle, tensor] : tensors_.all()) {
        tensorBytes_ -= tensor->byteSize();
        tensor->destroy();
      }
      algorithms_.clear();
      tensors_.clear();
    }
    if (!listenerCalled_) {
      listenerCalled_ = true;
      listener = std::move(listener_);
    }
  }
  if (listener) listener(reason);
  return drained;
}

void Session::abandon(const std::string& reason, std::vector<std::shared_ptr<void>>* keep) {
  std::function<void(const std::string&)> listener;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_) {
      spdlog::warn("session {} (#{}, {}) ends: {}", id_, number_, client_, reason);
      endReason_ = reason;
    }
    closed_ = true;
    if (shared_) shared_->retire();
    // Nothing is destroyed here: the GPU may still use any of it.
    for (const auto& [handle, entry] : sequences_.all()) keep->push_back(entry);
    for (const auto& entry : anonymous_) keep->push_back(entry);
    for (const auto& [handle, algorithm] : algorithms_.all()) keep->push_back(algorithm);
    for (const auto& [handle, tensor] : tensors_.all()) keep->push_back(tensor);
    sequences_.clear();
    anonymous_.clear();
    algorithms_.clear();
    tensors_.clear();
    tensorBytes_ = 0;
    if (!listenerCalled_) {
      listenerCalled_ = true;
      listener = std::move(listener_);
    }
  }
  if (listener) listener(reason);
}

}  // namespace kp::service
