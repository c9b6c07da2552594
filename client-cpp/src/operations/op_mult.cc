#include "kp/operations/op_mult.hpp"

#include "client-cpp/src/access.h"
#include "client-cpp/src/field.h"
#include "kp/error.hpp"
#include "client-cpp/src/op_encoder.h"

namespace kp {

OpMult::OpMult(const Tensors& tensors, const std::shared_ptr<Algorithm>& algorithm)
    : tensors_(tensors) {
  detail::checkTensors(tensors_, "OpMult", 3);
  if (tensors_.size() != 3) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "OpMult: needs exactly 3 tensors (lhs, rhs, output), got " +
                                   std::to_string(tensors_.size()));
  }
  if (algorithm) detail::Access::adoptTensors(*algorithm, tensors_);
}

void OpMult::encode(detail::OpEncoder& encoder) const {
  v1::OpMult* mult = encoder.add()->mutable_mult();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    mult->add_tensors(encoder.tensor(tensors_[i], detail::tensorField("OpMult", i)));
  }
}

}  // namespace kp
