// kp::TypedConstants: an algorithm's specialisation or push constants, typed, as they travel;
// kp::Constants: Kompute's name for float constants (std::vector<float>).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kp/tensor.hpp"

namespace kp {

/// Kompute's kp::Constants: float constants, as Manager::algorithm takes them.
using Constants = std::vector<float>;

/// A typed array of constants: specialisation constants (element i sets
/// `layout(constant_id = i)`) or push constants (the bytes of the shader's push-constant
/// block, in order). Made from a std::vector<T> by TypedConstants::of().
struct TypedConstants {
  /// The element type (eFloat, eInt, eUnsignedInt or eDouble).
  Tensor::TensorDataTypes dataType = Tensor::TensorDataTypes::eFloat;
  /// The elements packed as the GPU reads them (little-endian).
  std::vector<uint8_t> bytes;

  /// Constants from `values`. T is float, int32_t, uint32_t or double; or, for push
  /// constants, a trivially copyable struct whose size is a multiple of 4 bytes (e.g.
  /// `struct { float x; uint32_t y; int32_t z; }`), sent as its raw bytes.
  template <typename T>
  static TypedConstants of(const std::vector<T>& values) {
    static_assert(!std::is_same_v<T, bool>, "constants cannot be bool: use uint32_t");
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % 4 == 0,
                  "constants are float, int32_t, uint32_t, double, or a trivially copyable "
                  "struct of 4-byte multiples");
    TypedConstants constants;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, int32_t> ||
                  std::is_same_v<T, uint32_t> || std::is_same_v<T, double>) {
      constants.dataType = Tensor::dataTypeOf<T>();
    } else {
      constants.dataType = Tensor::TensorDataTypes::eUnsignedInt;  // raw 4-byte words
    }
    constants.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(constants.bytes.data(), values.data(), constants.bytes.size());
    return constants;
  }

  /// The constants as a vector of T (sizeof(T) must divide their byte size).
  template <typename T>
  std::vector<T> as() const {
    static_assert(std::is_trivially_copyable_v<T>, "T must be trivially copyable");
    std::vector<T> values(bytes.size() / sizeof(T));
    if (!values.empty()) std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
    return values;
  }

  /// True when there are no constants.
  bool empty() const { return bytes.empty(); }
  /// Byte size of the constants.
  uint32_t size() const { return static_cast<uint32_t>(bytes.size()); }
};

}  // namespace kp
