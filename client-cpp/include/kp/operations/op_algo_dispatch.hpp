// kp::OpAlgoDispatch: run an algorithm.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "kp/algorithm.hpp"
#include "kp/constants.hpp"
#include "kp/operations/op_base.hpp"

namespace kp {

/// Dispatches an algorithm with its workgroup and push constants as they are when the op is
/// made (Algorithm::setWorkgroup / setPushConstants change them for later ops only).
/// `pushConstants`, when not empty, are pushed instead and, as in Kompute, become the
/// algorithm's push constants from then on; they must have the byte size of the algorithm's
/// (else InvalidArgumentError here, as Kompute threw at record()). T is float, int32_t,
/// uint32_t, double, or a trivially copyable struct (see TypedConstants::of).
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
  TypedConstants pushConstants_;        // empty: the daemon's defaults
  std::optional<Workgroup> workgroup_;  // nullopt: the daemon's
};

}  // namespace kp
