"""Robust buffer access: a shader of one session that reads and writes far out of the bounds of
its own small tensor cannot see or change another session's tensors.

kpd enables robustBufferAccess on every device that has it. On a GPU this is what contains the
accesses; lavapipe (llvmpipe) bounds-checks buffer accesses even without the feature, so there
the test guards the contract rather than the feature (it also passed with the feature forced off).
"""
import numpy as np
import pytest

import kp

# Each invocation walks 4096 elements starting `offset + invocation * 4096` elements into a
# 4-element tensor: every access is out of bounds. Reads that find another session's marker
# value are flagged in `seen` (in bounds: one element per invocation).
OUT_OF_BOUNDS = """
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer Small { float small[]; };
layout(set = 0, binding = 1) buffer Seen { float seen[]; };
layout(push_constant) uniform Push { uint offset; } push;
void main() {
    uint invocation = gl_GlobalInvocationID.x;
    uint base = push.offset + invocation * 4096u;
    float found = 0.0;
    for (uint j = 0u; j < 4096u; ++j) {
        if (small[base + j] == 12345.0) found = 1.0;
        small[base + j] = -1.0;
    }
    seen[invocation] = max(seen[invocation], found);
}
"""

MARKER = 12345.0
INVOCATIONS = 64 * 64
# Right after the tensor, 1e6 elements on, 2^28 on, and near the top of the 32-bit index space.
OFFSETS = [4, 1_000_000, 1 << 28, 0xFFFFFFFF - INVOCATIONS * 4096]


def test_out_of_bounds_shader_cannot_touch_another_session(daemon):
    with kp.Manager(address=daemon.address) as victim, \
            kp.Manager(address=daemon.address) as attacker:
        if not victim._conn.device.robust_buffer_access:
            pytest.skip("the device lacks robustBufferAccess, which this test relies on")
        n = 1 << 20
        # The victim's tensors are allocated before and after the attacker's, so that some
        # lie next to it in memory.
        before = victim.tensor(np.full(n, MARKER, dtype=np.float32))
        host = victim.tensor(np.full(65536, MARKER, dtype=np.float32), kp.TensorTypes.host)
        small = attacker.tensor(np.zeros(4, dtype=np.float32))
        seen = attacker.tensor(np.zeros(INVOCATIONS, dtype=np.float32))
        after = victim.tensor(np.full(n, MARKER, dtype=np.float32))
        storage = victim.tensor_t(np.full(65536, MARKER, dtype=np.float32),
                                  kp.TensorTypes.storage)

        algo = attacker.algorithm([small, seen], OUT_OF_BOUNDS, (64, 1, 1), [],
                                  np.array([OFFSETS[0]], dtype=np.uint32))
        seq = attacker.sequence().record(kp.OpTensorSyncDevice([small, seen]))
        for offset in OFFSETS:
            seq.record(kp.OpAlgoDispatch(algo, np.array([offset], dtype=np.uint32)))
        seq.record(kp.OpTensorSyncLocal([small, seen])).eval()
        assert daemon.process.poll() is None
        # Out-of-bounds reads return zero or values of the attacker's own tensor, never the
        # victim's marker.
        assert not seen.data().any(), "an out-of-bounds read saw another session's data"

        # The victim's tensors, on the GPU and in their host copies, are untouched.
        storage_copy = victim.tensor(np.zeros(65536, dtype=np.float32))
        (victim.sequence()
            .record(kp.OpTensorSyncLocal([before, after, host]))
            .record(kp.OpTensorCopy([storage, storage_copy]))
            .record(kp.OpTensorSyncLocal([storage_copy]))
            .eval())
        for tensor in (before, after, host, storage_copy):
            assert (tensor.data() == MARKER).all(), "another session's shader changed a tensor"

        # And the victim's session still computes.
        lhs, rhs, out = (victim.tensor([1, 2, 3]), victim.tensor([2, 2, 2]),
                         victim.tensor([0, 0, 0]))
        victim.sequence().eval(kp.OpMult([lhs, rhs, out], victim.algorithm()))
        victim.sequence().eval(kp.OpTensorSyncLocal([out]))
        assert out.data().tolist() == [2, 4, 6]
