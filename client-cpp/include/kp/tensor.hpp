// kp::Tensor and kp::TensorT<T>: a typed GPU buffer held by kpd, with its host copy here.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "kp/detail/fwd.hpp"

namespace kp {

/// A tensor: GPU memory in the daemon plus a host copy in this process (Kompute's
/// kp::Tensor).
///
/// The host copy is what OpTensorSyncDevice uploads and where OpTensorSyncLocal downloads
/// to; both travel inside the single round trip of the evaluation that runs them. Reading or
/// writing it (data(), vector(), setData(), operator[]) never talks to the daemon. On the
/// daemon's host (see Manager) the host copy of a non-bool, non-storage tensor lives in
/// memory shared with kpd (inSharedMemory()): evaluations then move none of its bytes, as
/// the daemon reads and writes it in place.
///
/// Create tensors with Manager::tensor() or Manager::tensorT<T>(). A tensor lives in the
/// daemon until destroy(), the destruction of its last shared_ptr, or the end of its
/// Manager's session, whichever comes first; its host copy stays readable after that.
///
/// Thread safety: isInit(), size(), dataType() and tensorType() may be called from any
/// thread. The host copy is not synchronised: do not read or write it while another thread
/// evaluates a sequence that uploads or downloads this tensor.
class Tensor {
 public:
  /// Where a tensor's memory lives (Kompute's values).
  enum class TensorTypes {
    /// Device-local memory plus a host-visible staging copy (the default).
    eDevice = 0,
    /// Host-visible memory that shaders use directly.
    eHost = 1,
    /// Device-local memory only: no host copy on the GPU side, so it cannot be synced; fill
    /// it with OpTensorCopy or a shader.
    eStorage = 2,
  };

  /// Element types (Kompute's values). eBool is one byte per element in the host copy and
  /// a uint32 (0 or 1) on the GPU.
  enum class TensorDataTypes {
    eBool = 0,
    eInt = 1,
    eUnsignedInt = 2,
    eFloat = 3,
    eDouble = 4,
  };

  /// "eDevice", "eHost", "eStorage".
  static std::string toString(TensorTypes type);
  /// "eBool", "eInt", "eUnsignedInt", "eFloat", "eDouble".
  static std::string toString(TensorDataTypes type);

  /// Creates the tensor in the daemon (one CreateTensor call) with `hostBytes` (the host
  /// representation of `count` elements) as its contents. Use Manager::tensor() or
  /// Manager::tensorT() instead; this is public only for std::make_shared.
  Tensor(std::shared_ptr<detail::Session> session, std::vector<uint8_t> hostBytes, uint32_t count,
         TensorDataTypes dataType, TensorTypes tensorType);
  /// Frees the tensor in the daemon (errors are ignored here: call destroy() to see them).
  virtual ~Tensor();

  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  /// Frees the tensor's GPU memory in the daemon. Idempotent. The host copy stays readable;
  /// a host copy in shared memory moves into this process first, so pointers that data()
  /// returned before destroy() must not be used after it.
  void destroy();
  /// Replaces the tensor with a new one of `elementTotalCount` elements copied from `data`
  /// (Kompute's rebuild): the daemon frees the old GPU memory and allocates new; data type and
  /// placement stay. `elementMemorySize` must be dataTypeMemorySize(), else
  /// InvalidArgumentError. Works after destroy() too. Algorithms created with the tensor
  /// before keep binding the old one, which is gone (evaluating them fails with
  /// FailedPreconditionError naming it): rebuild them too, as Kompute requires.
  void rebuild(const void* data, uint32_t elementTotalCount, uint32_t elementMemorySize);
  /// True while the tensor exists in the daemon (not destroyed, session open).
  bool isInit() const;
  /// True when the host copy lives in memory shared with kpd (the same-host fast path),
  /// until destroy().
  bool inSharedMemory() const { return arena_ != nullptr; }

  /// Number of elements.
  uint32_t size() const { return size_; }
  /// Bytes of one element in the host copy (1 for eBool, 8 for eDouble, else 4).
  uint32_t dataTypeMemorySize() const;
  /// Bytes of the host copy: size() * dataTypeMemorySize().
  uint32_t memorySize() const { return static_cast<uint32_t>(hostBytes_); }
  /// The element type.
  TensorDataTypes dataType() const { return dataType_; }
  /// The memory placement.
  TensorTypes tensorType() const { return tensorType_; }

  /// The host copy as raw bytes (memorySize() of them).
  void* rawData() { return host_; }
  const void* rawData() const { return host_; }
  /// Replaces the whole host copy with memorySize() bytes from `data`.
  void setRawData(const void* data);

