// Loop-unrolling hints a driver must not be asked to follow. A shader may ask for a loop to be
// unrolled (LoopControl Unroll), partially unrolled by a count (PartialCount) or peeled
// (PeelCount); drivers honour such hints without a bound of their own: one [[unroll]] over
// 200000 iterations took lavapipe's pipeline compile past 1.8 GiB within seconds, in kpd. The
// engine drops these hints before the driver sees a module; the driver's own heuristics, which
// are bounded, still unroll what they find worth it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kp::engine {

// `words` (a module that passed SpirvValidator) without Unroll, PeelCount and PartialCount in
// any OpLoopMerge. Returns the number of loops changed.
size_t dropUnrollHints(std::vector<uint32_t>& words);

}  // namespace kp::engine
