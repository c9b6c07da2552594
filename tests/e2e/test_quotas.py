"""Quotas: tensor memory and objects per session, sessions per daemon, message size. Exceeding
one is RESOURCE_EXHAUSTED with the limit (and its kpd flag) in the message; the failed request
changes nothing, and other sessions carry on."""
import contextlib
import re
import shutil

import grpc
import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, Daemon
from kp.v1 import compute_pb2, types_pb2

MIB = 1 << 20


@contextlib.contextmanager
def private_daemon_with(*flags: str):
    d = Daemon(*flags)
    try:
        yield d
    finally:
        code = d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
        assert code == 0, f"kpd exited with {code}"


def check_multiply(mgr: kp.Manager) -> None:
    """A multiply in `mgr` gives the right answer (3 tensors, 1 algorithm, 1 sequence)."""
    lhs, rhs, out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([lhs, rhs, out], MULTIPLY_GLSL)
    seq = mgr.sequence()
    seq.eval(kp.OpTensorSyncDevice([lhs, rhs]))
    seq.eval(kp.OpAlgoDispatch(algo))
    seq.eval(kp.OpTensorSyncLocal([out]))
    assert out.data().tolist() == [4, 10, 18]
    for obj in (seq, algo, lhs, rhs, out):
        obj.destroy()


