"""Multiply end to end through kpd with the v0.9 API: built-in OpMult, GLSL, SPIR-V."""
import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, compile_glsl, spirv


def test_op_mult_with_empty_algorithm(mgr):
    lhs = mgr.tensor([0, 1, 2])
    rhs = mgr.tensor([2, 4, 6])
    out = mgr.tensor([0, 0, 0])
    (mgr.sequence()
        .record(kp.OpTensorSyncDevice([lhs, rhs]))
        .record(kp.OpMult([lhs, rhs, out], mgr.algorithm()))
        .record(kp.OpTensorSyncLocal([out]))
        .eval())
    assert out.data().tolist() == [0, 4, 12]


def test_algorithm_from_glsl_source(mgr):
    lhs, rhs, out = mgr.tensor([2, 2, 2]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([lhs, rhs, out], MULTIPLY_GLSL)
    assert algo.get_workgroup() == (3, 1, 1)
    assert algo.get_tensors() == [lhs, rhs, out]
    (mgr.sequence()
        .record(kp.OpTensorSyncDevice([lhs, rhs, out]))
        .record(kp.OpAlgoDispatch(algo))
        .record(kp.OpTensorSyncLocal([lhs, rhs, out]))
        .eval())
    assert out.data().tolist() == [2, 4, 6]


def test_algorithm_from_spirv_bytes(mgr, daemon):
    lhs, rhs, out = mgr.tensor([3, 4, 5]), mgr.tensor([2, 2, 2]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([lhs, rhs, out], compile_glsl(daemon, MULTIPLY_GLSL))
    mgr.sequence().record(kp.OpTensorSyncDevice([lhs, rhs])).record(
        kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([out])).eval()
    assert out.data().tolist() == [6, 8, 10]


def test_builtin_shader_file_large_tensor(mgr):
    n = 100_000
    a = np.arange(n, dtype=np.float32)
    b = np.full(n, 0.5, dtype=np.float32)
    lhs, rhs, out = mgr.tensor(a), mgr.tensor(b), mgr.tensor(np.zeros(n))
    # shaders/multiply.comp has local_size_x 64 and a bounds check.
    algo = mgr.algorithm([lhs, rhs, out], spirv("multiply"), ((n + 63) // 64, 1, 1))
    mgr.sequence().record(kp.OpTensorSyncDevice([lhs, rhs])).record(
        kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([out])).eval()
    np.testing.assert_array_equal(out.data(), a * b)


def test_record_once_evaluate_many_with_host_writes(mgr):
    lhs, rhs, out = mgr.tensor([1, 1, 1]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
    seq = (mgr.sequence()
           .record(kp.OpTensorSyncDevice([lhs, rhs]))
           .record(kp.OpMult([lhs, rhs, out], mgr.algorithm()))
           .record(kp.OpTensorSyncLocal([out])))
    for i in range(1, 11):
        lhs.data()[:] = i  # host writes: uploaded by the next evaluation
        seq.eval()
        assert out.data().tolist() == [i, 2 * i, 3 * i]


def test_record_after_eval_starts_new_op_list(mgr):
    # Kompute's contract: record(a).eval().record(b).eval() runs a, then only b.
    t = mgr.tensor([0, 0, 0])
    shader = """
    #version 450
    layout(local_size_x = 1) in;
    layout(set = 0, binding = 0) buffer A { float a[]; };
    void main() { a[gl_GlobalInvocationID.x] += 1.0; }
    """
    algo = mgr.algorithm([t], shader)
    seq = mgr.sequence()
    seq.record(kp.OpTensorSyncDevice([t])).record(kp.OpAlgoDispatch(algo)).eval()
    seq.record(kp.OpAlgoDispatch(algo)).eval()  # only this dispatch: no re-upload of zeros
    seq.eval()
    mgr.sequence().eval(kp.OpTensorSyncLocal([t]))
    assert t.data().tolist() == [3, 3, 3]


def test_shader_compile_source_returns_spirv(daemon, monkeypatch):
    # Kompute v0.9's examples compile GLSL with kp.Shader.compile_source; here kpd compiles it.
    monkeypatch.setenv("KP_ADDRESS", daemon.address)
    spirv_bytes = kp.Shader.compile_source(MULTIPLY_GLSL)
    assert isinstance(spirv_bytes, bytes) and spirv_bytes[:4] == b"\x03\x02\x23\x07"
    with kp.Manager(address=daemon.tcp_addresses[0]) as mgr:
        a, b, c = mgr.tensor([2, 3]), mgr.tensor([4, 5]), mgr.tensor([0, 0])
        algo = mgr.algorithm([a, b, c], spirv_bytes)
        (mgr.sequence().record(kp.OpTensorSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo))
            .record(kp.OpTensorSyncLocal([c])).eval())
        assert c.data().tolist() == [8, 15]
    with pytest.raises(kp.InvalidArgumentError, match="undeclared_name"):
        kp.Shader.compile_source("#version 450\nvoid main() { undeclared_name = 1; }\n")
    with pytest.raises(TypeError):
        kp.Shader.compile_source(b"#version 450")


def test_shader_compile_with_definitions_and_several_sources(daemon, monkeypatch):
    monkeypatch.setenv("KP_ADDRESS", daemon.address)
    scaled = MULTIPLY_GLSL.replace("lhs[i] * rhs[i]", "lhs[i] * rhs[i] * SCALE")
    spirv_bytes = kp.Shader.compile_source(scaled, definitions=[("SCALE", "10.0")])
    header, body = scaled.split("void main()")
    joined = kp.Shader.compile_sources([header, "#define SCALE 2.0\nvoid main()" + body])
    with kp.Manager(address=daemon.address) as mgr:
        for program, expected in [(spirv_bytes, [80, 150]), (joined, [16, 30])]:
            a, b, c = mgr.tensor([2, 3]), mgr.tensor([4, 5]), mgr.tensor([0, 0])
            algo = mgr.algorithm([a, b, c], program)
            (mgr.sequence().record(kp.OpTensorSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo))
                .record(kp.OpTensorSyncLocal([c])).eval())
            assert c.data().tolist() == expected
    with pytest.raises(kp.InvalidArgumentError, match="entryPoint"):
        kp.Shader.compile_source(MULTIPLY_GLSL, entryPoint="other")


def test_a_barrier_whose_access_its_stage_does_not_support_is_accepted(mgr):
    # Kompute records OpMemoryBarrier as given, e.g. its SingleSequenceRecord test: transfer
    # access at the compute stage. kpd accepts it too (adding the stages the access needs).
    transfer_read, shader_write, compute_stage = 0x800, 0x40, 0x800
    a, b, c = mgr.tensor([1, 2]), mgr.tensor([3, 4]), mgr.tensor([0, 0])
    algo = mgr.algorithm([a, b, c], MULTIPLY_GLSL)
    (mgr.sequence().record(kp.OpTensorSyncDevice([a, b]))
        .record(kp.OpMemoryBarrier([a, b], transfer_read, shader_write, compute_stage,
                                   compute_stage))
        .record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([c])).eval())
    assert c.data().tolist() == [3, 8]


INCREMENT_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
"""


def test_clear_ends_recording_as_in_kompute(mgr):
    # Kompute's clear() ends recording but leaves the command buffer: an eval() before the next
    # record() still runs what was recorded (its UtilsClearRecordingRunning test); rerecord()
    # after clear() records nothing; a new record() starts a new list.
    t = mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([t], INCREMENT_GLSL)
    seq = (mgr.sequence().record(kp.OpTensorSyncDevice([t])).record(kp.OpAlgoDispatch(algo))
           .record(kp.OpTensorSyncLocal([t])))
    seq.clear()
    assert not seq.is_recording()
    seq.eval()
    assert t.data().tolist() == [1, 1, 1]
    seq.clear()
    seq.rerecord()
    seq.eval()
    assert t.data().tolist() == [1, 1, 1]
    seq.clear()
    seq.record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([t])).eval()
    assert t.data().tolist() == [2, 2, 2]
