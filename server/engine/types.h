// Element and tensor types, named as in Kompute.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kp::engine {

// Element type of a tensor or of a constant array. `kBool` is stored as one uint32 (0 or 1)
// per element on the GPU, as GLSL has no 1-byte bool in buffers.
enum class DataType { kFloat32, kInt32, kUInt32, kFloat64, kBool };

// Bytes one element takes in GPU memory (and in every byte buffer the engine exchanges).
constexpr size_t elementSize(DataType type) { return type == DataType::kFloat64 ? 8 : 4; }

const char* dataTypeName(DataType type);

// Where a tensor's memory lives.
enum class TensorType {
  kDevice,   // device-local buffer + host-visible staging buffer (the host copy)
  kHost,     // one host-visible buffer, used directly by shaders and by the host
  kStorage,  // device-local buffer only: no host copy, cannot be synced
};

const char* tensorTypeName(TensorType type);

}  // namespace kp::engine