  /// The host copy as an array of T. T must match dataType() (float for eFloat, int32_t for
  /// eInt, uint32_t for eUnsignedInt, double for eDouble, bool for eBool), else
  /// InvalidArgumentError. Writes through the pointer are what the next OpTensorSyncDevice
  /// uploads.
  template <typename T>
  T* data() {
    checkType(dataTypeOf<T>(), "data");
    return reinterpret_cast<T*>(host_);
  }
  template <typename T>
  const T* data() const {
    checkType(dataTypeOf<T>(), "data");
    return reinterpret_cast<const T*>(host_);
  }

  /// A copy of the host copy as a vector of T (T as for data<T>()).
  template <typename T>
  std::vector<T> vector() const {
    const T* begin = data<T>();
    return std::vector<T>(begin, begin + size_);
  }

  /// Replaces the host copy with `values`, which must have size() elements (else
  /// InvalidArgumentError). T as for data<T>().
  template <typename T>
  void setData(const std::vector<T>& values) {
    checkType(dataTypeOf<T>(), "setData");
    checkCount(values.size(), "setData");
    std::copy(values.begin(), values.end(), reinterpret_cast<T*>(host_));
  }

  /// The TensorDataTypes of an element type; a compile error for unsupported types.
  template <typename T>
  static constexpr TensorDataTypes dataTypeOf() {
    using U = std::remove_cv_t<T>;
    static_assert(std::is_same_v<U, float> || std::is_same_v<U, int32_t> ||
                      std::is_same_v<U, uint32_t> || std::is_same_v<U, double> ||
                      std::is_same_v<U, bool>,
                  "kp tensors hold float, int32_t, uint32_t, double or bool");
    if constexpr (std::is_same_v<U, float>) return TensorDataTypes::eFloat;
    if constexpr (std::is_same_v<U, int32_t>) return TensorDataTypes::eInt;
    if constexpr (std::is_same_v<U, uint32_t>) return TensorDataTypes::eUnsignedInt;
    if constexpr (std::is_same_v<U, double>) return TensorDataTypes::eDouble;
    return TensorDataTypes::eBool;
  }

  /// Bytes of one element of `type` in the host copy.
  static uint32_t hostElementSize(TensorDataTypes type);

 private:
  friend struct detail::Access;

  // Creates the tensor in the daemon with `hostBytes` (`count` elements) as its contents.
  void create(std::vector<uint8_t> hostBytes, uint32_t count);
  void checkType(TensorDataTypes requested, const char* what) const;
  void checkCount(size_t count, const char* what) const;
  // Frees the tensor in the daemon, once. With `keepHostCopy` (destroy(), not the destructor)
  // a host copy in shared memory first moves into ownHost_.
  void release(bool keepHostCopy);

  std::shared_ptr<detail::Session> session_;
  uint64_t handle_ = 0;
  uint8_t* host_ = nullptr;                     // the host copy: ownHost_ or a shared region
  size_t hostBytes_ = 0;                        // its size
  std::vector<uint8_t> ownHost_;                // the host copy when not in shared memory
  std::shared_ptr<detail::SharedArena> arena_;  // the shared memory holding it, if any
  uint32_t size_ = 0;
  TensorDataTypes dataType_;
  TensorTypes tensorType_;
  std::atomic<bool> destroyed_{false};
};

/// A tensor of element type T (float, int32_t, uint32_t, double or bool), as Kompute's
/// kp::TensorT<T>. Its typed accessors are those of Tensor with T filled in.
template <typename T>
class TensorT : public Tensor {
 public:
  /// The host bytes of `values`: what Tensor's constructor takes.
  static std::vector<uint8_t> hostBytes(const std::vector<T>& values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(T));
    std::copy(values.begin(), values.end(), reinterpret_cast<T*>(bytes.data()));
    return bytes;
  }

  /// Creates the tensor in the daemon with `values`. Use Manager::tensorT<T>() instead.
  TensorT(std::shared_ptr<detail::Session> session, const std::vector<T>& values,
          TensorTypes tensorType)
      : Tensor(std::move(session), hostBytes(values), static_cast<uint32_t>(values.size()),
               dataTypeOf<T>(), tensorType) {}

  /// The host copy as an array of size() elements.
  T* data() { return Tensor::data<T>(); }
  const T* data() const { return Tensor::data<T>(); }
  /// A copy of the host copy.
  std::vector<T> vector() const { return Tensor::vector<T>(); }
  /// Element `index` of the host copy (not bounds-checked, as in Kompute).
  T& operator[](size_t index) { return data()[index]; }
  const T& operator[](size_t index) const { return data()[index]; }
  /// Replaces the host copy; `values` must have size() elements.
  void setData(const std::vector<T>& values) { Tensor::setData<T>(values); }
  /// The element type of T.
  TensorDataTypes dataType() const { return dataTypeOf<T>(); }
};

}  // namespace kp
