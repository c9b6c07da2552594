"""The same-host fast path: host copies in memory shared with kpd, evaluations over its local
data socket."""
import os
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest

import kp
from kp import _evaluation


def test_local_clients_get_shared_memory(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        assert mgr.shared_memory
        t = mgr.tensor([1, 2, 3])
        assert t._shared
        assert stat.S_ISSOCK(os.stat(daemon.socket + ".data").st_mode)


def test_shared_tensors_move_no_bytes(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        a = mgr.tensor(np.arange(1000, dtype=np.float32))
        b = mgr.tensor(np.zeros(1000, dtype=np.float32))
        ops = [kp.OpTensorSyncDevice([a]), kp.OpTensorCopy([a, b]), kp.OpTensorSyncLocal([b])]
        assert _evaluation.upload_messages(ops) == []  # nothing to send: the daemon reads in place
        a.data()[:] = 5  # a host write, seen by the daemon in place
        seq = mgr.sequence()
        for op in ops:
            seq.record(op)
        seq.eval()
        assert b.data().tolist() == [5.0] * 1000


def test_bool_tensors_use_the_socket_path(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        flags = mgr.tensor_t(np.array([True, False, True]))
        assert not flags._shared  # a numpy bool array does not have the GPU's layout
        copy = mgr.tensor_t(np.zeros(3, dtype=bool))
        mgr.sequence().eval(kp.OpTensorCopy([flags, copy]))
        assert copy.data().tolist() == [True, False, True]


def test_large_tensor_round_trip_in_place(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        n = 16 * 1024 * 1024  # 64 MiB: written in place after creation, not sent inline
        values = np.random.default_rng(1).random(n, dtype=np.float32)
        a = mgr.tensor(values)
        b = mgr.tensor(np.zeros(n, dtype=np.float32))
        mgr.sequence().record(kp.OpTensorCopy([a, b])).record(kp.OpTensorSyncLocal([b])).eval()
        np.testing.assert_array_equal(b.data(), values)


def test_switched_off_by_the_client(daemon, monkeypatch):
    monkeypatch.setenv("KP_SHARED_MEMORY", "0")
    with kp.Manager(address=daemon.address) as mgr:
        assert not mgr.shared_memory
        t = mgr.tensor([1, 2])
        assert not t._shared


def test_switched_off_by_the_daemon():
    from conftest import Daemon

    d = Daemon("--no-shared-memory")
    try:
        assert not os.path.exists(d.socket + ".data")
        with kp.Manager(address=d.address) as mgr:
            assert not mgr.shared_memory
            a, b = mgr.tensor([1, 2]), mgr.tensor([0, 0])
            mgr.sequence().eval(kp.OpTensorCopy([a, b]))
            assert b.data().tolist() == [1, 2]
    finally:
        d.cleanup()


def test_attach_needs_the_session_secret(daemon):
    from kp.v1 import local_pb2
    from kp._local import _Link

    with pytest.raises(kp.NotFoundError, match="does not exist"):
        _Link(daemon.socket + ".data", "0" * 32)
    # A connection that never attached cannot evaluate.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(daemon.socket + ".data")
    payload = local_pb2.LocalRequest(eval_async=kp.v1.compute_pb2.EvalRequest()).SerializeToString()
    sock.sendall(len(payload).to_bytes(4, "little") + payload)
    length = int.from_bytes(sock.recv(4), "little")
    response = local_pb2.LocalResponse.FromString(sock.recv(length))
    assert response.code == 9  # FAILED_PRECONDITION
    assert "attach" in response.message
    sock.close()


def test_garbage_frames_are_refused(daemon):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(daemon.socket + ".data")
    sock.sendall((5).to_bytes(4, "little") + b"\xff\xff\xff\xff\xff")
    length = int.from_bytes(sock.recv(4), "little")
    from kp.v1 import local_pb2

    response = local_pb2.LocalResponse.FromString(sock.recv(length))
    assert response.code == 3 and "not a LocalRequest" in response.message
    sock.sendall((1 << 31).to_bytes(4, "little"))  # a frame far over the limit: closed
    assert sock.recv(4) == b""
    sock.close()
    with kp.Manager(address=daemon.address) as mgr:  # others are unaffected
        assert mgr.tensor([1]).data().tolist() == [1]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_other_users_are_refused(daemon):
    script = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "try:\n"
        "    s.connect(sys.argv[1]); s.sendall(b'\\0\\0\\0\\0')\n"
        "    print('closed' if s.recv(4) == b'' else 'served')\n"
        "except OSError as e:\n"
        "    print('refused', e.errno)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, daemon.socket + ".data"],
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.split()[0] in ("refused", "closed"), result.stdout + result.stderr
