"""Sessions: isolation between clients, a killed client's session freed, a lost daemon."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import grpc
import numpy as np
import pytest

import kp
from kp.v1 import compute_pb2


def test_two_clients_at_once(daemon):
    errors = []
    results = {}

    def client(name, factor):
        try:
            with kp.Manager(address=daemon.address) as mgr:
                lhs = mgr.tensor(np.arange(1000))
                rhs = mgr.tensor(np.full(1000, factor))
                out = mgr.tensor(np.zeros(1000))
                seq = (mgr.sequence()
                       .record(kp.OpTensorSyncDevice([lhs, rhs]))
                       .record(kp.OpMult([lhs, rhs, out], mgr.algorithm()))
                       .record(kp.OpTensorSyncLocal([out])))
                for _ in range(50):
                    seq.eval()
                    np.testing.assert_array_equal(out.data(), np.arange(1000) * factor)
                results[name] = out.data().copy()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append((name, error))

    threads = [threading.Thread(target=client, args=(f"c{i}", i + 2)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert results["c0"][10] == 20 and results["c1"][10] == 30


def test_handle_of_another_session_is_not_found(daemon):
    with kp.Manager(address=daemon.address) as a, kp.Manager(address=daemon.address) as b:
        tensor_of_a = a.tensor([1, 2, 3])
        mine = b.tensor([0, 0, 0])
        with pytest.raises(kp.NotFoundError, match="does not exist in this session"):
            b.sequence().eval(kp.OpTensorCopy([tensor_of_a, mine]))
        # Raw protocol: the handle is unknown to b's session for every request kind.
        with pytest.raises(grpc.RpcError) as raised:
            daemon.stub.ReadTensor(compute_pb2.ReadTensorRequest(
                session=b._conn.session, tensor=tensor_of_a._handle))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as raised:
            daemon.stub.DestroyTensor(compute_pb2.DestroyTensorRequest(
                session=b._conn.session, tensor=tensor_of_a._handle))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert tensor_of_a.is_init()  # untouched
        a.sequence().eval(kp.OpTensorSyncLocal([tensor_of_a]))
        assert tensor_of_a.data().tolist() == [1, 2, 3]


def test_unknown_session_is_not_found(daemon):
    with pytest.raises(grpc.RpcError) as raised:
        daemon.stub.CreateSequence(compute_pb2.CreateSequenceRequest(session="0" * 32))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "does not exist" in raised.value.details()


CLIENT = textwrap.dedent("""
    import sys, time, numpy as np, kp
    mgr = kp.Manager(address=sys.argv[1])
    big = mgr.tensor(np.ones(4 * 1024 * 1024, dtype=np.float32))  # 16 MiB
    seq = mgr.sequence().record(kp.OpTensorSyncDevice([big])).record(kp.OpTensorSyncLocal([big]))
    seq.eval()
    print("ready", flush=True)
    while True:
        seq.eval()
""")


def test_killed_client_session_is_freed(daemon):
    baseline_sessions = daemon.status().sessions
    baseline_bytes = daemon.allocated_bytes()
    with kp.Manager(address=daemon.address) as other:
        survivor = other.tensor([1, 2, 3])
        child = subprocess.Popen(
            [sys.executable, "-c", CLIENT, daemon.address],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert child.stdout.readline().strip() == "ready"
            assert daemon.status().sessions == baseline_sessions + 2
            assert daemon.allocated_bytes() >= baseline_bytes + 16 * 1024 * 1024
            os.kill(child.pid, signal.SIGKILL)  # mid-evaluation loop
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
        killed_at = time.monotonic()
        assert daemon.wait_for(lambda: daemon.status().sessions == baseline_sessions + 1, 5)
        assert daemon.wait_for(
            lambda: daemon.allocated_bytes() < baseline_bytes + 16 * 1024 * 1024, 5)
        assert time.monotonic() - killed_at < 5
        # The other client carries on.
        copy = other.tensor([0, 0, 0])
        other.sequence().eval(kp.OpTensorCopy([survivor, copy]))
        assert copy.data().tolist() == [1, 2, 3]


def test_no_daemon_gives_clear_error(tmp_path):
    address = f"unix:{tmp_path}/nobody.sock"
    started = time.monotonic()
    with pytest.raises(kp.UnavailableError, match=f"cannot reach kpd at {address}"):
        kp.Manager(address=address)
    assert time.monotonic() - started < 15


def test_daemon_that_goes_away(private_daemon):
    mgr = kp.Manager(address=private_daemon.address)
    t = mgr.tensor([1, 2, 3])
    seq = mgr.sequence().record(kp.OpTensorSyncLocal([t]))
    seq.eval()
    private_daemon.process.kill()
    private_daemon.process.wait()
    started = time.monotonic()
    with pytest.raises(kp.KpError, match=private_daemon.address):
        seq.eval()
    assert time.monotonic() - started < 15
    assert not t.is_init()


def test_reconnect_to_restarted_daemon(private_daemon):
    from conftest import Daemon

    mgr = kp.Manager(address=private_daemon.address)
    assert private_daemon.stop() == 0  # SIGTERM: clean exit
    with pytest.raises(kp.KpError):
        mgr.tensor([1])
    restarted = Daemon()
    try:
        with kp.Manager(address=restarted.address) as again:
            a, b = again.tensor([4, 5]), again.tensor([0, 0])
            again.sequence().eval(kp.OpTensorCopy([a, b]))
            assert b.data().tolist() == [4, 5]
    finally:
        restarted.cleanup()


def test_session_closed_by_daemon_shutdown_reports_reason(private_daemon):
    mgr = kp.Manager(address=private_daemon.address)
    mgr.tensor([1])
    private_daemon.process.send_signal(signal.SIGTERM)
    assert private_daemon.process.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while mgr._conn.closed_reason is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mgr._conn.closed_reason is not None
    assert "shutting down" in mgr._conn.closed_reason


def test_idle_session_ends_after_its_lease():
    from conftest import Daemon

    d = Daemon("--lease-seconds", "1")
    try:
        mgr = kp.Manager(address=d.address)
        t = mgr.tensor([1, 2, 3])
        assert mgr._conn.lease_seconds == 1
        assert d.wait_for(lambda: d.status().sessions == 0, timeout=10)
        assert d.wait_for(lambda: mgr._conn.closed_reason is not None, timeout=5)
        assert "idle" in mgr._conn.closed_reason
        with pytest.raises(kp.NotFoundError, match="session ended: idle"):
            mgr.sequence()
        assert not t.is_init()
    finally:
        d.cleanup()
