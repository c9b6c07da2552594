#include "server/engine/ops/op.h"

#include <string>

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;

void checkTensors(const char* op, const std::vector<std::shared_ptr<Tensor>>& tensors) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    KP_REQUIRE(tensors[i] != nullptr, ErrorCode::kInvalidArgument,
               std::string(op) + ": tensors[" + std::to_string(i) + "] is null");
    KP_REQUIRE(tensors[i]->isInit(), ErrorCode::kFailedPrecondition,
               std::string(op) + ": tensors[" + std::to_string(i) + "] was destroyed");
  }
}

}  // namespace kp::engine
