#include "server/service/session/convert.h"

#include "server/base/error.h"

namespace kp::service {

using base::ErrorCode;
using base::fail;

engine::DataType toEngine(v1::DataType type, const std::string& field) {
  switch (type) {
    case v1::DATA_TYPE_FLOAT32:
      return engine::DataType::kFloat32;
    case v1::DATA_TYPE_INT32:
      return engine::DataType::kInt32;
    case v1::DATA_TYPE_UINT32:
      return engine::DataType::kUInt32;
    case v1::DATA_TYPE_FLOAT64:
      return engine::DataType::kFloat64;
    case v1::DATA_TYPE_BOOL:
      return engine::DataType::kBool;
    case v1::DATA_TYPE_UNSPECIFIED:
      fail(ErrorCode::kInvalidArgument, field + " is not set (DATA_TYPE_UNSPECIFIED)");
    default:
      fail(ErrorCode::kInvalidArgument,
           field + " has unknown value " + std::to_string(static_cast<int>(type)));
  }
}

engine::TensorType toEngine(v1::TensorType type, const std::string& field) {
  switch (type) {
    case v1::TENSOR_TYPE_UNSPECIFIED:
    case v1::TENSOR_TYPE_DEVICE:
      return engine::TensorType::kDevice;
    case v1::TENSOR_TYPE_HOST:
      return engine::TensorType::kHost;
    case v1::TENSOR_TYPE_STORAGE:
      return engine::TensorType::kStorage;
    default:
      fail(ErrorCode::kInvalidArgument,
           field + " has unknown value " + std::to_string(static_cast<int>(type)));
  }
}

engine::Constants toEngine(const v1::Constants& constants, const std::string& field) {
  engine::Constants result;
  if (constants.values().empty()) return result;
  result.type = toEngine(constants.data_type(), field + ".data_type");
  const size_t size = engine::elementSize(result.type);
  if (constants.values().size() % size != 0) {
    fail(ErrorCode::kInvalidArgument,
         field + ".values has " + std::to_string(constants.values().size()) +
             " bytes, not a whole number of " + engine::dataTypeName(result.type) + " values (" +
             std::to_string(size) + " bytes each)");
  }
  result.bytes.assign(constants.values().begin(), constants.values().end());
  return result;
}

v1::DataType toProto(engine::DataType type) {
  switch (type) {
    case engine::DataType::kFloat32:
      return v1::DATA_TYPE_FLOAT32;
    case engine::DataType::kInt32:
      return v1::DATA_TYPE_INT32;
    case engine::DataType::kUInt32:
      return v1::DATA_TYPE_UINT32;
    case engine::DataType::kFloat64:
      return v1::DATA_TYPE_FLOAT64;
    case engine::DataType::kBool:
      return v1::DATA_TYPE_BOOL;
  }
  return v1::DATA_TYPE_UNSPECIFIED;
}

void toProto(const engine::DeviceInfo& info, v1::Device* device) {
  device->set_index(info.index);
  device->set_name(info.name);
  device->set_type(info.type);
  device->set_vendor_id(info.vendorId);
  device->set_device_id(info.deviceId);
  device->set_api_version(engine::apiVersionString(info.apiVersion));
  device->set_driver_version(info.driverVersion);
  device->set_driver_name(info.driverName);
  device->set_driver_info(info.driverInfo);
  for (int i = 0; i < 3; ++i) {
    device->add_max_work_group_count(info.maxWorkGroupCount[i]);
    device->add_max_work_group_size(info.maxWorkGroupSize[i]);
  }
  device->set_max_work_group_invocations(info.maxWorkGroupInvocations);
  device->set_max_push_constants_size(info.maxPushConstantsSize);
  device->set_max_storage_buffer_range(info.maxStorageBufferRange);
  device->set_max_storage_buffers_per_algorithm(info.maxPerStageDescriptorStorageBuffers);
  device->set_max_memory_allocation_size(info.maxMemoryAllocationSize);
  device->set_timestamps_supported(info.timestampsSupported);
  device->set_timestamp_period_ns(info.timestampPeriodNs);
  device->set_shader_float64(info.shaderFloat64);
  device->set_shader_int64(info.shaderInt64);
  device->set_shader_int16(info.shaderInt16);
  device->set_robust_buffer_access(info.robustBufferAccess);
  device->set_external_memory_host(info.externalMemoryHost);
  for (const auto& family : info.queueFamilies) {
    v1::QueueFamily* out = device->add_queue_families();
    out->set_index(family.index);
    out->set_queue_count(family.queueCount);
    out->set_graphics(family.graphics);
    out->set_compute(family.compute);
    out->set_transfer(family.transfer);
    out->set_timestamp_valid_bits(family.timestampValidBits);
  }
  for (const auto& heap : info.memoryHeaps) {
    v1::MemoryHeap* out = device->add_memory_heaps();
    out->set_size(heap.size);
    out->set_device_local(heap.deviceLocal);
  }
  try {
    device->set_default_queue_family(info.defaultComputeFamily());
  } catch (const base::Error&) {
    device->set_default_queue_family(0);
  }
}

}  // namespace kp::service
