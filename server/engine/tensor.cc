#include "server/engine/tensor.h"

#include <limits>
#include <string>

#include "server/base/error.h"
#include "server/engine/device.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

constexpr VkBufferUsageFlags kPrimaryUsage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                             VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                             VK_BUFFER_USAGE_TRANSFER_DST_BIT;
constexpr VkBufferUsageFlags kStagingUsage =
    VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

// A device tensor's staging buffer imports the external host memory only from this size up;
// a smaller one mirrors it (a memcpy each way). On the H100, copies to and from imported host
// pages cost more per evaluation than that memcpy for small tensors (bench/RESULTS.md). A host
// tensor imports at every size: its shaders read the host copy itself.
constexpr uint64_t kSmallestImportedStaging = 256 << 10;

// How long a new tensor's first upload may take (it waits behind the queue's other work).
constexpr uint64_t kSetUpTimeoutNs = 60'000'000'000ull;

void recordCopy(VkCommandBuffer commandBuffer, VkBuffer from, VkBuffer to, VkDeviceSize size) {
  VkBufferCopy region{0, 0, size};
  vkCmdCopyBuffer(commandBuffer, from, to, 1, &region);
}

}  // namespace

Tensor::Tensor(std::shared_ptr<Device> device, DataType dataType, uint64_t count,
               TensorType tensorType)
    : device_(std::move(device)), dataType_(dataType), tensorType_(tensorType), count_(count) {}

std::shared_ptr<Tensor> Tensor::create(std::shared_ptr<Device> device, DataType dataType,
                                       uint64_t count, TensorType tensorType, const void* data,
                                       const ExternalHostMemory* external) {
  std::shared_ptr<Tensor> tensor =
      createPending(device, dataType, count, tensorType, data, external);
  uploadInitial(*device, {tensor});
  return tensor;
}

void Tensor::uploadInitial(Device& device, const std::vector<std::shared_ptr<Tensor>>& tensors) {
  std::vector<std::shared_ptr<void>> pending;
  for (const auto& tensor : tensors) {
    if (tensor->initial_ != Initial::kNone) pending.push_back(tensor);
  }
  if (pending.empty()) return;
  // If the copies do not finish (a lost device), the tensors stay alive until they do.
  device.runOnce(
      [&](VkCommandBuffer commandBuffer) {
        for (const auto& tensor : tensors) tensor->recordInitial(commandBuffer);
      },
      0, kSetUpTimeoutNs, std::move(pending));
  for (const auto& tensor : tensors) {
    tensor->initial_ = Initial::kNone;
    tensor->upload_.reset();
  }
}

void Tensor::recordInitial(VkCommandBuffer commandBuffer) const {
  switch (initial_) {
    case Initial::kNone:
      break;
    case Initial::kFromStaging:
      recordCopy(commandBuffer, staging_.handle(), primary_.handle(), byteSize());
      break;
    case Initial::kFromUpload:
      recordCopy(commandBuffer, upload_->handle(), primary_.handle(), byteSize());
      break;
    case Initial::kZeros:
      vkCmdFillBuffer(commandBuffer, primary_.handle(), 0, VK_WHOLE_SIZE, 0);
      break;
  }
}

