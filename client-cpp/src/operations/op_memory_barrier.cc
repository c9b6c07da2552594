#include "kp/operations/op_memory_barrier.hpp"

#include "client-cpp/src/field.h"
#include "client-cpp/src/op_encoder.h"

namespace kp {

OpMemoryBarrier::OpMemoryBarrier(const Tensors& tensors, uint32_t srcAccessMask,
                                 uint32_t dstAccessMask, uint32_t srcStageMask,
                                 uint32_t dstStageMask, bool barrierOnPrimary)
    : tensors_(tensors),
      srcAccessMask_(srcAccessMask),
      dstAccessMask_(dstAccessMask),
      srcStageMask_(srcStageMask),
      dstStageMask_(dstStageMask),
      barrierOnPrimary_(barrierOnPrimary) {
  detail::checkTensors(tensors_, "OpMemoryBarrier", 1);
}

void OpMemoryBarrier::encode(detail::OpEncoder& encoder) const {
  v1::OpMemoryBarrier* barrier = encoder.add()->mutable_memory_barrier();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    barrier->add_tensors(encoder.tensor(tensors_[i], detail::tensorField("OpMemoryBarrier", i)));
  }
  barrier->set_src_access_mask(srcAccessMask_);
  barrier->set_dst_access_mask(dstAccessMask_);
  barrier->set_src_stage_mask(srcStageMask_);
  barrier->set_dst_stage_mask(dstStageMask_);
  barrier->set_barrier_on_primary(barrierOnPrimary_);
}

}  // namespace kp
