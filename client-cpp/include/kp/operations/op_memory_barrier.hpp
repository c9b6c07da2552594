// kp::OpMemoryBarrier: an explicit buffer memory barrier.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kp/operations/op_base.hpp"

namespace kp {

/// VkAccessFlagBits values the daemon accepts in OpMemoryBarrier (no Vulkan headers needed).
namespace AccessFlags {
inline constexpr uint32_t eShaderRead = 0x00000020;
inline constexpr uint32_t eShaderWrite = 0x00000040;
inline constexpr uint32_t eTransferRead = 0x00000800;
inline constexpr uint32_t eTransferWrite = 0x00001000;
inline constexpr uint32_t eHostRead = 0x00002000;
inline constexpr uint32_t eHostWrite = 0x00004000;
inline constexpr uint32_t eMemoryRead = 0x00008000;
inline constexpr uint32_t eMemoryWrite = 0x00010000;
}  // namespace AccessFlags

/// VkPipelineStageFlagBits values the daemon accepts in OpMemoryBarrier.
namespace PipelineStageFlags {
inline constexpr uint32_t eTopOfPipe = 0x00000001;
inline constexpr uint32_t eComputeShader = 0x00000800;
inline constexpr uint32_t eTransfer = 0x00001000;
inline constexpr uint32_t eBottomOfPipe = 0x00002000;
inline constexpr uint32_t eHost = 0x00004000;
inline constexpr uint32_t eAllCommands = 0x00010000;
}  // namespace PipelineStageFlags

/// One buffer memory barrier per tensor (Kompute's kp::OpMemoryBarrier). Sequences already
/// put a barrier between consecutive ops, so this is rarely needed. Masks are Vulkan bit
/// masks as plain integers (see AccessFlags, PipelineStageFlags); vk::AccessFlagBits and
/// vk::PipelineStageFlagBits values are accepted too, for Kompute programs.
class OpMemoryBarrier : public OpBase {
 public:
  /// `barrierOnPrimary`: the device-local buffer (true) or the staging buffer (false).
  OpMemoryBarrier(const Tensors& tensors, uint32_t srcAccessMask, uint32_t dstAccessMask,
                  uint32_t srcStageMask, uint32_t dstStageMask, bool barrierOnPrimary = true);

  /// With Vulkan enum values (e.g. vk::AccessFlagBits::eShaderWrite).
  template <typename Access, typename Stage,
            typename = std::enable_if_t<std::is_enum_v<Access> && std::is_enum_v<Stage>>>
  OpMemoryBarrier(const Tensors& tensors, Access srcAccessMask, Access dstAccessMask,
                  Stage srcStageMask, Stage dstStageMask, bool barrierOnPrimary = true)
      : OpMemoryBarrier(tensors, static_cast<uint32_t>(srcAccessMask),
                        static_cast<uint32_t>(dstAccessMask), static_cast<uint32_t>(srcStageMask),
                        static_cast<uint32_t>(dstStageMask), barrierOnPrimary) {}

 private:
  void encode(detail::OpEncoder& encoder) const override;
  Tensors tensors_;
  uint32_t srcAccessMask_;
  uint32_t dstAccessMask_;
  uint32_t srcStageMask_;
  uint32_t dstStageMask_;
  bool barrierOnPrimary_;
};

}  // namespace kp
