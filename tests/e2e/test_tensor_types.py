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
    with pytest.raises(kp.InvalidArgumentError, match="zero-sized"):
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


DOUBLE_THEN_ADD_ONE = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer In { float a[]; };
layout(set = 0, binding = 1) buffer Mid { float mid[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float result[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    mid[i] = a[i] * 2.0;
    result[i] = mid[i] + 1.0;
}
"""


def test_sync_ops_skip_storage_tensors(mgr):
    # Kompute v0.9 syncs device tensors only: OpTensorSync*(algo.get_tensors()) with a storage
    # tensor among them is a common, valid program.
    a = mgr.tensor([1, 2, 3])
    mid = mgr.tensor([0, 0, 0], kp.TensorTypes.storage)
    out = mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([a, mid, out], DOUBLE_THEN_ADD_ONE)
    (mgr.sequence().record(kp.OpTensorSyncDevice(algo.get_tensors()))
        .record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal(algo.get_tensors())).eval())
    assert out.data().tolist() == [3, 5, 7]
    assert a.data().tolist() == [1, 2, 3]
    # The storage tensor kept what the shader wrote: copy it out to see.
    seen = mgr.tensor([0, 0, 0])
    mgr.sequence().eval(kp.OpTensorCopy([mid, seen])).eval(kp.OpTensorSyncLocal([seen]))
    assert seen.data().tolist() == [2, 4, 6]


def test_copy_takes_the_sources_host_data_as_the_program_holds_it(mgr):
    # Kompute's OpTensorCopy also copies the source's host data into the destinations': the
    # host data as the program holds it, changed since the last sync or not.
    a, b = mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
    mgr.sequence().eval(kp.OpTensorSyncDevice([a, b]))
    a.data()[:] = [7, 8, 9]  # not synced
    mgr.sequence().eval(kp.OpTensorCopy([a, b]))
    assert b.data().tolist() == [7, 8, 9]
    # The GPU copy is of the GPU data, which the change did not reach.
    mgr.sequence().eval(kp.OpTensorSyncLocal([b]))
    assert b.data().tolist() == [1, 2, 3]


def test_data_is_a_writable_view(mgr):
    t = mgr.tensor([1, 2, 3])
    view = t.data()
    assert view.base is t  # the array views the tensor's host copy, as in Kompute
    view[0] = 10
    assert t.data()[0] == 10
