#include "server/engine/shader/unroll_hints.h"

namespace kp::engine {
namespace {

constexpr uint32_t kOpLoopMerge = 246;
constexpr size_t kHeaderWords = 5;

// LoopControl bits, and those whose literal operand follows the mask, in bit order.
constexpr uint32_t kUnroll = 0x1;
constexpr uint32_t kPeelCount = 0x80;
constexpr uint32_t kPartialCount = 0x100;
constexpr uint32_t kWithOperand[] = {0x8, 0x10, 0x20, 0x40, 0x80, 0x100};
constexpr uint32_t kDropped = kUnroll | kPeelCount | kPartialCount;

}  // namespace

size_t dropUnrollHints(std::vector<uint32_t>& words) {
  size_t changed = 0;
  std::vector<uint32_t> out;
  out.reserve(words.size());
  size_t i = 0;
  for (; i < kHeaderWords && i < words.size(); ++i) out.push_back(words[i]);
  while (i < words.size()) {
    const uint32_t count = words[i] >> 16;
    const uint32_t opcode = words[i] & 0xffff;
    if (count == 0 || i + count > words.size()) break;  // the validator refused these already
    // OpLoopMerge: merge block, continue target, loop control, then the controls' operands.
    if (opcode != kOpLoopMerge || count < 4 || (words[i + 3] & kDropped) == 0) {
      out.insert(out.end(), words.begin() + i, words.begin() + i + count);
      i += count;
      continue;
    }
    const uint32_t control = words[i + 3];
    std::vector<uint32_t> kept = {words[i + 1], words[i + 2], control & ~kDropped};
    size_t operand = i + 4;
    for (uint32_t bit : kWithOperand) {
      if (!(control & bit)) continue;
      if (operand >= i + count) break;
      if (!(bit & kDropped)) kept.push_back(words[operand]);
      ++operand;
    }
    out.push_back(static_cast<uint32_t>(kept.size() + 1) << 16 | kOpLoopMerge);
    out.insert(out.end(), kept.begin(), kept.end());
    i += count;
    ++changed;
  }
  if (changed == 0) return 0;
  out.insert(out.end(), words.begin() + static_cast<std::ptrdiff_t>(i), words.end());
  words = std::move(out);
  return changed;
}

}  // namespace kp::engine
