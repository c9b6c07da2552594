"""Pipelined creation (kp._pipeline, the Apply RPC, client-chosen handles, client arenas):
creating an object costs no round trip of its own, the next call carries the creations, and a
creation kpd refuses fails that call with an error naming the creating call."""
import threading

import grpc
import numpy as np
import pytest

import kp
from kp import _local
from kp.v1 import compute_pb2, compute_pb2_grpc, local_pb2, types_pb2

from conftest import Daemon, spirv

MULTIPLY = "multiply"
CLIENT_BIT = 1 << 63


def objects_in_daemon(daemon: Daemon, mgr: kp.Manager) -> int:
    """The objects kpd holds for `mgr`'s session (ListSessions on a channel of its own: it
    sends no creation)."""
    with grpc.insecure_channel(daemon.address) as channel:
        sessions = compute_pb2_grpc.ComputeStub(channel).ListSessions(
            compute_pb2.ListSessionsRequest())
    serial = int(mgr._conn.label.split("#")[1])
    return next(s.objects for s in sessions.sessions if s.serial == serial)


def test_creating_sends_nothing_until_a_call_needs_it(daemon, mgr):
    a, b, c = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([a, b, c], spirv(MULTIPLY))
    seq = mgr.sequence()
    assert all(x._handle & CLIENT_BIT for x in (a, b, c, algo, seq))
    assert all(x.is_init() for x in (a, b, c, algo, seq))
    assert algo.get_workgroup() == (3, 1, 1)  # the daemon's default, worked out here
    assert objects_in_daemon(daemon, mgr) == 0
    seq.record(kp.OpTensorSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo))
    seq.record(kp.OpTensorSyncLocal([c])).eval()
    assert c.data().tolist() == [4, 10, 18]
    assert objects_in_daemon(daemon, mgr) == 5


def test_initial_data_of_every_type_reaches_the_gpu(mgr):
    arrays = [
        np.array([1.5, -2.0, 3.25], dtype=np.float32),
        np.array([-7, 0, 2**31 - 1], dtype=np.int32),
        np.array([0, 5, 2**32 - 1], dtype=np.uint32),
        np.array([1e300, -0.5, 3.0], dtype=np.float64),
        np.array([True, False, True]),
    ]
    tensors = [mgr.tensor_t(a) for a in arrays]
    storage = mgr.tensor_t(np.array([9, 8, 7], dtype=np.uint32), kp.TensorTypes.storage)
    copy = mgr.tensor_t(np.zeros(3, dtype=np.uint32))
    for t in tensors:
        t.data()[:] = 0  # the host copy changes; the GPU keeps the initial data
    mgr.sequence().eval(kp.OpTensorSyncLocal(tensors))
    for t, a in zip(tensors, arrays):
        assert t.data().tolist() == a.tolist()
    mgr.sequence().record(kp.OpTensorCopy([storage, copy])).record(
        kp.OpTensorSyncLocal([copy])).eval()
    assert copy.data().tolist() == [9, 8, 7]


def test_a_refused_creation_fails_the_call_that_carried_it(mgr):
    good = mgr.tensor([1, 2, 3])
    bad = mgr.algorithm([good], b"\x03\x02\x23\x07" + b"\x00" * 8)  # truncated SPIR-V
    later = mgr.tensor([7, 8, 9])
    probe = mgr.tensor([5, 5, 5])
    with pytest.raises(kp.InvalidArgumentError) as raised:
        mgr.sequence().eval(kp.OpTensorSyncLocal([probe]))
    message = str(raised.value)
    assert message.startswith("kp.Manager.algorithm(1 tensors, 12 bytes of SPIR-V)")
    assert "spirv" in message and "actions[" not in message
    assert not bad.is_init() and good.is_init() and later.is_init()
    # The failed call did not run; the creations after the refused one were kept and go next.
    mgr.sequence().eval(kp.OpTensorSyncLocal([later, good]))
    assert later.data().tolist() == [7, 8, 9] and good.data().tolist() == [1, 2, 3]
    with pytest.raises(kp.InvalidArgumentError, match=r"^OpAlgoDispatch.algorithm: kp.Manager"):
        mgr.sequence().eval(kp.OpAlgoDispatch(bad))
    bad.destroy()  # nothing to free, no error


def test_a_refused_tensor_is_named(daemon):
    with Daemon("--session-memory-bytes", "4096") as small:
        with kp.Manager(address=small.address, shared_memory=False) as mgr:
            mgr.tensor(np.zeros(512, dtype=np.float32))  # 2 KiB of the 4 KiB
            over = mgr.tensor(np.ones(1024, dtype=np.float32))
            with pytest.raises(kp.ResourceExhaustedError,
                               match=r"^kp.Manager.tensor\(1024 x eFloat, device\)"):
                mgr.sequence().eval(kp.OpTensorSyncDevice([mgr.tensor([1.0])]))
            assert not over.is_init()


