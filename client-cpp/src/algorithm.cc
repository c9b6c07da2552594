#include "kp/algorithm.hpp"

#include <cstring>

#include "client-cpp/src/access.h"
#include "client-cpp/src/session.h"
#include "client-cpp/src/wire.h"
#include "kp/error.hpp"

namespace kp {

Algorithm::Algorithm(std::shared_ptr<detail::Session> session,
                     std::vector<std::shared_ptr<Tensor>> tensors, ShaderSource shader,
                     Workgroup workgroup, TypedConstants specializationConstants,
                     TypedConstants pushConstants)
    : session_(std::move(session)) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (tensors.empty() && shader.empty()) {
    // An empty algorithm, as Kompute's mgr.algorithm(): OpMult gives it its tensors.
    spec_ = std::move(specializationConstants);
    push_ = std::move(pushConstants);
    return;
  }
  create(std::move(tensors), shader, workgroup, std::move(specializationConstants),
         std::move(pushConstants));
}

Algorithm::~Algorithm() {
  try {
    destroy();
  } catch (const std::exception&) {
    // Best effort: the session's end frees the algorithm anyway.
  }
}

void Algorithm::create(std::vector<std::shared_ptr<Tensor>> tensors, const ShaderSource& shader,
                       const Workgroup& workgroup, TypedConstants spec, TypedConstants push) {
  v1::CreateAlgorithmRequest request;
  request.set_session(session_->id());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string field = "tensors[" + std::to_string(i) + "]";
    if (!tensors[i]) {
      throw InvalidArgumentError(StatusCode::kInvalidArgument, "algorithm: " + field + " is null");
    }
    request.add_tensors(detail::Access::tensorHandle(*tensors[i], "algorithm: " + field));
  }
  if (!shader.spirv.empty()) {
    request.set_spirv(shader.spirv.data(), shader.spirv.size() * sizeof(uint32_t));
  } else {
    request.set_glsl(shader.glsl);
  }
  request.mutable_workgroup()->set_x(workgroup[0]);
  request.mutable_workgroup()->set_y(workgroup[1]);
  request.mutable_workgroup()->set_z(workgroup[2]);
  if (!spec.empty()) *request.mutable_spec_constants() = detail::toProto(spec);
  if (!push.empty()) *request.mutable_push_constants() = detail::toProto(push);

  v1::CreateAlgorithmResponse response =
      session_->call(&detail::Session::Stub::CreateAlgorithm, request);
  handle_ = response.algorithm();
  workgroup_ = {response.workgroup().x(), response.workgroup().y(), response.workgroup().z()};
  createdWorkgroup_ = workgroup_;
  tensors_ = std::move(tensors);
  spec_ = std::move(spec);
  push_ = std::move(push);
  createdPush_ = push_;
}

void Algorithm::rebuild(const std::vector<std::shared_ptr<Tensor>>& tensors, ShaderSource shader,
                        const Workgroup& workgroup, TypedConstants specializationConstants,
                        TypedConstants pushConstants) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (destroyed_) {
    throw FailedPreconditionError(StatusCode::kFailedPrecondition,
                                  "rebuild: the algorithm was destroyed");
  }
  if (specializationConstants.empty()) specializationConstants = spec_;
  if (pushConstants.empty()) pushConstants = push_;
  destroyLocked();
  destroyed_ = false;
  create(tensors, shader, workgroup, std::move(specializationConstants), std::move(pushConstants));
}

void Algorithm::destroy() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (destroyed_) return;
  destroyLocked();
}

void Algorithm::destroyLocked() {
  destroyed_ = true;
  const uint64_t handle = handle_;
  handle_ = 0;
  if (handle == 0) return;
  v1::DestroyAlgorithmRequest request;
  request.set_session(session_->id());
  request.set_algorithm(handle);
  session_->release(&detail::Session::Stub::DestroyAlgorithm, request);
}

bool Algorithm::isInit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return handle_ != 0 && !destroyed_ && session_->isOpen();
}

std::vector<std::shared_ptr<Tensor>> Algorithm::getTensors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return tensors_;
}

Workgroup Algorithm::getWorkgroup() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return workgroup_;
}

TypedConstants Algorithm::specializationConstants() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return spec_;
}

TypedConstants Algorithm::pushConstants() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return push_;
}

void Algorithm::setWorkgroup(const Workgroup& workgroup, uint32_t minSize) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (workgroup[0] > 0) {
    workgroup_ = {workgroup[0], workgroup[1] > 0 ? workgroup[1] : 1,
                  workgroup[2] > 0 ? workgroup[2] : 1};
  } else {
    workgroup_ = {minSize, 1, 1};
  }
}

void Algorithm::setPushConstants(const void* data, uint32_t size, uint32_t memorySize) {
  if (memorySize != 4 && memorySize != 8) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "setPushConstants: elements of " + std::to_string(memorySize) +
                                   " bytes; push constants are 4-byte or 8-byte values");
  }
  TypedConstants constants;
  constants.dataType =
      memorySize == 8 ? Tensor::TensorDataTypes::eDouble : Tensor::TensorDataTypes::eUnsignedInt;
  constants.bytes.resize(static_cast<size_t>(size) * memorySize);
  if (!constants.bytes.empty()) std::memcpy(constants.bytes.data(), data, constants.bytes.size());
  setPushConstants(std::move(constants));
}

void Algorithm::setPushConstants(TypedConstants pushConstants) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pushConstants.size() != push_.size()) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "setPushConstants: " + std::to_string(pushConstants.size()) +
                                   " bytes given; the algorithm's push constants have " +
                                   std::to_string(push_.size()) + " bytes");
  }
  push_ = std::move(pushConstants);
}

std::optional<Workgroup> Algorithm::recordWorkgroup() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (workgroup_ == createdWorkgroup_) return std::nullopt;
  return workgroup_;
}

std::optional<TypedConstants> Algorithm::recordPushConstants() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (push_.dataType == createdPush_.dataType && push_.bytes == createdPush_.bytes) {
    return std::nullopt;
  }
  return push_;
}

}  // namespace kp
