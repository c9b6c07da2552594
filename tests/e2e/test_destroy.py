"""Destroy semantics: idempotent, is_init() follows, destroyed objects are refused."""
import pytest

import kp
from conftest import MULTIPLY_GLSL


def test_destroy_objects(mgr):
    lhs, rhs, out = mgr.tensor([2, 2, 2]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([lhs, rhs, out], MULTIPLY_GLSL)
    seq = mgr.sequence()
    seq.record(kp.OpTensorSyncDevice([lhs, rhs])).record(kp.OpAlgoDispatch(algo)).record(
        kp.OpTensorSyncLocal([out])).eval()
    assert seq.is_init() and algo.is_init() and out.is_init()
    seq.destroy()
    seq.destroy()  # idempotent
    assert not seq.is_init()
    assert out.data().tolist() == [2, 4, 6]  # the host copy stays readable
    for tensor in (lhs, rhs, out):
        tensor.destroy()
        assert not tensor.is_init()
    algo.destroy()
    assert not algo.is_init()


def test_destroyed_tensor_refused_by_evaluation(mgr):
    a, b = mgr.tensor([1, 2]), mgr.tensor([0, 0])
    seq = mgr.sequence().record(kp.OpTensorCopy([a, b]))
    seq.eval()
    b.destroy()
    with pytest.raises(kp.FailedPreconditionError, match="destroyed"):
        seq.eval()


def test_destroyed_tensor_in_new_algorithm(mgr):
    a = mgr.tensor([1, 2])
    a.destroy()
    with pytest.raises(kp.FailedPreconditionError, match="destroyed"):
        mgr.algorithm([a], MULTIPLY_GLSL)


def test_manager_destroy_frees_everything(daemon):
    before = daemon.allocated_bytes()
    mgr = kp.Manager(address=daemon.address)
    tensors = [mgr.tensor([1.0] * 100_000) for _ in range(4)]
    assert daemon.allocated_bytes() >= before + 4 * 400_000
    seq = mgr.sequence()
    mgr.destroy()
    assert not tensors[0].is_init() and not seq.is_init()
    assert daemon.wait_for(lambda: daemon.allocated_bytes() == before)
    with pytest.raises(kp.UnavailableError, match="destroyed"):
        mgr.tensor([1])


def test_context_manager(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        t = mgr.tensor([1, 2, 3])
        assert t.is_init()
    assert not t.is_init()
