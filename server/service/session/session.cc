#include "server/service/session/session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "server/base/error.h"
#include "server/engine/shader/spirv_interface.h"
#include "server/service/session/convert.h"

namespace kp::service {

using base::ErrorCode;
using base::MutexLock;

Session::Session(uint64_t serial, const std::string& name, uint32_t deviceIndex,
                 std::shared_ptr<engine::Device> device, DevicePool& pool,
                 const ServiceConfig& config, uint32_t leaseSeconds, std::string client)
    : serial_(serial),
      clientName_(name),
      label_("session #" + std::to_string(serial) + (name.empty() ? "" : " (" + name + ")")),
      deviceIndex_(deviceIndex),
      device_(std::move(device)),
      pool_(pool),
      config_(config),
      leaseSeconds_(leaseSeconds),
      client_(std::move(client)),
      lastActive_(Clock::now().time_since_epoch().count()),
      replyBudget_(sessionMemoryLimit(config, device_->info())),
      repliesInFlight_(std::make_shared<std::atomic<uint64_t>>(0)),
      objects_(sessionMemoryLimit(config, device_->info()), config),
      evaluator_(device_, serial, config) {}

void Session::touch() {
  lastActive_.store(Clock::now().time_since_epoch().count());
}

Session::Clock::time_point Session::lastActive() const {
  return Clock::time_point(Clock::duration(lastActive_.load()));
}

uint64_t Session::tensorBytes() const {
  MutexLock lock(mutex_);
  return objects_.tensorBytes();
}

bool Session::isClosed() const {
  MutexLock lock(mutex_);
  return closed_;
}

size_t Session::objectCount() const {
  MutexLock lock(mutex_);
  return objects_.count();
}

void Session::requireOpen() const {
  KP_REQUIRE(!closed_, ErrorCode::kNotFound,
             "session #" + std::to_string(serial_) +
                 " does not exist any more (the session ended: " + endReason_ + ")");
}

void Session::setCloseListener(std::function<void(const std::string&)> listener) {
  MutexLock lock(mutex_);
  listener_ = std::move(listener);
}

// ---- tensors ----

uint64_t Session::attachLocal() {
  MutexLock lock(mutex_);
  requireOpen();
  if (!shared_) {
    const uint64_t alignment = std::max<uint64_t>(4096, device_->info().importHostPointerAlignment);
    shared_ = std::make_unique<SharedMemory>(alignment, config_.sharedArenaBytes);
  }
  return shared_->alignment();
}

std::shared_ptr<SharedArena> Session::arena(uint64_t id) {
  MutexLock lock(mutex_);
  requireOpen();
  KP_REQUIRE(shared_ != nullptr, ErrorCode::kFailedPrecondition,
             "the session has no shared memory");
  return shared_->arena(id);
}

void Session::createAlgorithm(const v1::CreateAlgorithmRequest& request,
                              v1::CreateAlgorithmResponse* response) {
  std::vector<uint32_t> spirv;
  switch (request.shader_case()) {
    case v1::CreateAlgorithmRequest::kSpirv:
      spirv = engine::spirvWords(request.spirv().data(), request.spirv().size());
      pool_.validator(deviceIndex_).validate(spirv);
      break;
    case v1::CreateAlgorithmRequest::kGlsl:
      base::withContext([] { return "glsl"; },
                        [&] {
                          spirv = pool_.compiler().compile(request.glsl(), "shader", label_);
                          // What glslang makes is valid SPIR-V, but it may still use capabilities
                          // kpd does not enable on this device (e.g. float16_t).
                          pool_.validator(deviceIndex_).validate(spirv);
                        });
      break;
    case v1::CreateAlgorithmRequest::SHADER_NOT_SET:
      base::fail(ErrorCode::kInvalidArgument, "shader: set spirv or glsl");
  }
  const engine::Constants spec = toEngine(request.spec_constants(), "spec_constants");
  const engine::Constants push = toEngine(request.push_constants(), "push_constants");
  // The driver builds an invocation's own arrays element by element: bound them before it
  // sees them (its compile would take memory without bound).
  const uint64_t privateBytes = engine::inspectInterface(spirv, spec).privateMemoryBytes;
  KP_REQUIRE(privateBytes <= config_.maxShaderPrivateBytes, ErrorCode::kInvalidArgument,
             std::string(request.has_glsl() ? "glsl" : "spirv") +
                 ": the shader's private and function-local variables take " +
                 describeBytes(privateBytes) +
                 " per invocation, more than kpd allows "
                 "(--max-shader-private-bytes " +
                 std::to_string(config_.maxShaderPrivateBytes) + ")");
  engine::Workgroup workgroup{request.workgroup().x(), request.workgroup().y(),
                              request.workgroup().z()};

  const uint32_t maxTensors = device_->info().maxPerStageDescriptorStorageBuffers;
  KP_REQUIRE(
      static_cast<uint64_t>(request.tensors_size()) <= maxTensors, ErrorCode::kInvalidArgument,
      "tensors: " + std::to_string(request.tensors_size()) + " given; the device binds at most " +
          std::to_string(maxTensors) + " per algorithm (maxPerStageDescriptorStorageBuffers)");

  std::optional<Reservation> reservation;  // before the lock: it may take the lock as it goes
  MutexLock lock(mutex_);
  requireOpen();
  if (request.handle() != 0) {
    objects_.algorithms().requireFreeClientHandle(request.handle(), "handle");
  }
  reservation.emplace(objects_.reserve(mutex_, "an algorithm", 0));
  std::vector<std::shared_ptr<engine::Tensor>> tensors;
  for (int i = 0; i < request.tensors_size(); ++i) {
    tensors.push_back(
        objects_.tensors().get(request.tensors(i), "tensors[" + std::to_string(i) + "]"));
  }
  auto algorithm =
      engine::Algorithm::create(device_, std::move(tensors), spirv, workgroup, spec, push);
  const engine::Workgroup effective = algorithm->workgroup();
  response->mutable_workgroup()->set_x(effective.x);
  response->mutable_workgroup()->set_y(effective.y);
  response->mutable_workgroup()->set_z(effective.z);
  response->set_algorithm(objects_.add(std::move(algorithm), *reservation, request.handle()));
}

void Session::destroyAlgorithm(uint64_t handle) {
  MutexLock lock(mutex_);
  requireOpen();
  objects_.destroyAlgorithm(handle);
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
  std::optional<Reservation> reservation;
  {
    MutexLock lock(mutex_);
    requireOpen();
    if (request.handle() != 0) {
      objects_.sequences().requireFreeClientHandle(request.handle(), "handle");
    }
    reservation.emplace(objects_.reserve(mutex_, "a sequence", 0));
  }
  auto entry = std::make_shared<SequenceEntry>();
  entry->sequence =
      engine::Sequence::create(device_, request.queue_index(), request.total_timestamps(), serial_);
  MutexLock lock(mutex_);
  requireOpen();
  return objects_.add(std::move(entry), *reservation, request.handle());
}

void Session::destroySequence(uint64_t handle) {
  std::shared_ptr<SequenceEntry> entry;
  {
    MutexLock lock(mutex_);
    requireOpen();
    entry = objects_.sequences().remove(handle, "sequence");
  }
  try {
    entry->sequence->destroy(config_.closeWaitMs * 1'000'000);
  } catch (const base::Error& error) {
    if (error.code() != ErrorCode::kDeadlineExceeded && error.code() != ErrorCode::kDeviceLost) {
      throw;
    }
    // Still running: it is freed once the GPU finishes (reapAnonymous), or with the session's
    // other objects once its lost device has no work left (abandon).
    MutexLock lock(mutex_);
    objects_.keepUntilFinished(entry);
    if (error.code() == ErrorCode::kDeviceLost) throw;
  }
}

void Session::recordSequence(const v1::RecordSequenceRequest& request) {
  MutexLock lock(mutex_);
  requireOpen();
  SequenceEntry& entry = *objects_.sequences().get(request.sequence(), "sequence");
  evaluator_.requireOpsLimit(request.ops());
  BuiltOps built = buildOps(request.ops(), objects_.tensors(), objects_.algorithms());
  KP_REQUIRE(
      !entry.sequence->isRunning(), ErrorCode::kFailedPrecondition,
      "sequence " + std::to_string(request.sequence()) + " is running; await it before recording");
  entry.sequence->clear();
  for (auto& op : built.ops) entry.sequence->record(std::move(op));
  entry.downloads = std::move(built.downloads);
}

// ---- evaluations ----

void Session::eval(const v1::EvalRequest& request, v1::EvalResponse* response,
                   std::chrono::system_clock::time_point deadline,
                   const std::function<bool()>& cancelled) {
  std::shared_ptr<SequenceEntry> entry;
  {
    MutexLock lock(mutex_);
    requireOpen();
    entry = evaluator_.submit(objects_, request, true);
  }
  Evaluator::wait(*entry, request, deadline, cancelled, config_);
  MutexLock lock(mutex_);
  requireOpen();
  Evaluator::collect(*entry, request.inline_download_limit(), response);
  if (request.sequence() == 0) {
    objects_.removeAnonymous(entry);
    entry->sequence->destroy();
  }
}

void Session::evalAsync(const v1::EvalRequest& request) {
  KP_REQUIRE(request.timeout_ms() == 0, ErrorCode::kInvalidArgument,
             "timeout_ms applies to Eval only; pass a timeout to EvalAwait instead");
  MutexLock lock(mutex_);
  requireOpen();
  evaluator_.submit(objects_, request, false);
}

void Session::evalAwait(const v1::EvalAwaitRequest& request, v1::EvalResponse* response) {
  std::shared_ptr<SequenceEntry> entry;
  {
    MutexLock lock(mutex_);
    requireOpen();
    entry = objects_.sequences().get(request.sequence(), "sequence");
  }
  const uint64_t limitNs = config_.evalTimeoutMs * 1'000'000;
  if (!entry->sequence->evalAwait(std::min<uint64_t>(request.timeout_ns(), limitNs))) {
    response->set_finished(false);
    return;
  }
  MutexLock lock(mutex_);
  requireOpen();
  Evaluator::collect(*entry, request.inline_download_limit(), response);
}

// ---- ending ----

std::function<void(const std::string&)> Session::markEnded(const std::string& reason, bool warn) {
  if (!closed_) {
    if (warn) {
      spdlog::warn("{} ({}) ends: {}", label_, client_, reason);
    } else {
      spdlog::info("{} ({}) ends: {}", label_, client_, reason);
    }
    endReason_ = reason;
  }
  closed_ = true;
  if (shared_) shared_->retire();  // the client may still read its host copies
  if (listenerCalled_) return nullptr;
  listenerCalled_ = true;
  return std::move(listener_);
}

bool Session::close(const std::string& reason, Clock::time_point deadline) {
  std::function<void(const std::string&)> listener;
  bool drained = true;
  {
    MutexLock lock(mutex_);
    listener = markEnded(reason, false);
    std::vector<std::shared_ptr<SequenceEntry>> stuck;
    for (const auto& entry : objects_.allSequences()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
      const uint64_t waitNs = left.count() > 0 ? static_cast<uint64_t>(left.count()) : 0;
      try {
        entry->sequence->destroy(waitNs);
      } catch (const base::Error& error) {
        spdlog::error("{}: a sequence could not be freed: {}", label_, error.what());
        stuck.push_back(entry);
      }
    }
    drained = stuck.empty();
    objects_.keepOnlySequences(std::move(stuck));
    if (drained) objects_.destroyAll();
  }
  if (listener) listener(reason);
  return drained;
}

void Session::abandon(const std::string& reason, std::vector<std::shared_ptr<void>>* keep) {
  std::function<void(const std::string&)> listener;
  {
    MutexLock lock(mutex_);
    listener = markEnded(reason, true);
    // Nothing is destroyed here: the GPU may still use any of it.
    objects_.handOver(keep);
  }
  if (listener) listener(reason);
}

}  // namespace kp::service
