"""Push constants (float, int32; defaults and per-record overrides) and specialisation
constants, through kpd."""
import numpy as np
import pytest

import kp

PUSH_FLOAT = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform Push { float x; float y; float z; } push;
void main() { a[0] += push.x; a[1] += push.y; a[2] += push.z; }
"""

PUSH_INT = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { int a[]; };
layout(push_constant) uniform Push { int x; int y; int z; } push;
void main() { a[0] += push.x; a[1] += push.y; a[2] += push.z; }
"""

SPEC = """
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float c0 = 1.0;
layout(constant_id = 1) const float c1 = 1.0;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(set = 0, binding = 1) buffer B { float b[]; };
void main() { uint i = gl_GlobalInvocationID.x; a[i] = c0; b[i] = c1; }
"""

SPEC_INT = """
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const int c0 = 0;
layout(constant_id = 1) const uint c1 = 0;
layout(set = 0, binding = 0) buffer A { int a[]; };
layout(set = 0, binding = 1) buffer B { uint b[]; };
void main() { uint i = gl_GlobalInvocationID.x; a[i] = c0; b[i] = c1; }
"""


def test_float_push_constants_default_and_overrides(mgr):
    t = mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([t], PUSH_FLOAT, (1, 1, 1), [], [0.1, 0.2, 0.3])
    (mgr.sequence()
        .record(kp.OpTensorSyncDevice([t]))
        .record(kp.OpAlgoDispatch(algo))
        .record(kp.OpAlgoDispatch(algo, [0.3, 0.2, 0.1]))
        .record(kp.OpAlgoDispatch(algo, [0.3, 0.2, 0.1]))
        .record(kp.OpTensorSyncLocal([t]))
        .eval())
    np.testing.assert_allclose(t.data(), [0.7, 0.6, 0.5], rtol=1e-6)


def test_int32_push_constants_stay_integers(mgr):
    t = mgr.tensor_t(np.array([0, 0, 0], dtype=np.int32))
    push = np.array([-1, 2, 100000001], dtype=np.int32)  # 100000001 is not a float32
    algo = mgr.algorithm([t], PUSH_INT, (1, 1, 1), push_consts=push)  # no spec_consts
    (mgr.sequence()
        .record(kp.OpTensorSyncDevice([t]))
        .record(kp.OpAlgoDispatch(algo))
        .record(kp.OpAlgoDispatch(algo, np.array([-1, -1, -1], dtype=np.int32)))
        .record(kp.OpTensorSyncLocal([t]))
        .eval())
    assert t.data().dtype == np.int32
    assert t.data().tolist() == [-2, 1, 100000000]


def test_override_becomes_the_algorithms_push_constants_as_in_kompute(mgr):
    # Kompute's OpAlgoDispatch record sets the algorithm's push constants to its override, so
    # a later dispatch without one pushes them again; an override of the wrong size does not.
    t = mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([t], PUSH_FLOAT, (1, 1, 1), [], [0.1, 0.2, 0.3])
    (mgr.sequence()
        .record(kp.OpAlgoDispatch(algo, [1.0, 2.0, 4.0]))
        .record(kp.OpAlgoDispatch(algo))
        .record(kp.OpTensorSyncLocal([t]))
        .eval())
    np.testing.assert_allclose(t.data(), [2.0, 4.0, 8.0])
    kp.OpAlgoDispatch(algo, [9.0])  # the wrong size: fails at eval, changes nothing
    mgr.sequence().record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([t])).eval()
    np.testing.assert_allclose(t.data(), [3.0, 6.0, 12.0])


def test_push_constant_override_of_another_size_is_rejected(mgr):
    t = mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([t], PUSH_FLOAT, (1, 1, 1), [], [0.0, 0.0, 0.0])
    seq = mgr.sequence().record(kp.OpAlgoDispatch(algo, [1.0]))
    with pytest.raises(kp.InvalidArgumentError, match="push_constants: 4 bytes given.*12 bytes"):
        seq.eval()


def test_float_spec_constants(mgr):
    a, b = mgr.tensor([0, 0, 0]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([a, b], SPEC, spec_consts=[5.0, 0.3])
    mgr.sequence().record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([a, b])).eval()
    np.testing.assert_allclose(a.data(), [5, 5, 5])
    np.testing.assert_allclose(b.data(), [0.3, 0.3, 0.3], rtol=1e-6)


def test_int_spec_constants(mgr):
    a = mgr.tensor_t(np.zeros(4, dtype=np.int32))
    b = mgr.tensor_t(np.zeros(4, dtype=np.uint32))
    # One typed array sets every constant: int32 -1 and, as uint, 7.
    algo = mgr.algorithm([a, b], SPEC_INT, spec_consts=np.array([-1, 7], dtype=np.int32))
    mgr.sequence().record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([a, b])).eval()
    assert a.data().tolist() == [-1] * 4
    assert b.data().tolist() == [7] * 4


def test_unsupported_constant_dtype_is_rejected(mgr):
    t = mgr.tensor([0, 0, 0])
    with pytest.raises(TypeError, match="push_consts: numpy dtype int64"):
        mgr.algorithm([t], PUSH_INT, push_consts=np.array([1, 2, 3]))


PUSH_THREE = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform Push { float x; float y; float z; } push;
void main() { a[0] = push.x; a[1] = push.y; a[2] = push.z; }
"""


@pytest.mark.parametrize("given, expected", [([], [0, 0, 0]), ([5], [5, 0, 0]),
                                             ([5, 6], [5, 6, 0]), ([5, 6, 7], [5, 6, 7])])
def test_fewer_push_constants_than_the_block_read_as_zeros(mgr, given, expected):
    # Kompute accepts fewer push constants than the shader declares (what the shader then reads
    # is undefined there); kpd covers the whole block and pushes zeros for the rest.
    t = mgr.tensor([9, 9, 9])
    algo = mgr.algorithm([t], PUSH_THREE, push_consts=given)
    mgr.sequence().record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([t])).eval()
    assert t.data().tolist() == expected
