// kp::OpAlgoDispatch: run an algorithm.
#pragma once

#include <memory>
#include <vector>

#include "kp/algorithm.hpp"
#include "kp/constants.hpp"
#include "kp/operations/op_base.hpp"

namespace kp {

/// Dispatches an algorithm with its workgroup. `pushConstants`, when not empty, override
/// the algorithm's push constants for this dispatch only; they must have the byte size of
/// the algorithm's (else InvalidArgumentError here, as Kompute threw at record()). T is
/// float, int32_t, uint32_t, double, or a trivially copyable struct (see TypedConstants::of).
class OpAlgoDispatch : public OpBase {
 public:
  template <typename T = float>
  explicit OpAlgoDispatch(const std::shared_ptr<Algorithm>& algorithm,
                          const std::vector<T>& pushConstants = {})
      : OpAlgoDispatch(algorithm, TypedConstants::of(pushConstants)) {}

  /// With constants already typed.
  OpAlgoDispatch(const std::shared_ptr<Algorithm>& algorithm, TypedConstants pushConstants);

 private:
  void encode(detail::OpEncoder& encoder) const override;
  std::shared_ptr<Algorithm> algorithm_;
  TypedConstants pushConstants_;
};

}  // namespace kp
