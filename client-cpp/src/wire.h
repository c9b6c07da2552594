// Conversions between the client's types and kp.v1 messages.
#pragma once

#include <string>

#include "kp/constants.hpp"
#include "kp/device_properties.hpp"
#include "kp/tensor.hpp"
#include "kp/v1/types.pb.h"

namespace kp::detail {

v1::DataType toProto(Tensor::TensorDataTypes type);
v1::TensorType toProto(Tensor::TensorTypes type);
/// Empty constants become an unset message.
v1::Constants toProto(const TypedConstants& constants);

/// Bytes of one element on the wire and on the GPU (a bool is a uint32 there).
size_t wireElementSize(Tensor::TensorDataTypes type);

/// A host copy as the bytes the daemon expects: bool elements (one byte here) become
/// uint32 0/1; other types are copied as they are (little-endian hosts).
std::string toWire(Tensor::TensorDataTypes type, const void* host, size_t count);
/// toWire() into `wire`, replacing its contents and reusing its capacity.
void toWire(Tensor::TensorDataTypes type, const void* host, size_t count, std::string* wire);
/// Writes bytes received from the daemon into a host copy of `count` elements; throws
/// InternalError naming `tensor` if their size is not the tensor's.
void fromWire(Tensor::TensorDataTypes type, const std::string& wire, void* host, size_t count,
              uint64_t tensor);
/// fromWire() of `bytes` bytes at `wire`.
void fromWire(Tensor::TensorDataTypes type, const char* wire, size_t bytes, void* host,
              size_t count, uint64_t tensor);

DeviceProperties toDeviceProperties(const v1::Device& device);

}  // namespace kp::detail
