// kp::detail::Access: what the library reads and writes inside Tensor, Algorithm and
// Sequence (their friend), kept in one place.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kp/algorithm.hpp"
#include "kp/tensor.hpp"

namespace kp::detail {

struct Access {
  /// The tensor's handle; FailedPreconditionError naming `what` once it was destroyed.
  static uint64_t tensorHandle(const Tensor& tensor, const std::string& what);
  /// The tensor's handle, or 0 once it was destroyed.
  static uint64_t handleIfAlive(const Tensor& tensor) {
    return tensor.destroyed_ ? 0 : tensor.handle_;
  }
  /// The tensor's session (to check that ops do not mix Managers).
  static const Session* session(const Tensor& tensor) { return tensor.session_.get(); }
  /// The host copy as the daemon expects it.
  static std::string wireData(const Tensor& tensor);
  /// wireData() into `wire`, reusing its capacity.
  static void writeWireData(const Tensor& tensor, std::string* wire);
  /// Writes bytes from the daemon into the host copy.
  static void storeWireData(Tensor& tensor, const std::string& wire);

  /// The algorithm's handle; FailedPreconditionError naming `what` when it was destroyed
  /// or is empty.
  static uint64_t algorithmHandle(const Algorithm& algorithm, const std::string& what);
  /// What an OpAlgoDispatch made now records beyond the daemon's defaults (see Algorithm).
  static std::optional<Workgroup> recordWorkgroup(const Algorithm& algorithm) {
    return algorithm.recordWorkgroup();
  }
  static std::optional<TypedConstants> recordPushConstants(const Algorithm& algorithm) {
    return algorithm.recordPushConstants();
  }
  /// Gives an empty algorithm these tensors (OpMult, as Kompute's rebuild did).
  static void adoptTensors(Algorithm& algorithm,
                           const std::vector<std::shared_ptr<Tensor>>& tensors);
};

}  // namespace kp::detail
