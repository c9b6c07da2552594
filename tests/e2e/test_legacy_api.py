"""Kompute's v0.5/0.6 Python API through kpd: the seed document's program, named sequences,
the Manager's eval_* family (all 38 names), shaders as SPIR-V, GLSL text and files."""
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, REPO, SHADER_DIR, spirv
from shaders import LOGISTIC_REGRESSION_M

SUM_GLSL = MULTIPLY_GLSL.replace("lhs[i] * rhs[i]", "lhs[i] + rhs[i]")
OPS = ["tensor_create", "tensor_copy", "tensor_sync_device", "tensor_sync_local", "algo_mult",
       "algo_file", "algo_str", "algo_data", "algo_lro"]


def test_seed_example_program(daemon):
    env = dict(os.environ, KP_ADDRESS=daemon.address, KP_SHADER_DIR=SHADER_DIR)
    result = subprocess.run(
        [sys.executable, "seed_example.py"], cwd=os.path.join(REPO, "examples"), env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # t3 = t1 * t2, then t1 = t3 + t2, ten times, from t1 = [2,2,2], t2 = t3 = [1,2,3].
    assert result.stdout.strip() == (
        "[12.0, 4094.0, 206670.0] [1.0, 2.0, 3.0] [11.0, 4092.0, 206667.0]")


def test_legacy_tensor_behaviour(mgr):
    t = kp.Tensor([1, 2, 3])
    assert not t.is_init()
    assert t.tensor_type() == kp.TensorTypes.device
    assert kp.TensorTypes.staging == kp.TensorTypes.host
    data = t.data()
    assert data == [1.0, 2.0, 3.0] and isinstance(data, list)
    data[0] = 99  # a copy: the tensor is unchanged
    assert t[0] == 1.0
    t[0] = 5
    assert t.data() == [5.0, 2.0, 3.0]
    assert list(t) == [5.0, 2.0, 3.0] and 2.0 in t and 7.0 not in t and len(t) == 3
    assert reversed(t) == [3.0, 2.0, 5.0]
    t.set_data(np.array([4, 5, 6]))
    assert t.numpy().tolist() == [4, 5, 6] and t.numpy() is not t.numpy()
    with pytest.raises(ValueError, match="3 elements"):
        t.set_data([1, 2])
    mgr.eval_tensor_create_def([t])
    assert t.is_init()
    t[1] = 50
    t.map_data_into_host()  # host copy -> the daemon's
    t[1] = 0
    t.map_data_from_host()  # the daemon's -> host copy
    # The tensor's data and the daemon's copy are two memories on every transport.
    assert t.data() == [4.0, 50.0, 6.0]


def test_build_tensor_and_staging_type(mgr):
    t = mgr.build_tensor([1, 2, 3], kp.TensorTypes.staging)
    assert t.is_init() and t.tensor_type() == kp.TensorTypes.host
    out = mgr.build_tensor([0, 0, 0])
    mgr.eval_tensor_copy_def([t, out])
    mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [1.0, 2.0, 3.0]


def test_tensor_create_twice_is_an_error(mgr):
    t = mgr.build_tensor([1])
    with pytest.raises(kp.FailedPreconditionError, match="already created"):
        mgr.eval_tensor_create_def([t])


def _multiply_tensors(mgr):
    lhs, rhs, out = kp.Tensor([2, 2, 2]), kp.Tensor([1, 2, 3]), kp.Tensor([0, 0, 0])
    mgr.eval_tensor_create_def([lhs, rhs, out])
    return lhs, rhs, out


@pytest.mark.parametrize("how", ["mult", "data", "str", "bytes_glsl", "file_comp", "file_spv"])
def test_multiply_every_way(mgr, how, tmp_path):
    lhs, rhs, out = _multiply_tensors(mgr)
    params = [lhs, rhs, out]
    if how == "mult":
        mgr.eval_algo_mult_def(params)
    elif how == "data":
        mgr.eval_algo_data_def(params, spirv("multiply"))
    elif how == "str":
        mgr.eval_algo_str_def(params, MULTIPLY_GLSL)
    elif how == "bytes_glsl":
        mgr.eval_algo_data_def(params, MULTIPLY_GLSL.encode())
    elif how == "file_comp":
        path = tmp_path / "multiply.comp"
        path.write_text(MULTIPLY_GLSL)
        mgr.eval_algo_file_def(params, str(path))
    else:
        mgr.eval_algo_file_def(params, os.path.join(SHADER_DIR, "multiply.spv"))
    mgr.eval_tensor_sync_local_def([out])
    assert out.data() == [2.0, 4.0, 6.0]
    assert out.numpy().tolist() == [2.0, 4.0, 6.0]


def test_named_sequence_evaluated_ten_times(mgr):
    lhs, rhs, out = _multiply_tensors(mgr)
    seq = mgr.create_sequence("op")
    assert seq.begin()
    assert seq.is_rec()
    assert seq.record_tensor_sync_device([lhs])
    assert seq.record_algo_data([lhs, rhs, out], spirv("multiply"))
    assert seq.record_tensor_sync_local([out])
    assert seq.end()
    assert not seq.is_rec() and seq.is_init()
    for i in range(1, 11):
        lhs[0] = lhs[1] = lhs[2] = i  # host edits reach the GPU at every evaluation
        assert seq.eval() is True
        assert out.data() == [i * 1.0, i * 2.0, i * 3.0]
    assert mgr.get_create_sequence("op") is seq
    assert mgr.create_sequence("op") is seq  # an existing name returns that sequence


def test_sequence_rules(mgr):
    t = mgr.build_tensor([1])
    seq = mgr.create_sequence()
    assert seq.record_tensor_sync_local([t]) is False  # not recording
    assert seq.begin() and not seq.begin()  # already recording
    seq.record_tensor_sync_local([t])
    assert seq.eval() is False  # still recording: call end() first
    assert seq.end() and not seq.end()
    assert seq.eval() is True
    assert seq.eval_async() is True and seq.is_running()
    assert seq.eval_await() is True and not seq.is_running()
    assert seq.eval_await(1000) is False  # nothing running


def test_async_def_and_eval_await_def(mgr):
    lhs, rhs, out = _multiply_tensors(mgr)
    mgr.eval_async_algo_file_def([lhs, rhs, out], os.path.join(SHADER_DIR, "multiply.spv"))
    assert mgr.eval_await_def() is True
    seq = mgr.create_sequence("sync")
    seq.begin()
    seq.record_tensor_sync_local([out])
    seq.end()
    seq.eval()
    assert out.data() == [2.0, 4.0, 6.0]


def test_workgroup_through_record_algo_data(mgr):
    from test_workgroup import GRID

    xs, ys = kp.Tensor(np.zeros([16, 8])), kp.Tensor(np.zeros([16, 8]))
    mgr.eval_tensor_create_def([xs, ys])
    seq = mgr.create_sequence()
    seq.begin()
    seq.record_algo_data([xs, ys], GRID.encode(), (16, 8, 1))
    seq.end()
    seq.eval()
    mgr.eval_tensor_sync_local_def([xs, ys])
    np.testing.assert_array_equal(xs.numpy(), np.stack([np.arange(16)] * 8, axis=1).ravel())
    np.testing.assert_array_equal(ys.numpy(), np.stack([np.arange(8)] * 16, axis=0).ravel())


# Old-era algorithms get spec constant i = size of tensor i (a uint), so the shader of that
# era reads m from a tenth tensor M.
@pytest.mark.parametrize("update", ["set_data", "setitem"])
def test_logistic_regression_v05(mgr, update):
    x_i, x_j, y = kp.Tensor([0, 1, 1, 1, 1]), kp.Tensor([0, 0, 0, 1, 1]), kp.Tensor([0, 0, 0, 1, 1])
    w_in, b_in = kp.Tensor([0.001, 0.001]), kp.Tensor([0])
    w_out_i, w_out_j, b_out, l_out = (kp.Tensor([0, 0, 0, 0, 0]) for _ in range(4))
    m = kp.Tensor([y.size()])
    params = [x_i, x_j, y, w_in, w_out_i, w_out_j, b_in, b_out, l_out, m]
    mgr.eval_tensor_create_def(params)
    seq = mgr.create_sequence()
    seq.begin()
    seq.record_tensor_sync_device([w_in, b_in])
    seq.record_algo_data(params, LOGISTIC_REGRESSION_M)
    seq.record_tensor_sync_local([w_out_i, w_out_j, b_out, l_out])
    seq.end()
    for _ in range(100):
        seq.eval()
        for j in range(b_out.size()):
            if update == "setitem":
                w_in[0] -= 0.1 * w_out_i.data()[j]
                w_in[1] -= 0.1 * w_out_j.data()[j]
                b_in[0] -= 0.1 * b_out.data()[j]
            else:
                w = w_in.data()
                w_in.set_data([w[0] - 0.1 * w_out_i.data()[j], w[1] - 0.1 * w_out_j.data()[j]])
                b_in.set_data([b_in.data()[0] - 0.1 * b_out.data()[j]])
    assert 0.0 < w_in[0] < 0.01
    assert w_in[1] > 1.5
    assert b_in[0] < 0.7


def test_glsl_syntax_error_reports_its_line(mgr):
    lhs, rhs, out = _multiply_tensors(mgr)
    broken = ("#version 450\nlayout(local_size_x = 1) in;\nvoid main() {\n"
              "  float x = 1.0\n  x += 2.0;\n}\n")
    with pytest.raises(kp.InvalidArgumentError, match=r"shader:5: .*syntax error"):
        mgr.eval_algo_str_def([lhs, rhs, out], broken)


def test_lro_needs_a_shader(mgr):
    lhs, rhs, out = _multiply_tensors(mgr)
    with pytest.raises(kp.InvalidArgumentError, match="a shader"):
        mgr.eval_algo_lro_def([lhs, rhs, out])


def _fresh(mgr, values):
    return [mgr.build_tensor(v) for v in values]


def _args(op, mgr, tmp_path):
    """Tensors for `op`, its extra arguments, and a check of the result."""
    comp = tmp_path / "multiply.comp"
    comp.write_text(MULTIPLY_GLSL)
    if op == "tensor_create":
        tensors = [kp.Tensor([1, 2]), kp.Tensor([3, 4])]
        return tensors, (), lambda: all(t.is_init() for t in tensors)
    if op in ("tensor_copy",):
        a, b = _fresh(mgr, [[7, 8], [0, 0]])
        return [a, b], (), lambda: b.data() == [7.0, 8.0]
    if op == "tensor_sync_device":
        a, b = _fresh(mgr, [[0, 0], [0, 0]])
        a.set_data([5, 6])

        def check():
            mgr.eval_tensor_copy_def([a, b])
            mgr.eval_tensor_sync_local_def([b])
            return b.data() == [5.0, 6.0]
        return [a], (), check
    if op == "tensor_sync_local":
        a, b = _fresh(mgr, [[9, 9], [0, 0]])
        mgr.eval_tensor_copy_def([a, b])
        b.set_data([0, 0])
        return [b], (), lambda: b.data() == [9.0, 9.0]
    lhs, rhs, out = _fresh(mgr, [[2, 2, 2], [1, 2, 3], [0, 0, 0]])
    extra = {
        "algo_mult": (),
        "algo_file": (str(comp),),
        "algo_str": (MULTIPLY_GLSL,),
        "algo_data": (spirv("multiply"),),
        "algo_lro": (MULTIPLY_GLSL,),
    }[op]

    def check_product():
        if op != "algo_lro":  # OpAlgoLhsRhsOut downloads its output itself
            mgr.eval_tensor_sync_local_def([out])
        return out.data() == [2.0, 4.0, 6.0]
    return [lhs, rhs, out], extra, check_product


@pytest.mark.parametrize("op", OPS)
def test_all_eval_names(mgr, op, tmp_path):
    called = []
    for form in ("eval_{}", "eval_{}_def", "eval_async_{}", "eval_async_{}_def"):
        name = form.format(op)
        method = getattr(mgr, name)
        tensors, extra, check = _args(op, mgr, tmp_path)
        if "_def" in name:
            method(tensors, *extra)
        else:
            method(tensors, f"seq_{op}", *extra)
        if name.startswith("eval_async") and name.endswith("_def"):
            assert mgr.eval_await_def(10**10) is True
        elif name.startswith("eval_async"):
            assert mgr.eval_await(f"seq_{op}", 10**10) is True
        assert check(), name
        called.append(name)
    assert len(called) == 4


def test_the_38_names_exist():
    names = [f.format(op) for op in OPS
             for f in ("eval_{}", "eval_{}_def", "eval_async_{}", "eval_async_{}_def")]
    names += ["eval_await", "eval_await_def"]
    assert len(names) == 38
    for name in names:
        assert callable(getattr(kp.Manager, name)), name


def test_def_evaluations_free_what_they_create(mgr, daemon):
    lhs, rhs, out = _multiply_tensors(mgr)
    mgr.eval_algo_data_def([lhs, rhs, out], spirv("multiply"))
    before = daemon.status().objects
    for _ in range(10):
        mgr.eval_algo_data_def([lhs, rhs, out], spirv("multiply"))
        mgr.eval_tensor_sync_local_def([out])
        mgr.eval_async_algo_mult_def([lhs, rhs, out])
        mgr.eval_async_tensor_sync_local_def([out])
        assert mgr.eval_await_def() is True
    assert out.data() == [2.0, 4.0, 6.0]
    assert daemon.status().objects == before  # no sequence or algorithm left behind


def test_old_and_new_objects_mix(mgr):
    old = mgr.build_tensor([1, 2, 3])
    new = mgr.tensor([0, 0, 0])
    mgr.sequence().eval(kp.OpTensorCopy([old, new]))
    assert new.data().tolist() == [1, 2, 3]
    product = kp.Tensor([0, 0, 0])
    seq = mgr.create_sequence("mixed")
    seq.begin()
    seq.record_tensor_create([product])
    seq.record_algo_mult([old, new, product])
    seq.record_tensor_sync_local([product])
    seq.end()
    seq.eval()
    assert product.data() == [1.0, 4.0, 9.0]
    with pytest.raises(kp.InvalidArgumentError, match="bound only once"):
        mgr.sequence().eval(kp.OpMult([old, new, old]))


def test_log_level(caplog):
    kp.log_level(1)  # Kompute's debug
    assert logging.getLogger("kp").level == logging.DEBUG
    kp.log_level("warn")
    assert logging.getLogger("kp").level == logging.WARNING
    with pytest.raises(ValueError):
        kp.log_level("loud")


def test_map_data_moves_between_the_tensors_data_and_the_gpus_host_memory(mgr):
    # Kompute v0.5/0.6 kept a tensor's data apart from the GPU's host-visible memory:
    # set_data changes the former only, map_data_into_host copies it over, map_data_from_host
    # copies back. Same answer on every transport (the mgr fixture).
    t = kp.Tensor([1, 2, 3], kp.TensorTypes.staging)
    mgr.eval_tensor_create_def([t])
    t.set_data([4, 5, 6])
    t.map_data_from_host()  # the GPU's memory still holds the data it was created with
    assert t.data() == [1.0, 2.0, 3.0]
    t.set_data([7, 8, 9])
    t.map_data_into_host()
    t.set_data([0, 0, 0])
    t.map_data_from_host()
    assert t.data() == [7.0, 8.0, 9.0]
    # A copy takes the source's data as the program holds it, as Kompute's did.
    src, dst = kp.Tensor([1, 1, 1]), kp.Tensor([0, 0, 0])
    mgr.eval_tensor_create_def([src, dst])
    src.set_data([5, 6, 7])
    mgr.eval_tensor_copy_def([src, dst])
    assert dst.data() == [5.0, 6.0, 7.0]
