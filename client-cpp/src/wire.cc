#include "client-cpp/src/wire.h"

#include <cstring>

#include "kp/error.hpp"

namespace kp::detail {
namespace {

static_assert(sizeof(float) == 4 && sizeof(double) == 8 && sizeof(bool) == 1,
              "kp assumes 4-byte float, 8-byte double and 1-byte bool");

}  // namespace

size_t wireElementSize(Tensor::TensorDataTypes type) {
  return type == Tensor::TensorDataTypes::eDouble ? 8 : 4;
}

v1::DataType toProto(Tensor::TensorDataTypes type) {
  switch (type) {
    case Tensor::TensorDataTypes::eBool:
      return v1::DATA_TYPE_BOOL;
    case Tensor::TensorDataTypes::eInt:
      return v1::DATA_TYPE_INT32;
    case Tensor::TensorDataTypes::eUnsignedInt:
      return v1::DATA_TYPE_UINT32;
    case Tensor::TensorDataTypes::eFloat:
      return v1::DATA_TYPE_FLOAT32;
    case Tensor::TensorDataTypes::eDouble:
      return v1::DATA_TYPE_FLOAT64;
  }
  throw InvalidArgumentError(StatusCode::kInvalidArgument,
                             "data type " + std::to_string(static_cast<int>(type)) +
                                 " is not a kp::Tensor::TensorDataTypes value");
}

v1::TensorType toProto(Tensor::TensorTypes type) {
  switch (type) {
    case Tensor::TensorTypes::eDevice:
      return v1::TENSOR_TYPE_DEVICE;
    case Tensor::TensorTypes::eHost:
      return v1::TENSOR_TYPE_HOST;
    case Tensor::TensorTypes::eStorage:
      return v1::TENSOR_TYPE_STORAGE;
  }
  throw InvalidArgumentError(StatusCode::kInvalidArgument,
                             "tensor type " + std::to_string(static_cast<int>(type)) +
                                 " is not a kp::Tensor::TensorTypes value");
}

v1::Constants toProto(const TypedConstants& constants) {
  v1::Constants message;
  if (constants.empty()) return message;
  message.set_data_type(toProto(constants.dataType));
  message.set_values(constants.bytes.data(), constants.bytes.size());
  return message;
}

std::string toWire(Tensor::TensorDataTypes type, const void* host, size_t count) {
  std::string wire;
  toWire(type, host, count, &wire);
  return wire;
}

void toWire(Tensor::TensorDataTypes type, const void* host, size_t count, std::string* wire) {
  if (type != Tensor::TensorDataTypes::eBool) {
    wire->assign(static_cast<const char*>(host), count * wireElementSize(type));
    return;
  }
  wire->resize(count * 4);
  const bool* values = static_cast<const bool*>(host);
  for (size_t i = 0; i < count; ++i) {
    const uint32_t word = values[i] ? 1 : 0;
    std::memcpy(&(*wire)[i * 4], &word, 4);
  }
}

void fromWire(Tensor::TensorDataTypes type, const std::string& wire, void* host, size_t count,
              uint64_t tensor) {
  fromWire(type, wire.data(), wire.size(), host, count, tensor);
}

void fromWire(Tensor::TensorDataTypes type, const char* wire, size_t bytes, void* host,
              size_t count, uint64_t tensor) {
  if (bytes != count * wireElementSize(type)) {
    throw InternalError(StatusCode::kInternal, "kpd sent " + std::to_string(bytes) +
                                                   " bytes for tensor " + std::to_string(tensor) +
                                                   " of " + std::to_string(count) + " elements");
  }
  if (type != Tensor::TensorDataTypes::eBool) {
    std::memcpy(host, wire, bytes);
    return;
  }
  bool* values = static_cast<bool*>(host);
  for (size_t i = 0; i < count; ++i) {
    uint32_t word = 0;
    std::memcpy(&word, wire + i * 4, 4);
    values[i] = word != 0;
  }
}

DeviceProperties toDeviceProperties(const v1::Device& device) {
  DeviceProperties properties;
  properties.index = device.index();
  properties.deviceName = device.name();
  properties.deviceType = device.type();
  properties.vendorID = device.vendor_id();
  properties.deviceID = device.device_id();
  properties.apiVersion = device.api_version();
  properties.driverName = device.driver_name();
  for (int i = 0; i < 3; ++i) {
    if (i < device.max_work_group_count_size()) {
      properties.maxWorkGroupCount[i] = device.max_work_group_count(i);
    }
    if (i < device.max_work_group_size_size()) {
      properties.maxWorkGroupSize[i] = device.max_work_group_size(i);
    }
  }
  properties.maxWorkGroupInvocations = device.max_work_group_invocations();
  properties.maxPushConstantsSize = device.max_push_constants_size();
  properties.maxStorageBufferRange = device.max_storage_buffer_range();
  properties.timestampsSupported = device.timestamps_supported();
  properties.timestampPeriod = device.timestamp_period_ns();
  properties.shaderFloat64 = device.shader_float64();
  properties.shaderInt64 = device.shader_int64();
  properties.shaderInt16 = device.shader_int16();
  for (const v1::QueueFamily& family : device.queue_families()) {
    QueueFamilyProperties out;
    out.index = family.index();
    out.queueCount = family.queue_count();
    out.graphics = family.graphics();
    out.compute = family.compute();
    out.transfer = family.transfer();
    out.timestampValidBits = family.timestamp_valid_bits();
    properties.queueFamilies.push_back(out);
  }
  properties.defaultQueueFamily = device.default_queue_family();
  return properties;
}

}  // namespace kp::detail