std::shared_ptr<Tensor> Tensor::createPending(std::shared_ptr<Device> device, DataType dataType,
                                              uint64_t count, TensorType tensorType,
                                              const void* data,
                                              const ExternalHostMemory* external) {
  KP_REQUIRE(count > 0, ErrorCode::kInvalidArgument,
             "tensor size must be greater than zero (got 0 elements)");
  const uint64_t limit = std::numeric_limits<uint64_t>::max() / elementSize(dataType);
  KP_REQUIRE(count <= limit, ErrorCode::kInvalidArgument,
             "tensor size " + std::to_string(count) + " overflows a 64-bit byte count");
  std::shared_ptr<Tensor> tensor(new Tensor(device, dataType, count, tensorType));
  const uint64_t bytes = tensor->byteSize();
  const uint64_t maxAllocation = device->info().maxMemoryAllocationSize;
  if (maxAllocation > 0 && bytes > maxAllocation) {
    fail(ErrorCode::kResourceExhausted, "tensor of " + std::to_string(bytes) +
                                            " bytes exceeds the device's largest allocation (" +
                                            std::to_string(maxAllocation) + " bytes)");
  }
  if (external && tensorType != TensorType::kStorage) {
    KP_REQUIRE(external->pointer != nullptr && external->size >= bytes, ErrorCode::kInvalidArgument,
               "external host memory of " + std::to_string(external->size) +
                   " bytes is too small for a tensor of " + std::to_string(bytes) + " bytes");
    tensor->external_ = *external;
  }

  // The host copy's own buffer: device tensors have staging, host tensors their one buffer.
  // External host memory replaces it when the device can import it.
  auto hostBuffer = [&](VkBufferUsageFlags usage, VkMemoryPropertyFlags preferred) {
    const bool worthImporting =
        tensorType == TensorType::kHost || bytes >= kSmallestImportedStaging;
    if (tensor->external_.pointer && !tensor->external_.holdsData && worthImporting) {
      const uint64_t alignment = device->info().importHostPointerAlignment;
      const uint64_t importSize =
          alignment ? (bytes + alignment - 1) / alignment * alignment : bytes;
      const bool aligned =
          alignment && reinterpret_cast<uintptr_t>(tensor->external_.pointer) % alignment == 0;
      if (aligned && importSize <= tensor->external_.size) {
        try {
          Buffer imported =
              Buffer::importHost(*device, tensor->external_.pointer, importSize, usage);
          tensor->imported_ = true;
          return imported;
        } catch (const Error&) {
          // Fall back to a mirrored copy in a buffer of the tensor's own.
        }
      }
    }
    return Buffer(*device, bytes, usage, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, preferred);
  };
  const void* initial =
      data ? data : (tensor->external_.holdsData ? tensor->external_.pointer : nullptr);
  auto fillHostCopy = [&](void* target) {
    if (target == initial) return;  // the external memory holds the contents already
    if (initial) {
      std::memcpy(target, initial, bytes);
    } else {
      std::memset(target, 0, bytes);
    }
  };

  switch (tensorType) {
    case TensorType::kDevice: {
      tensor->primary_ = Buffer(*device, bytes, kPrimaryUsage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      tensor->staging_ = hostBuffer(kStagingUsage, VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
      fillHostCopy(tensor->staging_.mapped());
      if (tensor->external_.pointer && !tensor->imported_ && !tensor->external_.holdsData) {
        fillHostCopy(tensor->external_.pointer);
      }
      tensor->initial_ = Initial::kFromStaging;
      break;
    }
    case TensorType::kHost: {
      tensor->primary_ = hostBuffer(kPrimaryUsage, 0);
      fillHostCopy(tensor->primary_.mapped());
      if (tensor->external_.pointer && !tensor->imported_ && !tensor->external_.holdsData) {
        fillHostCopy(tensor->external_.pointer);
      }
      break;
    }
    case TensorType::kStorage: {
      tensor->primary_ = Buffer(*device, bytes, kPrimaryUsage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      if (data) {
        tensor->upload_ = std::make_unique<Buffer>(*device, bytes, kStagingUsage,
                                                   VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
        std::memcpy(tensor->upload_->mapped(), data, bytes);
        tensor->initial_ = Initial::kFromUpload;
      } else {
        tensor->initial_ = Initial::kZeros;
      }
      break;
    }
  }
  return tensor;
}

void Tensor::destroy() {
  staging_ = Buffer();
  primary_ = Buffer();
  imported_ = false;
  external_ = ExternalHostMemory();  // after the buffers that may import it
}

void* Tensor::mirror() const {
  if (!external_.pointer || imported_ || !isInit()) return nullptr;
  return tensorType_ == TensorType::kDevice ? staging_.mapped() : primary_.mapped();
}

void Tensor::pushExternalHostCopy() {
  if (void* target = mirror()) std::memcpy(target, external_.pointer, byteSize());
}

void Tensor::pullExternalHostCopy() {
  if (void* source = mirror()) std::memcpy(external_.pointer, source, byteSize());
}

void Tensor::requireInit(const char* what) const {
  KP_REQUIRE(isInit(), ErrorCode::kFailedPrecondition,
             std::string("cannot ") + what + ": the tensor was destroyed");
}

void* Tensor::hostData() const {
  if (!isInit()) return nullptr;
  if (external_.pointer) return external_.pointer;
  switch (tensorType_) {
    case TensorType::kDevice:
      return staging_.mapped();
    case TensorType::kHost:
      return primary_.mapped();
    case TensorType::kStorage:
      return nullptr;
  }
  return nullptr;
}

void Tensor::setHostData(const void* data, uint64_t bytes) {
  requireInit("write tensor data");
  KP_REQUIRE(hasHostData(), ErrorCode::kFailedPrecondition,
             "a storage tensor has no host data to write");
  KP_REQUIRE(bytes == byteSize(), ErrorCode::kInvalidArgument,
             "tensor data of " + std::to_string(bytes) + " bytes given for a tensor of " +
                 std::to_string(byteSize()) + " bytes (" + std::to_string(count_) + " " +
                 dataTypeName(dataType_) + " elements)");
  std::memcpy(hostData(), data, bytes);
}

void Tensor::getHostData(void* out, uint64_t bytes) const {
  requireInit("read tensor data");
  KP_REQUIRE(hasHostData(), ErrorCode::kFailedPrecondition,
             "a storage tensor has no host data to read");
  KP_REQUIRE(bytes == byteSize(), ErrorCode::kInvalidArgument,
             "reading " + std::to_string(bytes) + " bytes from a tensor of " +
                 std::to_string(byteSize()) + " bytes");
  std::memcpy(out, hostData(), bytes);
}

void Tensor::recordSyncDevice(VkCommandBuffer commandBuffer) const {
  if (tensorType_ == TensorType::kDevice) {
    recordCopy(commandBuffer, staging_.handle(), primary_.handle(), byteSize());
  }
}

void Tensor::recordSyncLocal(VkCommandBuffer commandBuffer) const {
  if (tensorType_ == TensorType::kDevice) {
    recordCopy(commandBuffer, primary_.handle(), staging_.handle(), byteSize());
  }
}

void Tensor::recordCopyFrom(VkCommandBuffer commandBuffer, const Tensor& source) const {
  recordCopy(commandBuffer, source.primaryBuffer(), primaryBuffer(), byteSize());
}

}  // namespace kp::engine
