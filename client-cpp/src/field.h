// Field names of ops in error messages, e.g. "OpTensorCopy.tensors[1]".
#pragma once

#include <string>

namespace kp::detail {

inline std::string tensorField(const char* op, size_t index) {
  return std::string(op) + ".tensors[" + std::to_string(index) + "]";
}

}  // namespace kp::detail
