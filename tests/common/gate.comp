#version 450
// A gate for tests: holds its queue until the host opens it, so that "the GPU is busy" lasts
// exactly as long as a test wants, on any machine, however fast or loaded.
//
// Bind a host-visible uint[3] that the host can write while the shader runs (an engine host
// tensor, or a client's host tensor in memory shared with kpd) and dispatch kGateWorkgroups
// (tests/common/gate_shader.h; Python: tests/e2e/gate.py):
//   [0] open       the host writes 1 to let the work finish
//   [1] started    set once the shader runs: the queue is busy from then on
//   [2] seen open  set by the invocations that saw the gate open: once the work has finished,
//                  1 proves that the gate held its queue until the test opened it
// Bounded, so that a test bug cannot hang a suite: each invocation looks at most 1024 x 65535
// times (lavapipe ends any invocation's loops after 65535 iterations in all, so there the
// hold comes from the number of workgroups, which its few threads run one after another).
// Every look is an atomic, so that it really reads the memory the host writes. Workgroups are
// 64 wide: on lavapipe, one narrower than its SIMD width never leaves a loop early.
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) coherent buffer Gate { uint flags[]; };

void main() {
  atomicExchange(flags[1], 1u);
  for (uint outer = 0u; outer < 1024u; ++outer) {
    for (uint inner = 0u; inner < 65535u; ++inner) {
      if (atomicAdd(flags[0], 0u) != 0u) {
        atomicExchange(flags[2], 1u);
        return;
      }
    }
  }
}
