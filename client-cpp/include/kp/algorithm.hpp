// kp::Algorithm: a compute shader bound to tensors, held by kpd.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kp/constants.hpp"
#include "kp/detail/fwd.hpp"
#include "kp/tensor.hpp"

namespace kp {

/// Workgroups to dispatch per axis (x, y, z). Zeros take the defaults: x = size of the
/// algorithm's first tensor, y = z = 1.
using Workgroup = std::array<uint32_t, 3>;

/// A shader as the daemon takes it: SPIR-V words, or GLSL compute shader source that the
/// daemon compiles with glslang (errors carry the source's line numbers). Set one.
struct ShaderSource {
  std::vector<uint32_t> spirv;
  std::string glsl;

  /// True when neither is set.
  bool empty() const { return spirv.empty() && glsl.empty(); }
};

/// A compute pipeline in the daemon: a shader, tensors bound in order at set 0 (binding i
/// is tensors[i]), a workgroup count, specialisation constants and default push constants
/// (Kompute's kp::Algorithm). Create it with Manager::algorithm().
///
/// An algorithm made with no tensors and no shader (`mgr.algorithm()`) is empty: it exists
/// only here, for OpMult, which binds its own tensors and the daemon's multiply shader.
///
/// Thread safety: every method may be called from any thread.
class Algorithm {
 public:
  /// Creates the algorithm in the daemon (one CreateAlgorithm call) unless `tensors` and
  /// `shader` are both empty. Use Manager::algorithm() instead; this is public only for
  /// std::make_shared.
  Algorithm(std::shared_ptr<detail::Session> session, std::vector<std::shared_ptr<Tensor>> tensors,
            ShaderSource shader, Workgroup workgroup, TypedConstants specializationConstants,
            TypedConstants pushConstants);
  /// Frees the algorithm in the daemon (errors are ignored here: call destroy() to see them).
  ~Algorithm();

  Algorithm(const Algorithm&) = delete;
  Algorithm& operator=(const Algorithm&) = delete;

  /// Replaces the algorithm with a new one in the daemon (Kompute's rebuild): new tensors,
  /// shader and workgroup; empty constants keep the previous ones. Sequences that recorded
  /// the algorithm must rerecord() to use the new one.
  template <typename S = float, typename P = float>
  void rebuild(const std::vector<std::shared_ptr<Tensor>>& tensors,
               const std::vector<uint32_t>& spirv, const Workgroup& workgroup = {},
               const std::vector<S>& specializationConstants = {},
               const std::vector<P>& pushConstants = {}) {
    rebuild(tensors, ShaderSource{spirv, {}}, workgroup,
            TypedConstants::of(specializationConstants), TypedConstants::of(pushConstants));
  }
  /// rebuild() with any shader source (SPIR-V or GLSL).
  void rebuild(const std::vector<std::shared_ptr<Tensor>>& tensors, ShaderSource shader,
               const Workgroup& workgroup, TypedConstants specializationConstants,
               TypedConstants pushConstants);

  /// Frees the algorithm in the daemon. Idempotent.
  void destroy();
  /// True while the algorithm exists in the daemon (false for an empty algorithm).
  bool isInit() const;

  /// The tensors the algorithm binds, in binding order.
  std::vector<std::shared_ptr<Tensor>> getTensors() const;
  /// The workgroup an OpAlgoDispatch made now dispatches (defaults applied).
  Workgroup getWorkgroup() const;
  /// The specialisation constants as T (the type they were given as).
  template <typename T>
  std::vector<T> getSpecializationConstants() const {
    return specializationConstants().as<T>();
  }
  /// The default push constants as T (the type they were given as).
  template <typename T>
  std::vector<T> getPushConstants() const {
    return pushConstants().as<T>();
  }
  /// The specialisation constants as given.
  TypedConstants specializationConstants() const;
  /// The push constants the next OpAlgoDispatch without its own records (those given at
  /// creation, or the last setPushConstants() or OpAlgoDispatch override, as in Kompute).
  /// Every override must have their byte size.
  TypedConstants pushConstants() const;

  /// Sets the workgroup that OpAlgoDispatch ops made after this call dispatch (Kompute's
  /// setWorkgroup): {x, y or 1, z or 1} when x > 0, else {minSize, 1, 1}. Sequences that
  /// recorded the algorithm before keep the workgroup they recorded. Each axis must fit the
  /// device's maxComputeWorkGroupCount (checked when a sequence that dispatches it is
  /// evaluated, naming the op).
  void setWorkgroup(const Workgroup& workgroup, uint32_t minSize = 1);

  /// Sets the push constants that OpAlgoDispatch ops made after this call push (Kompute's
  /// setPushConstants); they must have the byte size of pushConstants(), else
  /// InvalidArgumentError. T as for TypedConstants::of.
  template <typename T>
  void setPushConstants(const std::vector<T>& pushConstants) {
    setPushConstants(TypedConstants::of(pushConstants));
  }
  /// setPushConstants() from `size` elements of `memorySize` bytes each at `data` (4-byte
  /// elements travel as uint32, 8-byte ones as double).
  void setPushConstants(const void* data, uint32_t size, uint32_t memorySize);
  /// setPushConstants() with constants already typed.
  void setPushConstants(TypedConstants pushConstants);

 private:
  friend struct detail::Access;

  void create(std::vector<std::shared_ptr<Tensor>> tensors, const ShaderSource& shader,
              const Workgroup& workgroup, TypedConstants spec, TypedConstants push);
  void destroyLocked();

  std::shared_ptr<detail::Session> session_;
  mutable std::mutex mutex_;
  uint64_t handle_ = 0;
  bool destroyed_ = false;
  // What an OpAlgoDispatch made now records beyond the daemon's defaults: the workgroup and
  // push constants set here since creation, if any (nullopt: the daemon's).
  std::optional<Workgroup> recordWorkgroup() const;
  std::optional<TypedConstants> recordPushConstants() const;

  std::vector<std::shared_ptr<Tensor>> tensors_;
  Workgroup workgroup_{0, 0, 0};         // dispatched now (setWorkgroup() may change it)
  Workgroup createdWorkgroup_{0, 0, 0};  // the daemon's, from creation
  TypedConstants spec_;
  TypedConstants push_;         // pushed now (setPushConstants() may change them)
  TypedConstants createdPush_;  // the daemon's, from creation
};

}  // namespace kp
