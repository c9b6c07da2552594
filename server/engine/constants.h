// A typed array of constants: the specialisation or push constants of an algorithm.
// All elements share one DataType; `bytes` holds them packed, little-endian, as the GPU sees
// them (elementSize(type) bytes each; bool as a 4-byte VkBool32).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "server/engine/types.h"

namespace kp::engine {

template <typename T>
constexpr DataType dataTypeOf() {
  if constexpr (std::is_same_v<T, float>) return DataType::kFloat32;
  if constexpr (std::is_same_v<T, int32_t>) return DataType::kInt32;
  if constexpr (std::is_same_v<T, uint32_t>) return DataType::kUInt32;
  if constexpr (std::is_same_v<T, double>) return DataType::kFloat64;
  if constexpr (std::is_same_v<T, bool>) return DataType::kBool;
}

struct Constants {
  DataType type = DataType::kFloat32;
  std::vector<uint8_t> bytes;

  size_t count() const { return bytes.size() / elementSize(type); }
  bool empty() const { return bytes.empty(); }

  template <typename T>
  static Constants of(const std::vector<T>& values) {
    Constants constants;
    constants.type = dataTypeOf<T>();
    if constexpr (std::is_same_v<T, bool>) {
      for (bool value : values) {
        uint32_t word = value ? 1 : 0;
        const auto* p = reinterpret_cast<const uint8_t*>(&word);
        constants.bytes.insert(constants.bytes.end(), p, p + 4);
      }
    } else {
      constants.bytes.resize(values.size() * sizeof(T));
      if (!values.empty()) std::memcpy(constants.bytes.data(), values.data(), constants.bytes.size());
    }
    return constants;
  }
};

}  // namespace kp::engine
