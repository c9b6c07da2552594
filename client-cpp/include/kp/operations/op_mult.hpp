// kp::OpMult: element-wise multiply with the daemon's built-in shader.
#pragma once

#include <memory>

#include "kp/algorithm.hpp"
#include "kp/operations/op_base.hpp"

namespace kp {

/// tensors[2] = tensors[0] * tensors[1] (float tensors of one size) with the daemon's
/// built-in multiply shader. `algorithm` is taken for Kompute compatibility
/// (`record<kp::OpMult>(tensors, mgr.algorithm())`): when it is empty, its tensors become
/// these; the daemon uses its own shader either way.
class OpMult : public OpBase {
 public:
  /// Exactly three tensors: lhs, rhs, output (else InvalidArgumentError).
  OpMult(const Tensors& tensors, const std::shared_ptr<Algorithm>& algorithm = nullptr);

 private:
  void encode(detail::OpEncoder& encoder) const override;
  Tensors tensors_;
};

}  // namespace kp
