// kp::OpBase: the base of every op a Sequence records.
#pragma once

#include <memory>
#include <vector>

#include "kp/detail/fwd.hpp"
#include "kp/tensor.hpp"

namespace kp {

/// The base of every op (Kompute's kp::OpBase). Ops are collected by Sequence::record() in
/// this process and sent to the daemon, as kp.v1 ops, with the evaluation that runs them;
/// the GPU work is done by the daemon. The set of ops is fixed by the protocol: the classes
/// of this folder are all of them.
class OpBase {
 public:
  virtual ~OpBase() = default;

 protected:
  OpBase() = default;

 private:
  friend class detail::OpEncoder;

  /// Writes the op into an evaluation (defined in the library, where the protocol is known).
  virtual void encode(detail::OpEncoder& encoder) const = 0;
};

/// The tensors of an op; each must be non-null (else InvalidArgumentError naming `op`).
using Tensors = std::vector<std::shared_ptr<Tensor>>;

namespace detail {
/// Checks that `tensors` has at least `minimum` entries and no null one.
void checkTensors(const Tensors& tensors, const char* op, size_t minimum);
}  // namespace detail

}  // namespace kp