def floats(byte_count: int) -> np.ndarray:
    return np.zeros(byte_count // 4, dtype=np.float32)


def test_session_memory_quota():
    with private_daemon_with("--session-memory-bytes", str(MIB)) as d:
        a = kp.Manager(address=d.address)
        b = kp.Manager(address=d.address)
        first = a.tensor(floats(MIB // 2))
        a.tensor(floats(MIB // 4), kp.TensorTypes.host)
        a.tensor_t(floats(MIB // 4), kp.TensorTypes.storage)  # exactly the quota now
        a._conn.flush()  # pipelined creation (kp._pipeline): sent now
        in_use = d.allocated_bytes()
        message = (r"^kp.Manager.tensor\(1 x eFloat, device\) \(sent with the next call to "
                   r"kpd\): session device memory quota exceeded: 1048576 bytes \(1\.0 MiB\) in use "
                   r"\+ 4 bytes requested > 1048576 bytes \(1\.0 MiB\) \(--session-memory-bytes\)$")
        with pytest.raises(kp.ResourceExhaustedError, match=message):
            a.tensor([1.0])
            a._conn.flush()
        assert d.allocated_bytes() == in_use, "the refused tensor allocated nothing"

        # Another session has a quota of its own and works normally.
        check_multiply(b)
        everything = b.tensor(floats(MIB))
        with pytest.raises(kp.ResourceExhaustedError, match="--session-memory-bytes"):
            b.tensor([1.0])
            b._conn.flush()
        everything.destroy()
        check_multiply(b)

        # Destroying a tensor gives its bytes back to the quota.
        first.destroy()
        again = a.tensor(floats(MIB // 2))
        a.sequence().eval(kp.OpTensorSyncLocal([again]))
        with pytest.raises(kp.ResourceExhaustedError, match="1048576 bytes .* in use"):
            a.tensor([1.0])
            a._conn.flush()

        # Ending the session gives everything back.
        a.destroy()
        c = kp.Manager(address=d.address)
        c.tensor(floats(MIB))
        c.destroy()
        b.destroy()
        assert d.wait_for(lambda: d.allocated_bytes() == 0)


def test_default_memory_quota_is_75_percent_of_the_largest_device_local_heap(daemon, mgr):
    heaps = [h.size for h in mgr._conn.device.memory_heaps if h.device_local]
    heaps = heaps or [h.size for h in mgr._conn.device.memory_heaps]
    limit = max(heaps) * 75 // 100
    size = limit // 4 + 1  # one float32 element too many for an empty session
    with pytest.raises(grpc.RpcError) as raised:
        mgr._conn.stub.CreateTensor(compute_pb2.CreateTensorRequest(
            session=mgr._conn.session, data_type=types_pb2.DATA_TYPE_FLOAT32, size=size))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert re.search(rf"^session device memory quota exceeded: 0 bytes in use \+ {size * 4} bytes "
                     rf".* requested > {limit} bytes .*\(--session-memory-bytes 0: 75% of the "
                     r"device's largest device-local heap\)$", raised.value.details())
    check_multiply(mgr)


def test_session_object_quota():
    with private_daemon_with("--session-max-objects", "5") as d:
        # Host copies over the socket: the raw Eval below reads `out` from its reply.
        a = kp.Manager(address=d.address, shared_memory=False)
        lhs, rhs, out = a.tensor([1, 2, 3]), a.tensor([4, 5, 6]), a.tensor([0, 0, 0])
        algo = a.algorithm([lhs, rhs, out], MULTIPLY_GLSL)
        seq = a.sequence()  # 5 objects: the quota
        a._conn.flush()  # pipelined creation (kp._pipeline): sent now
        assert d.status().objects == 5
        held = (r", the session holds 5 tensors, algorithms and sequences, its limit "
                r"\(--session-max-objects 5\)$")
        with pytest.raises(kp.ResourceExhaustedError, match="cannot create a tensor" + held):
            a.tensor([1])
            a._conn.flush()
        with pytest.raises(kp.ResourceExhaustedError, match="cannot create an algorithm" + held):
            a.algorithm([lhs, rhs, out], MULTIPLY_GLSL)
        with pytest.raises(kp.ResourceExhaustedError, match="cannot create a sequence" + held):
            a.sequence()
            a._conn.flush()
        assert d.status().objects == 5

        # At its quota, the session still evaluates, with its sequence and without one.
        seq.eval(kp.OpTensorSyncDevice([lhs, rhs]))
        seq.eval(kp.OpAlgoDispatch(algo))
        reply = d.stub.Eval(compute_pb2.EvalRequest(
            session=a._conn.session, ops=[types_pb2.Op(
                tensor_sync_local=types_pb2.OpTensorSyncLocal(tensors=[out._handle]))]))
        assert np.frombuffer(reply.downloads[0].data, dtype=np.float32).tolist() == [4, 10, 18]

        # Another session is unaffected.
        b = kp.Manager(address=d.address)
        check_multiply(b)

        # Destroying an object frees its slot.
        seq.destroy()
        a.sequence().eval(kp.OpTensorSyncLocal([out]))
        assert out.data().tolist() == [4, 10, 18]
        a.destroy()
        b.destroy()
        assert d.wait_for(lambda: d.status().objects == 0)


def test_sessions_per_daemon():
    with private_daemon_with("--max-sessions", "2") as d:
        a = kp.Manager(address=d.address)
        b = kp.Manager(address=d.address)
        with pytest.raises(kp.ResourceExhaustedError,
                           match=r"the daemon already has 2 sessions open, its limit "
                                 r"\(--max-sessions 2\)"):
            kp.Manager(address=d.address)
        check_multiply(a)
        check_multiply(b)
        a.destroy()
        assert d.wait_for(lambda: d.status().sessions == 1)
        c = kp.Manager(address=d.address)
        check_multiply(c)
        c.destroy()
        b.destroy()


def test_message_size():
    """A request over --max-message-bytes is refused by gRPC itself (RESOURCE_EXHAUSTED,
    "Received message larger than max (<size> vs. <limit>)"); a reply that would be over it is
    refused by kpd before anything runs."""
    with private_daemon_with("--max-message-bytes", str(MIB)) as d:
        mgr = kp.Manager(address=d.address)
        session = mgr._conn.session
        two_mib = floats(2 * MIB)

        with pytest.raises(grpc.RpcError) as raised:
            d.stub.CreateTensor(compute_pb2.CreateTensorRequest(
                session=session, data_type=types_pb2.DATA_TYPE_FLOAT32, size=two_mib.size,
                data=two_mib.tobytes()))
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert re.search(r"[Rr]eceived message larger than max \(\d+ vs\. 1048576\)",
                         raised.value.details()), raised.value.details()
        assert d.status().objects == 0
        # The kp client never sends such a message: large host copies travel as streams of
        # 1 MiB chunks (or not at all, in shared memory).
        for shared in (False, True):
            with kp.Manager(address=d.address, shared_memory=shared) as client:
                t = client.tensor(two_mib)
                out = client.tensor(np.zeros_like(two_mib))
                client.sequence().record(kp.OpTensorCopy([t, out])).record(
                    kp.OpTensorSyncLocal([out])).eval()
                assert np.array_equal(out.data(), two_mib)

        # A tensor that big may exist (filled by shaders), but its bytes cannot travel at once.
        big = d.stub.CreateTensor(compute_pb2.CreateTensorRequest(
            session=session, data_type=types_pb2.DATA_TYPE_FLOAT32, size=two_mib.size)).tensor
        with pytest.raises(grpc.RpcError) as raised:
            d.stub.ReadTensor(compute_pb2.ReadTensorRequest(session=session, tensor=big))
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert re.search(rf"^tensor {big} has 2097152 bytes \(2\.0 MiB\), more than a reply may "
                         r"carry \(--max-message-bytes 1048576\)$", raised.value.details())
        sync_local = types_pb2.Op(tensor_sync_local=types_pb2.OpTensorSyncLocal(tensors=[big]))
        with pytest.raises(grpc.RpcError) as raised:
            d.stub.Eval(compute_pb2.EvalRequest(session=session, ops=[sync_local]))
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert re.search(r"^the evaluation: its reply would carry \d+ bytes .* more than a message "
                         r"may hold \(--max-message-bytes 1048576\)", raised.value.details())
        seq = d.stub.CreateSequence(compute_pb2.CreateSequenceRequest(session=session)).sequence
        with pytest.raises(grpc.RpcError) as raised:
            d.stub.Eval(compute_pb2.EvalRequest(
                session=session, sequence=seq, record=True, ops=[sync_local]))
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert re.search(rf"^sequence {seq}: its reply would carry", raised.value.details())

        # The session and the daemon carry on.
        check_multiply(mgr)
        mgr.destroy()