def test_the_gpu_starts_with_the_data_given_at_creation(mgr):
    t = mgr.tensor([1, 2, 3])
    t.data()[0] = 5  # a host write before any call: the GPU copy still starts as created
    mgr.sequence().eval(kp.OpTensorSyncLocal([t]))
    assert t.data().tolist() == [1, 2, 3]
    t.data()[0] = 5
    mgr.sequence().eval(kp.OpTensorSyncDevice([t]))
    t.data()[:] = 0
    mgr.sequence().eval(kp.OpTensorSyncLocal([t]))
    assert t.data().tolist() == [5, 2, 3]


def test_destroyed_before_any_call_never_reaches_the_daemon(daemon, mgr):
    for _ in range(50):
        mgr.tensor([1, 2, 3]).destroy()
        mgr.sequence().destroy()
    keep = mgr.tensor([4, 5, 6])
    mgr.sequence().eval(kp.OpTensorSyncLocal([keep]))
    assert objects_in_daemon(daemon, mgr) == 2  # keep and that sequence
    assert keep.data().tolist() == [4, 5, 6]


def test_client_arena_places_are_reused(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        for i in range(3000):
            t = mgr.tensor(np.full(100, i, dtype=np.float32))
            if i % 100 == 0:
                mgr.sequence().eval(kp.OpTensorSyncLocal([t]))
                assert t.data()[0] == i
            t.destroy()
        arenas = mgr._conn.arenas._arenas
        assert len(arenas) == 1 and arenas[0].top == 0 and arenas[0].free == []


def test_tensors_sharing_an_arena_keep_their_own_bytes(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        tensors = [mgr.tensor_t(np.arange(n, dtype=np.float64) + n) for n in range(1, 40)]
        places = {t._placed for t in tensors}
        assert len(places) == len(tensors) and len({a for a, _ in places}) == 1
        out = [mgr.tensor_t(np.zeros(t.size(), dtype=np.float64)) for t in tensors]
        seq = mgr.sequence()
        for t, o in zip(tensors, out):
            seq.record(kp.OpTensorSyncDevice([t])).record(kp.OpTensorCopy([t, o]))
        seq.record(kp.OpTensorSyncLocal(out)).eval()
        for n, o in enumerate(out, start=1):
            assert o.data().tolist() == (np.arange(n) + n).tolist()


def test_threads_creating_and_evaluating_at_once(mgr):
    errors = []

    def work(k: int) -> None:
        try:
            for i in range(15):
                a = mgr.tensor([k, i, 1])
                b = mgr.tensor([2, 2, 2])
                c = mgr.tensor([0, 0, 0])
                algo = mgr.algorithm([a, b, c], spirv(MULTIPLY))
                mgr.sequence().record(kp.OpTensorSyncDevice([a, b])).record(
                    kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([c])).eval()
                assert c.data().tolist() == [2 * k, 2 * i, 2], (k, i, c.data().tolist())
                for x in (algo, a, b, c):
                    x.destroy()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ---- the protocol, as another client would use it ----


def apply(mgr: kp.Manager, *actions: compute_pb2.Action):
    """Calls Apply directly; returns (status code, details, failed action index or None)."""
    request = compute_pb2.ApplyRequest(session=mgr._conn.session, actions=list(actions))
    try:
        mgr._conn.stub.Apply(request)
        return grpc.StatusCode.OK, "", None
    except grpc.RpcError as error:
        index = dict(error.trailing_metadata() or ()).get("kp-failed-action")
        return error.code(), error.details(), None if index is None else int(index)


def create_tensor(handle: int, **fields) -> compute_pb2.Action:
    request = compute_pb2.CreateTensorRequest(
        data_type=types_pb2.DATA_TYPE_FLOAT32, size=fields.pop("size", 3), handle=handle, **fields)
    return compute_pb2.Action(create_tensor=request)


def test_apply_checks_client_handles(daemon):
    with kp.Manager(address=daemon.address, shared_memory=False) as mgr:
        h = CLIENT_BIT | 12345
        code, details, index = apply(mgr, create_tensor(h), create_tensor(7))
        assert (code, index) == (grpc.StatusCode.INVALID_ARGUMENT, 1)
        assert details.startswith("actions[1] (create_tensor): handle: 7 is not a client handle")
        code, details, index = apply(mgr, create_tensor(h))
        assert (code, index) == (grpc.StatusCode.INVALID_ARGUMENT, 0)
        assert f"handle: tensor {h} already exists" in details
        code, details, index = apply(
            mgr, compute_pb2.Action(destroy_tensor=compute_pb2.DestroyTensorRequest(tensor=h)),
            create_tensor(h, size=0))
        assert (code, index) == (grpc.StatusCode.INVALID_ARGUMENT, 1) and "size" in details
        assert apply(mgr, compute_pb2.Action())[:2] == (
            grpc.StatusCode.INVALID_ARGUMENT, "actions[0] (no action): no action set")
        request = compute_pb2.ApplyRequest(session="no-such-session", actions=[create_tensor(h)])
        with pytest.raises(grpc.RpcError) as raised:
            mgr._conn.stub.Apply(request)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert "kp-failed-action" not in dict(raised.value.trailing_metadata() or ())
        assert objects_in_daemon(daemon, mgr) == 0


def local_link(mgr: kp.Manager) -> _local._Link:
    return _local._Link(mgr._conn.local.path, mgr._conn.session)


def local_request(link: _local._Link, **fields):
    """(code, message, failed_action) of one LocalRequest. A request with a prelude gets the
    prelude's response first (counted in APPLIED), then its own."""
    request = local_pb2.LocalRequest(**fields)
    two = request.HasField("prelude") and request.WhichOneof("request") is not None
    try:
        link.request_bytes(request.SerializeToString(), expect_fd="new_arena" in fields,
                           prelude_applied=(lambda: APPLIED.append(1)) if two else None)
        return 0, "", 0
    except kp.KpError as error:
        return error.code.value[0], error.details, error.failed_action


APPLIED: list = []


def test_client_regions_are_checked(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        mgr.tensor(np.zeros(20000, dtype=np.float32)).destroy()  # kpd's arena 1 (> 64 KiB)
        link = local_link(mgr)
        try:
            arena, mapped = mgr._conn.local.new_arena(4096)
            assert len(mapped) == 4096 and arena != 1

            def placed(offset, **fields):
                region = compute_pb2.SharedRegion(arena=fields.pop("arena", arena), offset=offset)
                return compute_pb2.ApplyRequest(actions=[create_tensor(
                    CLIENT_BIT | offset | 1 << 40, region=region, **fields)])

            invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
            cases = [
                (placed(4096 - 8), "region: bytes [4088, 4088 + 12) pass the end of arena"),
                (placed(2), "region.offset: 2 is not a multiple of the element size (4 bytes)"),
                (placed(0, arena=1), "region.arena: arena 1 is kpd's"),
                (placed(0, tensor_type=types_pb2.TENSOR_TYPE_STORAGE), "region: a storage tensor has no host"),
            ]
            for prelude, expected in cases:
                code, message, failed = local_request(link, prelude=prelude)
                assert (code, failed) == (invalid, 1), message
                assert message.startswith("actions[0] (create_tensor): " + expected), message
            code, message, failed = local_request(link, prelude=placed(0, arena=99))
            assert code == grpc.StatusCode.NOT_FOUND.value[0] and failed == 1
            # A region that fits: the arena's bytes are the initial contents.
            np.frombuffer(mapped, dtype=np.float32, count=3, offset=64)[:] = [6, 7, 8]
            assert local_request(link, apply=placed(64)) == (0, "", 0)
        finally:
            link.close()


def test_new_arena_sizes_and_quota(daemon):
    with Daemon("--session-memory-bytes", "1048576") as small:
        with kp.Manager(address=small.address) as mgr:
            link = local_link(mgr)
            try:
                invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
                for size in (0, (256 << 20) + 1):
                    code, message, _ = local_request(
                        link, new_arena=local_pb2.NewArenaRequest(size=size))
                    assert code == invalid and message.startswith("new_arena.size"), message
                mgr._conn.local.new_arena(1 << 20)  # the whole quota
                code, message, _ = local_request(
                    link, new_arena=local_pb2.NewArenaRequest(size=4096))
                assert code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
                assert "more than the session's memory quota" in message
            finally:
                link.close()


def test_a_prelude_failure_skips_the_request(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        t = mgr.tensor([1, 2, 3])
        mgr.sequence().eval(kp.OpTensorSyncDevice([t]))
        link = local_link(mgr)
        try:
            eval_request = compute_pb2.EvalRequest(sequence=0, record=True, ops=[types_pb2.Op(
                tensor_sync_local=types_pb2.OpTensorSyncLocal(tensors=[t._handle]))])
            t.data()[:] = 0
            prelude = compute_pb2.ApplyRequest(actions=[create_tensor(CLIENT_BIT | 5, size=0)])
            code, message, failed = local_request(link, prelude=prelude, eval=eval_request)
            assert failed == 1 and "size" in message
            assert t.data().tolist() == [0, 0, 0]  # the evaluation did not run
            prelude = compute_pb2.ApplyRequest(actions=[create_tensor(CLIENT_BIT | 5)])
            APPLIED.clear()
            assert local_request(link, prelude=prelude, eval=eval_request) == (0, "", 0)
            assert APPLIED == [1]  # the prelude's own response came first
            assert t.data().tolist() == [1, 2, 3]
            # A request that fails after its prelude was applied: the prelude's objects stay.
            prelude = compute_pb2.ApplyRequest(actions=[create_tensor(CLIENT_BIT | 6)])
            bad = compute_pb2.EvalRequest(sequence=12345)
            APPLIED.clear()
            code, message, failed = local_request(link, prelude=prelude, eval=bad)
            assert (code, failed, APPLIED) == (grpc.StatusCode.NOT_FOUND.value[0], 0, [1])
            assert local_request(link, prelude=compute_pb2.ApplyRequest(
                actions=[create_tensor(CLIENT_BIT | 6)]))[1].startswith(
                    "actions[0] (create_tensor): handle: tensor")
        finally:
            link.close()
