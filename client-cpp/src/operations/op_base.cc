#include "kp/operations/op_base.hpp"

#include <string>

#include "kp/error.hpp"

namespace kp::detail {

void checkTensors(const Tensors& tensors, const char* op, size_t minimum) {
  if (tensors.size() < minimum) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               std::string(op) + ": needs at least " + std::to_string(minimum) +
                                   " tensor(s), got " + std::to_string(tensors.size()));
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i]) {
      throw InvalidArgumentError(StatusCode::kInvalidArgument,
                                 std::string(op) + ".tensors[" + std::to_string(i) + "] is null");
    }
  }
}

}  // namespace kp::detail
