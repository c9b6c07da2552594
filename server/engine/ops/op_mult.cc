#include "server/engine/ops/op_mult.h"

#include <string>

#include "server/engine/shader/builtin_shaders.h"
#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

constexpr uint64_t kLocalSize = 64;  // local_size_x of shaders/multiply.comp

}  // namespace

OpMult::OpMult(std::vector<std::shared_ptr<Tensor>> tensors) {
  KP_REQUIRE(tensors.size() == 3, ErrorCode::kInvalidArgument,
             "OpMult: needs 3 tensors (lhs, rhs, output), got " + std::to_string(tensors.size()));
  checkTensors(name(), tensors);
  for (size_t i = 0; i < 3; ++i) {
    KP_REQUIRE(tensors[i]->dataType() == DataType::kFloat32, ErrorCode::kInvalidArgument,
               "OpMult: tensors[" + std::to_string(i) + "] has data type " +
                   dataTypeName(tensors[i]->dataType()) + "; the multiply shader needs float32");
    KP_REQUIRE(tensors[i]->size() == tensors[0]->size(), ErrorCode::kInvalidArgument,
               "OpMult: tensors[" + std::to_string(i) + "] has " +
                   std::to_string(tensors[i]->size()) + " elements, tensors[0] has " +
                   std::to_string(tensors[0]->size()));
  }
  const uint64_t groups = (tensors[0]->size() + kLocalSize - 1) / kLocalSize;
  KP_REQUIRE(groups <= UINT32_MAX, ErrorCode::kInvalidArgument, "OpMult: tensors too large");
  auto device = tensors[0]->sharedDevice();
  algorithm_ = Algorithm::create(device, std::move(tensors), builtinShader(BuiltinShader::kMultiply),
                                 Workgroup{static_cast<uint32_t>(groups), 1, 1});
}

void OpMult::checkUsable() const { algorithm_->checkUsable(); }

void OpMult::record(VkCommandBuffer commandBuffer) const {
  algorithm_->recordDispatch(commandBuffer, nullptr);
}

std::vector<std::shared_ptr<Tensor>> OpMult::tensors() const { return algorithm_->tensors(); }

}  // namespace kp::engine
