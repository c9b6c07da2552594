#include "kp/operations/op_algo_dispatch.hpp"

#include "client-cpp/src/access.h"
#include "client-cpp/src/op_encoder.h"
#include "client-cpp/src/wire.h"
#include "kp/error.hpp"

namespace kp {

OpAlgoDispatch::OpAlgoDispatch(const std::shared_ptr<Algorithm>& algorithm,
                               TypedConstants pushConstants)
    : algorithm_(algorithm), pushConstants_(std::move(pushConstants)) {
  if (!algorithm_) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument, "OpAlgoDispatch: algorithm is null");
  }
  const uint32_t expected = algorithm_->pushConstants().size();
  if (!pushConstants_.empty() && pushConstants_.size() != expected) {
    throw InvalidArgumentError(
        StatusCode::kInvalidArgument,
        "OpAlgoDispatch push_constants: " + std::to_string(pushConstants_.size()) +
            " bytes given; the algorithm's push constants have " + std::to_string(expected) +
            " bytes (an override keeps their size)");
  }
  if (!pushConstants_.empty()) {
    algorithm_->setPushConstants(pushConstants_);  // Kompute's record() keeps them
  } else if (auto current = detail::Access::recordPushConstants(*algorithm_)) {
    pushConstants_ = std::move(*current);
  }
  workgroup_ = detail::Access::recordWorkgroup(*algorithm_);
}

void OpAlgoDispatch::encode(detail::OpEncoder& encoder) const {
  v1::OpAlgoDispatch* dispatch = encoder.add()->mutable_algo_dispatch();
  dispatch->set_algorithm(encoder.algorithm(algorithm_, "OpAlgoDispatch.algorithm"));
  if (!pushConstants_.empty())
    *dispatch->mutable_push_constants() = detail::toProto(pushConstants_);
  if (workgroup_) {
    dispatch->mutable_workgroup()->set_x((*workgroup_)[0]);
    dispatch->mutable_workgroup()->set_y((*workgroup_)[1]);
    dispatch->mutable_workgroup()->set_z((*workgroup_)[2]);
  }
  const std::vector<std::shared_ptr<Tensor>> tensors = algorithm_->getTensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    encoder.tensor(tensors[i], "OpAlgoDispatch.algorithm.tensors[" + std::to_string(i) + "]");
  }
}

}  // namespace kp
