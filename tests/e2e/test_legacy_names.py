"""Kompute v0.5/0.6 Python names a program may use besides the eval_* family: the keywords of
Kompute's bindings (sequenceName=, waitFor=, bytes=, tensorType=, queueIndex=),
Sequence.init(), the module-level tensor types, and (v0.8/0.9) RuntimeError from tensor_t for a
dtype kp cannot hold.
On every transport (the mgr fixture)."""
import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, compile_glsl


def test_module_level_tensor_types():
    assert kp.device == kp.TensorTypes.device
    assert kp.host == kp.TensorTypes.host
    assert kp.staging == kp.TensorTypes.staging == kp.host
    assert kp.storage == kp.TensorTypes.storage


def test_kompute_keywords(daemon, mgr):
    a = mgr.build_tensor([2, 3, 4], tensorType=kp.device)
    b = mgr.build_tensor([1, 2, 3])
    out = mgr.build_tensor([0, 0, 0])
    seq = mgr.create_sequence(name="mult", queueIndex=0)
    seq.init()  # v0.5/0.6 initialised sequences explicitly: nothing to do here
    seq.begin()
    seq.record_tensor_sync_device([a, b])
    seq.record_algo_data([a, b, out], bytes=compile_glsl(daemon, MULTIPLY_GLSL))
    seq.record_tensor_sync_local([out])
    seq.end()
    seq.eval_async()
    assert mgr.eval_await(sequenceName="mult", waitFor=10**10) is True
    assert out.data() == [2.0, 6.0, 12.0]

    mgr.eval_async_tensor_sync_local_def([a])
    assert mgr.eval_await_def(waitFor=10**10) is True
    assert a.data() == [2.0, 3.0, 4.0]


def test_unknown_keywords_are_type_errors(mgr):
    seq = mgr.create_sequence("kw")
    seq.begin()
    with pytest.raises(TypeError, match="unexpected keyword"):
        seq.record_algo_data([mgr.build_tensor([1])], shader=b"")
    with pytest.raises(TypeError, match="sequenceName"):
        mgr.eval_await()


@pytest.mark.parametrize("dtype", [np.complex64, np.float16, np.int8])
def test_unsupported_dtype_raises_runtime_error_as_kompute(mgr, dtype):
    # Kompute's tensor_t raised RuntimeError ("no valid dtype supported"); kp's error is also
    # a TypeError. (mgr.tensor converts any data to float32, as Kompute's does.)
    with pytest.raises(RuntimeError, match="is not supported"):
        mgr.tensor_t(np.zeros(3, dtype=dtype))
    with pytest.raises(TypeError):
        mgr.tensor_t(np.zeros(3, dtype=dtype))
