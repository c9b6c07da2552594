"""eval_async / eval_await, including Kompute's timed-out await: the sequence is not running
any more, and the next evaluation waits for the one kpd kept running."""
import numpy as np
import pytest

import kp
from gate import Gate

# Busy work: every invocation steps a generator push.iterations times (lavapipe caps any
# loop at 65535 iterations, so long work comes from many invocations, not long loops).
SLOW = """
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer A { uint a[]; };
layout(push_constant) uniform Push { uint iterations; } push;
void main() {
    uint x = gl_GlobalInvocationID.x;
    for (uint i = 0; i < push.iterations; ++i) { x = x * 1664525u + 1013904223u + (x >> 13); }
    atomicAdd(a[0], x & 1u);
    if (gl_GlobalInvocationID.x == 0) { a[1] = 42u; }
}
"""
SLOW_ITERATIONS = np.array([50_000], np.uint32)
SLOW_WORKGROUPS = (100, 1, 1)  # 6400 invocations: about 0.3 s on lavapipe with 2 cores


def slow_sequence(mgr):
    t = mgr.tensor_t(np.zeros(2, dtype=np.uint32))
    algo = mgr.algorithm([t], SLOW, SLOW_WORKGROUPS, push_consts=SLOW_ITERATIONS)
    seq = mgr.sequence().record(kp.OpTensorSyncDevice([t])).record(
        kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([t]))
    mgr._conn.flush()  # created now (kp._pipeline), not behind a gate closed later
    return t, seq


def test_eval_async_then_await(mgr):
    lhs, rhs, out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    seq = (mgr.sequence()
           .record(kp.OpTensorSyncDevice([lhs, rhs]))
           .record(kp.OpMult([lhs, rhs, out], mgr.algorithm()))
           .record(kp.OpTensorSyncLocal([out])))
    assert seq.eval_async() is seq
    assert seq.is_running()
    seq.eval_await()
    assert not seq.is_running()
    assert out.data().tolist() == [4, 10, 18]


def test_eval_async_with_op(mgr):
    a = mgr.tensor([7, 8, 9])
    b = mgr.tensor([0, 0, 0])
    seq = mgr.sequence()
    seq.eval_async(kp.OpTensorCopy([a, b]))
    seq.eval_await()
    assert b.data().tolist() == [7, 8, 9]


def test_eval_async_is_asynchronous(daemon, mgr):
    # Kompute's Python eval_async() without an op ran synchronously; here it returns at once.
    t, seq = slow_sequence(mgr)  # before the gate closes: a new tensor's upload would wait too
    with Gate(daemon.address) as gate:
        gate.close()
        seq.eval_async()  # returns while the gate holds the queue: had it waited, the gate
        gate.open()       # would have given up first, and nothing would have seen it open
        seq.eval_await()
        assert gate.held(), "eval_async waited for the evaluation"
    assert t.data()[1] == 42


@pytest.mark.parametrize("next_use", ["eval_async", "eval", "record"])
def test_a_timed_out_await_ends_the_wait_as_in_kompute(daemon, mgr, next_use):
    t, seq = slow_sequence(mgr)
    with Gate(daemon.address) as gate:
        gate.close()
        seq.eval_async()
        seq.eval_await(1000)  # 1 µs: the gate holds the work
        # Kompute: the sequence is not running after a timed-out await, and can be evaluated
        # again at once. kpd kept the work running: the next use waits for it.
        assert not seq.is_running()
        assert t.data()[1] == 0
        gate.open()
        if next_use == "eval_async":
            seq.eval_async()
            assert seq.is_running()
            seq.eval_await()
        elif next_use == "eval":
            seq.eval()
        else:
            seq.record(kp.OpTensorSyncLocal([t])).eval()
        assert not seq.is_running()
        assert t.data()[1] == 42
        assert gate.held(), "the timed-out await waited for the evaluation"
    # Both evaluations ran, one after the other: the counter saw every invocation of each.
    assert t.data()[0] > 0


def test_a_sequence_destroyed_after_a_timed_out_await(daemon, mgr):
    t, seq = slow_sequence(mgr)
    with Gate(daemon.address) as gate:
        gate.close()
        seq.eval_async()
        seq.eval_await(1000)
        seq.destroy()  # kpd frees it once its evaluation ends
        gate.open()
    mgr.sequence().eval(kp.OpTensorSyncLocal([t]))
    assert t.data()[1] == 42


def test_timestamps(mgr):
    t = mgr.tensor([0, 0, 0])
    shader = """
    #version 450
    layout(local_size_x = 1) in;
    layout(set = 0, binding = 0) buffer A { float a[]; };
    void main() { a[gl_GlobalInvocationID.x] += 1.0; }
    """
    algo = mgr.algorithm([t], shader)
    seq = mgr.sequence(0, 100)
    (seq.record(kp.OpTensorSyncDevice([t]))
        .record(kp.OpAlgoDispatch(algo))
        .record(kp.OpAlgoDispatch(algo))
        .record(kp.OpAlgoDispatch(algo))
        .record(kp.OpTensorSyncLocal([t]))
        .eval())
    stamps = seq.get_timestamps()
    assert len(stamps) == 6
    assert stamps == sorted(stamps)
    assert t.data().tolist() == [3, 3, 3]
    with pytest.raises(kp.FailedPreconditionError, match="timestamps are not enabled"):
        mgr.sequence().get_timestamps()
