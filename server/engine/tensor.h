// A typed GPU buffer, as in Kompute. A `device` tensor has a device-local buffer plus a
// host-visible staging buffer that is its host copy; a `host` tensor is one host-visible buffer
// that shaders use directly; a `storage` tensor is device-local only and has no host copy.
//
// The host copy is what OpTensorSyncDevice uploads and where OpTensorSyncLocal downloads to.
// A tensor must not be destroyed or have its host copy written while a sequence using it runs;
// the service guarantees that for its clients.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "server/engine/buffer.h"
#include "server/engine/types.h"

namespace kp::engine {

class Device;

// Host memory a tensor's host copy lives in instead of memory of its own: e.g. a region the
// daemon shares with a client process. `pointer` stays valid for `size` bytes while `owner`
// lives; the tensor keeps `owner` alive.
struct ExternalHostMemory {
  void* pointer = nullptr;
  uint64_t size = 0;
  std::shared_ptr<void> owner;
  // It holds the host copy already: create() leaves it as it is (and mirrors it, never
  // imports it), and takes its bytes as the tensor's initial contents when given no `data`.
  bool holdsData = false;
};

class Tensor {
 public:
  // Creates a tensor of `count` elements (count > 0). `data`, if given, holds count elements
  // (elementSize(type) bytes each) and becomes the tensor's contents on the GPU and in its host
  // copy; otherwise both are zeroed, or take the bytes of `external` where it holdsData.
  // Never exposes memory a previous user left behind.
  //
  // With `external` (device and host tensors), the host copy is that memory. Where the device
  // can import it (VK_EXT_external_memory_host, aligned), it *is* the staging buffer of a
  // device tensor or the buffer of a host tensor, so the GPU copies straight from it;
  // otherwise the tensor mirrors it: OpTensorSyncDevice copies it into the tensor's own
  // staging first and OpTensorSyncLocal copies back after (isImported() tells which).
  static std::shared_ptr<Tensor> create(std::shared_ptr<Device> device, DataType dataType,
                                        uint64_t count, TensorType tensorType,
                                        const void* data = nullptr,
                                        const ExternalHostMemory* external = nullptr);

  // As create(), but the first upload of a device or storage tensor (its contents to GPU
  // memory) is left for uploadInitial(): the tensor must not be used before that.
  static std::shared_ptr<Tensor> createPending(std::shared_ptr<Device> device, DataType dataType,
                                               uint64_t count, TensorType tensorType,
                                               const void* data = nullptr,
                                               const ExternalHostMemory* external = nullptr);
  // Runs the first uploads that `tensors` (of `device`, made by createPending) still need, in
  // one submission, and waits for it.
  static void uploadInitial(Device& device, const std::vector<std::shared_ptr<Tensor>>& tensors);

  template <typename T>
  static std::shared_ptr<Tensor> create(std::shared_ptr<Device> device, const std::vector<T>& data,
                                        TensorType tensorType = TensorType::kDevice);

  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  uint64_t size() const { return count_; }  // elements
  uint64_t byteSize() const { return count_ * elementSize(dataType_); }
  DataType dataType() const { return dataType_; }
  TensorType tensorType() const { return tensorType_; }
  Device& device() const { return *device_; }
  const std::shared_ptr<Device>& sharedDevice() const { return device_; }

  // False after destroy(). Idempotent.
  bool isInit() const { return static_cast<bool>(primary_); }
  void destroy();

  // The host copy: byteSize() bytes, or nullptr for storage or destroyed tensors.
  void* hostData() const;
  // True when the host copy is external memory (see create), imported or mirrored.
  bool hasExternalHostMemory() const { return external_.pointer != nullptr; }
  // True when the GPU uses the external host memory directly.
  bool isImported() const { return imported_; }
  // For a mirrored external host copy: external -> the tensor's own host-visible buffer, and
  // back. No-ops otherwise. OpTensorSyncDevice / OpTensorSyncLocal call them.
  void pushExternalHostCopy();
  void pullExternalHostCopy();
  bool hasHostData() const { return tensorType_ != TensorType::kStorage; }

  // Copies `bytes` bytes (must equal byteSize()) into / out of the host copy.
  void setHostData(const void* data, uint64_t bytes);
  void getHostData(void* out, uint64_t bytes) const;

  template <typename T>
  std::vector<T> vector() const;
  template <typename T>
  void setData(const std::vector<T>& values);

  // The buffer shaders bind and copies read/write.
  VkBuffer primaryBuffer() const { return primary_.handle(); }
  // The staging buffer of a device tensor (VK_NULL_HANDLE for other types).
  VkBuffer stagingBuffer() const { return staging_.handle(); }

  // Commands: staging -> primary, primary -> staging (device tensors only; no-ops otherwise),
  // and primary(src) -> primary(this).
  void recordSyncDevice(VkCommandBuffer commandBuffer) const;
  void recordSyncLocal(VkCommandBuffer commandBuffer) const;
  void recordCopyFrom(VkCommandBuffer commandBuffer, const Tensor& source) const;

 private:
  Tensor(std::shared_ptr<Device> device, DataType dataType, uint64_t count, TensorType tensorType);
  void requireInit(const char* what) const;
  // The first upload that uploadInitial records.
  void recordInitial(VkCommandBuffer commandBuffer) const;

  std::shared_ptr<Device> device_;
  DataType dataType_;
  TensorType tensorType_;
  uint64_t count_;
  Buffer primary_;
  Buffer staging_;
  ExternalHostMemory external_;
  bool imported_ = false;
  // The first upload still to run (createPending): from the staging buffer, from upload_, or
  // zeros.
  enum class Initial { kNone, kFromStaging, kFromUpload, kZeros };
  Initial initial_ = Initial::kNone;
  std::unique_ptr<Buffer> upload_;
  // The buffer the host copy is mirrored into (staging_ or primary_), when not imported.
  void* mirror() const;
};

template <typename T>
std::shared_ptr<Tensor> Tensor::create(std::shared_ptr<Device> device, const std::vector<T>& data,
                                       TensorType tensorType) {
  static_assert(!std::is_same_v<T, bool>, "use std::vector<uint32_t> for bool tensors");
  DataType type = std::is_same_v<T, float>      ? DataType::kFloat32
                  : std::is_same_v<T, int32_t>  ? DataType::kInt32
                  : std::is_same_v<T, uint32_t> ? DataType::kUInt32
                                                : DataType::kFloat64;
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  return create(std::move(device), type, data.size(), tensorType, data.data());
}

template <typename T>
std::vector<T> Tensor::vector() const {
  std::vector<T> values(byteSize() / sizeof(T));
  getHostData(values.data(), values.size() * sizeof(T));
  return values;
}

template <typename T>
void Tensor::setData(const std::vector<T>& values) {
  setHostData(values.data(), values.size() * sizeof(T));
}

}  // namespace kp::engine
