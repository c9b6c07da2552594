// kp::Manager: a session with kpd, and the factory of tensors, algorithms and sequences.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kp/algorithm.hpp"
#include "kp/constants.hpp"
#include "kp/detail/fwd.hpp"
#include "kp/device_properties.hpp"
#include "kp/manager_options.hpp"
#include "kp/sequence.hpp"
#include "kp/tensor.hpp"

namespace kp {

/// A session with the kpd daemon (Kompute's kp::Manager, with the GPU in another process).
///
/// Constructing a Manager opens a session: an OpenSession stream that a background thread
/// keeps open for the Manager's life; the daemon ends the session, and frees everything it
/// owns, when that stream closes (destroy(), the destructor, or this process dying).
///
/// Where the daemon is: the `address` argument when not empty, else $KP_ADDRESS, else
/// $XDG_RUNTIME_DIR/kp/kpd.sock if it exists, else /run/kp/kpd.sock. "unix:/path" and bare
/// paths ("/path", "./path") are Unix sockets; "host:port" is TCP, "tls:host:port" TCP with
/// TLS. Several daemons ("a:7070,b:7070", "dns:NAME:PORT", ManagerOptions::addresses, or
/// $KP_ADDRESS of those forms): the session is placed on the daemon and device with the most
/// headroom, and stays there (see ManagerOptions). A daemon that does not answer within 10
/// seconds gives UnavailableError naming the address. TLS and the bearer token of a kpd that
/// asks for them: ManagerOptions (token, tlsCa, tlsCert, tlsKey) or $KP_TOKEN, $KP_TOKEN_FILE,
/// $KP_TLS_CA, $KP_TLS_CERT, $KP_TLS_KEY.
///
/// Tensors, algorithms and sequences are shared_ptrs that keep the connection alive; after
/// the session ends they report isInit() == false and refuse to evaluate.
///
/// On the daemon's host (a Unix socket address) the Manager takes the same-host fast path
/// unless told not to (ManagerOptions::sharedMemory, $KP_SHARED_MEMORY=0): tensors' host
/// copies live in memory shared with kpd, so that evaluations move no tensor bytes, and
/// evaluations travel over kpd's local data socket instead of gRPC. Bool and storage tensors
/// keep private host copies. Elsewhere, host copies travel with each evaluation (in chunked
/// streams beyond 1 MiB, so there is no size limit but memory).
///
/// Thread safety: every method may be called from any thread at once (each is one or no
/// RPC); see Sequence and Tensor for theirs. destroy() must not race with other calls.
class Manager {
 public:
  /// Opens a session on device 0 with its default compute queue (of a fleet address: on the
  /// device placement chooses).
  explicit Manager(std::string address = "");
  /// Opens a session on `device` (an index of listDevices()), with one queue per entry of
  /// `familyQueueIndices` (Vulkan queue family indices; a family may repeat), or the default
  /// compute queue when empty. A sequence's queueIndex picks an entry of this list. Kompute's
  /// signature: `desiredExtensions` is accepted and not needed (kpd enables the extensions
  /// its devices have); the daemon's address comes from $KP_ADDRESS or the local socket
  /// (ManagerOptions to give it here). When $KP_ADDRESS names several daemons, the session is
  /// placed among their devices of index `device` only.
  explicit Manager(uint32_t device, const std::vector<uint32_t>& familyQueueIndices = {},
                   const std::vector<std::string>& desiredExtensions = {});
  /// Opens a session as `options` say.
  explicit Manager(const ManagerOptions& options);
  /// Ends the session (destroy()).
  ~Manager();

  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;
  Manager(Manager&&) noexcept;
  Manager& operator=(Manager&&) noexcept;

  /// Ends the session: the daemon frees every tensor, algorithm and sequence of it, and they
  /// report isInit() == false. Idempotent. Later calls throw UnavailableError.
  void destroy();
  /// Kompute's pass that forgets objects no longer referenced. Here each object is freed in
  /// the daemon when its last shared_ptr goes, so there is nothing left to do.
  void clear() {}

  /// The daemon's address this Manager connects to (as resolved, e.g. "unix:/run/kp/kpd.sock";
  /// of a fleet, the daemon the session was placed on, e.g. "10.0.0.7:7070").
  std::string address() const;
  /// Empty while the session is open; else why it ended (e.g. "closed by the client",
  /// "idle for 3600 s", "daemon shutting down").
  std::string closedReason() const;
  /// True when the session takes the same-host fast path (see the class comment): new
  /// tensors' host copies live in shared memory and evaluations use the local data socket.
  bool sharedMemory() const;

  // ---- devices ----

  /// The session's device.
  DeviceProperties getDeviceProperties() const;
  /// Every device of the daemon, in index order.
  std::vector<DeviceProperties> listDevices() const;
  /// The daemon's counters: sessions, objects and GPU memory in use.
  DaemonStatus daemonStatus() const;

  // ---- factories ----

