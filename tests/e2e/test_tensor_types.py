"""Element types (float32, int32, uint32, float64, bool) and tensor types (device, host,
storage) through kpd."""
import numpy as np
import pytest

import kp

TYPED_MULTIPLY = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer Lhs {{ {t} lhs[]; }};
layout(set = 0, binding = 1) readonly buffer Rhs {{ {t} rhs[]; }};
layout(set = 0, binding = 2) writeonly buffer Out {{ {t} result[]; }};
void main() {{ uint i = gl_GlobalInvocationID.x; result[i] = lhs[i] * rhs[i]; }}
"""

CASES = [
    ("float", np.float32, [123, 153, 231], [9482, 1208, 1238]),
    ("int", np.int32, [-3, 7, 100000], [9, -8, 1000]),
    ("uint", np.uint32, [3, 2147483650, 7], [9, 1, 600000]),
    ("double", np.float64, [1.1111222233334444, 2.5, -3.0], [3.0, 1e-300, 1e300]),
]


@pytest.mark.parametrize("glsl_type,dtype,a,b", CASES, ids=[c[0] for c in CASES])
def test_typed_multiply(mgr, glsl_type, dtype, a, b):
    if dtype == np.float64 and not mgr.get_device_properties()["shader_float64"]:
        pytest.skip("the device has no shaderFloat64")
    lhs = mgr.tensor_t(np.array(a, dtype=dtype))
    rhs = mgr.tensor_t(np.array(b, dtype=dtype))
    out = mgr.tensor_t(np.zeros(3, dtype=dtype))
    assert lhs.data().dtype == dtype
    algo = mgr.algorithm([lhs, rhs, out], TYPED_MULTIPLY.format(t=glsl_type))
    mgr.sequence().record(kp.OpTensorSyncDevice([lhs, rhs])).record(
        kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([out])).eval()
    expected = np.array(a, dtype=dtype) * np.array(b, dtype=dtype)
    np.testing.assert_array_equal(out.data(), expected)


def test_data_types_reported(mgr):
    assert mgr.tensor([1]).data_type() == kp.TensorDataTypes.eFloat
    assert mgr.tensor_t(np.array([1], np.int32)).data_type() == kp.TensorDataTypes.eInt
    assert mgr.tensor_t(np.array([1], np.uint32)).data_type() == kp.TensorDataTypes.eUnsignedInt
    assert mgr.tensor_t(np.array([1], np.float64)).data_type() == kp.TensorDataTypes.eDouble
    assert mgr.tensor_t(np.array([True])).data_type() == kp.TensorDataTypes.eBool


def test_bool_tensor_round_trip(mgr):
    flags = mgr.tensor_t(np.array([True, False, True, True]))
    copy = mgr.tensor_t(np.zeros(4, dtype=bool))
    mgr.sequence().record(kp.OpTensorSyncDevice([flags])).record(
        kp.OpTensorCopy([flags, copy])).record(kp.OpTensorSyncLocal([copy])).eval()
    assert copy.data().dtype == np.bool_
    assert copy.data().tolist() == [True, False, True, True]


def test_unsupported_dtype_rejected_clearly(mgr):
    with pytest.raises(TypeError, match="int64 is not supported"):
        mgr.tensor_t(np.array([1, 2, 3]))  # numpy's default int64
    with pytest.raises(TypeError, match="float16 is not supported"):
        mgr.tensor_t(np.array([1, 2], dtype=np.float16))


def test_nd_input_is_flattened(mgr):
    t = mgr.tensor([[1, 2], [3, 4]])
    assert t.size() == 4 and len(t) == 4
    assert t.data().tolist() == [1, 2, 3, 4]


def test_zero_size_tensor_rejected(mgr):
    with pytest.raises(kp.InvalidArgumentError, match="size must be greater than zero"):
        mgr.tensor([])


@pytest.mark.parametrize("tensor_type", [kp.TensorTypes.device, kp.TensorTypes.host])
def test_copy_through_storage_tensor(mgr, tensor_type):
    source = mgr.tensor([1, 2, 3], tensor_type)
    storage = mgr.tensor([0, 0, 0], kp.TensorTypes.storage)
    target = mgr.tensor([0, 0, 0], tensor_type)
    assert storage.tensor_type() == kp.TensorTypes.storage
    (mgr.sequence()
        .record(kp.OpTensorSyncDevice([source]))
        .record(kp.OpTensorCopy([source, storage]))
        .record(kp.OpTensorCopy([storage, target]))
        .record(kp.OpTensorSyncLocal([target]))
        .eval())
    assert target.data().tolist() == [1, 2, 3]


def test_copy_updates_destination_host_copy_without_sync(mgr):
    a = mgr.tensor([2, 3, 4])
    b, c = mgr.tensor([0, 0, 0]), mgr.tensor([0, 0, 0], kp.TensorTypes.host)
    mgr.sequence().eval(kp.OpTensorCopy([a, b, c]))
    assert b.data().tolist() == [2, 3, 4]
    assert c.data().tolist() == [2, 3, 4]


def test_storage_tensor_cannot_be_synced(mgr):
    s = mgr.tensor([1, 2], kp.TensorTypes.storage)
    with pytest.raises(kp.InvalidArgumentError, match="storage tensor"):
        mgr.sequence().eval(kp.OpTensorSyncLocal([s]))


def test_data_is_a_writable_view(mgr):
    t = mgr.tensor([1, 2, 3])
    view = t.data()
    assert view.base is t  # the array views the tensor's host copy, as in Kompute
    view[0] = 10
    assert t.data()[0] == 10