  /// A sequence on queue `queueIndex` (an index into familyQueueIndices) recording up to
  /// `totalTimestamps` timestamps per evaluation.
  std::shared_ptr<Sequence> sequence(uint32_t queueIndex = 0, uint32_t totalTimestamps = 0);

  /// A float tensor holding `data`, created on the GPU.
  std::shared_ptr<TensorT<float>> tensor(
      const std::vector<float>& data,
      Tensor::TensorTypes tensorType = Tensor::TensorTypes::eDevice);

  /// A tensor of `elementTotalCount` elements of `dataType` read from `data` (Kompute's raw
  /// form; `elementMemorySize` must be the host size of one element of `dataType`).
  std::shared_ptr<Tensor> tensor(void* data, uint32_t elementTotalCount, uint32_t elementMemorySize,
                                 const Tensor::TensorDataTypes& dataType,
                                 Tensor::TensorTypes tensorType = Tensor::TensorTypes::eDevice);

  /// A tensor of T (float, int32_t, uint32_t, double or bool) holding `data`.
  template <typename T>
  std::shared_ptr<TensorT<T>> tensorT(
      const std::vector<T>& data, Tensor::TensorTypes tensorType = Tensor::TensorTypes::eDevice) {
    return std::make_shared<TensorT<T>>(session(), data, tensorType);
  }

  /// An algorithm: `spirv` (SPIR-V words) bound to `tensors` (binding i = tensors[i]),
  /// dispatching `workgroup` (zeros: the defaults), with specialisation constants
  /// (constant_id i = element i) and default push constants. With no arguments, an empty
  /// algorithm for OpMult. Float constants, as in Kompute; see the typed overload.
  std::shared_ptr<Algorithm> algorithm(const std::vector<std::shared_ptr<Tensor>>& tensors = {},
                                       const std::vector<uint32_t>& spirv = {},
                                       const Workgroup& workgroup = {},
                                       const std::vector<float>& specializationConstants = {},
                                       const std::vector<float>& pushConstants = {}) {
    return algorithm<float, float>(tensors, spirv, workgroup, specializationConstants,
                                   pushConstants);
  }

  /// algorithm() with typed constants: S and P are float, int32_t, uint32_t or double (P may
  /// also be a struct; see TypedConstants::of), so int push constants stay ints.
  template <typename S = float, typename P = float>
  std::shared_ptr<Algorithm> algorithm(const std::vector<std::shared_ptr<Tensor>>& tensors,
                                       const std::vector<uint32_t>& spirv,
                                       const Workgroup& workgroup,
                                       const std::vector<S>& specializationConstants,
                                       const std::vector<P>& pushConstants = {}) {
    return algorithm(tensors, ShaderSource{spirv, {}}, workgroup,
                     TypedConstants::of(specializationConstants),
                     TypedConstants::of(pushConstants));
  }

  /// algorithm() from GLSL compute shader source, compiled by the daemon.
  std::shared_ptr<Algorithm> algorithm(const std::vector<std::shared_ptr<Tensor>>& tensors,
                                       const std::string& glsl, const Workgroup& workgroup = {},
                                       const std::vector<float>& specializationConstants = {},
                                       const std::vector<float>& pushConstants = {}) {
    return algorithm<float, float>(tensors, glsl, workgroup, specializationConstants,
                                   pushConstants);
  }

  /// algorithm() from GLSL source with typed constants.
  template <typename S = float, typename P = float>
  std::shared_ptr<Algorithm> algorithm(const std::vector<std::shared_ptr<Tensor>>& tensors,
                                       const std::string& glsl, const Workgroup& workgroup,
                                       const std::vector<S>& specializationConstants,
                                       const std::vector<P>& pushConstants = {}) {
    return algorithm(tensors, ShaderSource{{}, glsl}, workgroup,
                     TypedConstants::of(specializationConstants),
                     TypedConstants::of(pushConstants));
  }

  /// algorithm() with any shader source and constants already typed.
  std::shared_ptr<Algorithm> algorithm(const std::vector<std::shared_ptr<Tensor>>& tensors,
                                       ShaderSource shader, const Workgroup& workgroup,
                                       TypedConstants specializationConstants,
                                       TypedConstants pushConstants);

  /// Compiles GLSL compute shader source to SPIR-V with the daemon's glslang (errors are
  /// InvalidArgumentError with the source's line numbers).
  std::vector<uint32_t> compileSource(const std::string& glsl) const;

 private:
  /// The open session; UnavailableError after destroy().
  std::shared_ptr<detail::Session> session() const;

  std::shared_ptr<detail::Session> session_;
};

/// Compiles GLSL compute shader source to SPIR-V with the glslang of the kpd at `address`
/// (resolved as for Manager; no session is opened). The token and TLS settings come from the
/// environment (KP_TOKEN, KP_TLS_CA, ...: see ManagerOptions).
std::vector<uint32_t> compileSource(const std::string& glsl, const std::string& address = "");
/// compileSource() at options.address with the token and TLS settings of `options` (the
/// other options do not apply).
std::vector<uint32_t> compileSource(const std::string& glsl, const ManagerOptions& options);

}  // namespace kp
