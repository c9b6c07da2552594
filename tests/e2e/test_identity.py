"""Sessions belong to whoever opened them: a call naming a session that another identity opened
(another Unix user; a TCP client for a session opened on the Unix socket) gets NOT_FOUND, with
the very message an unknown id gets, on gRPC and on the local data socket alike. And members
of --socket-group are real users of kpd: they reach the daemon and get shared memory.

The tests that act as a second Unix user create one (useradd) and need root."""
from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
from typing import Iterator, NamedTuple

import grpc
import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, MULTIPLY_PROGRAM, Daemon, as_user
from kp.v1 import compute_pb2, compute_pb2_grpc

GROUP = "kp-e2e"
USER = "kp-e2e-user"
UNKNOWN = "does not exist (it ended or never existed)"


class User(NamedTuple):
    uid: int
    gid: int
    group: int  # the kp group, one of the user's supplementary groups
    python: str  # an interpreter it can run, with the kp package ("": none needed)


def _prepare_user(python: str = "") -> User:
    """The second user, created once: its own primary group, and GROUP as a supplementary one."""
    subprocess.run(["groupadd", "-f", GROUP], check=True)
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "--user-group", "--groups", GROUP, USER], check=True)
    entry = pwd.getpwnam(USER)
    return User(entry.pw_uid, entry.pw_gid, grp.getgrnam(GROUP).gr_gid, python)


@pytest.fixture(scope="module")
def user(wheel_python: str) -> User:
    if os.geteuid() != 0:
        pytest.skip("needs root, to create a second user and act as it")
    if shutil.which("useradd") is None or shutil.which("groupadd") is None:
        pytest.skip("needs useradd and groupadd (Debian's passwd package)")
    return _prepare_user(wheel_python)


def run_as(user: User, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*as_user(user.uid, user.gid, [user.group]), user.python, "-c", script,
                           *args], capture_output=True, text=True, cwd="/",
                          env={"PATH": os.environ.get("PATH", "")}, timeout=120)


@pytest.fixture
def grouped() -> Iterator[Daemon]:
    """A kpd whose sockets belong to GROUP (mode 0660), in a folder anyone may enter."""
    d = Daemon("--socket-group", GROUP)
    os.chmod(d.dir, 0o755)
    yield d
    d.cleanup()




def test_a_socket_group_member_gets_shared_memory(user, grouped):
    assert os.stat(grouped.socket).st_gid == user.group
    assert os.stat(grouped.socket + ".data").st_gid == user.group
    done = run_as(user, MULTIPLY_PROGRAM, grouped.address, MULTIPLY_GLSL)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"shared_memory": True, "result": [4, 10, 18]}, done.stderr
    assert f"uid {user.uid}" in grouped.log()


USE_ANOTHERS_SESSION = """
import json, socket, struct, sys
import grpc
from kp.v1 import compute_pb2, compute_pb2_grpc, local_pb2
address, data_socket, session, tensor = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = {}
stub = compute_pb2_grpc.ComputeStub(grpc.insecure_channel(address))
for name, call, request in [
        ("read", stub.ReadTensor, compute_pb2.ReadTensorRequest(session=session, tensor=tensor)),
        ("write", stub.WriteTensor,
         compute_pb2.WriteTensorRequest(session=session, tensor=tensor, data=bytes(12))),
        ("close", stub.CloseSession, compute_pb2.CloseSessionRequest(session=session))]:
    try:
        call(request, timeout=30)
        seen[name] = ["OK", ""]
    except grpc.RpcError as e:
        seen[name] = [e.code().name, e.details()]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(data_socket)
attach = local_pb2.LocalRequest(attach=local_pb2.AttachRequest(session=session)).SerializeToString()
sock.sendall(struct.pack("<I", len(attach)) + attach)
length = struct.unpack("<I", sock.recv(4))[0]
data = b""
while len(data) < length:
    data += sock.recv(length - len(data))
reply = local_pb2.LocalResponse.FromString(data)
seen["attach"] = [reply.code, reply.message]
print(json.dumps(seen))
"""


def test_another_users_session_is_not_found(user, grouped):
    with kp.Manager(address=grouped.address) as mgr:
        t = mgr.tensor([1.0, 2.0, 3.0])
        done = run_as(user, USE_ANOTHERS_SESSION, grouped.address, grouped.socket + ".data",
                      mgr._conn.session, str(t._handle))
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        for name in ["read", "write", "close"]:
            code, message = seen[name]
            assert code == "NOT_FOUND" and UNKNOWN in message, (name, seen[name])
        assert seen["attach"][0] == grpc.StatusCode.NOT_FOUND.value[0], seen["attach"]
        assert UNKNOWN in seen["attach"][1], seen["attach"]
        # The owner's session is untouched: not closed, its data not overwritten.
        np.testing.assert_array_equal(t.data(), [1.0, 2.0, 3.0])
        mgr.sequence().eval(kp.OpTensorSyncDevice([t])).eval(kp.OpTensorSyncLocal([t]))
        np.testing.assert_array_equal(t.data(), [1.0, 2.0, 3.0])


def test_a_unix_session_is_not_reachable_over_tcp():
    d = Daemon(tcp=["127.0.0.1:0"])
    try:
        with kp.Manager(address=d.address) as unix_mgr, \
                kp.Manager(address=d.tcp_addresses[0]) as tcp_mgr:
            unix_tensor = unix_mgr.tensor([1.0, 2.0])
            tcp_tensor = tcp_mgr.tensor([3.0, 4.0])
            unix_mgr._conn.flush()  # pipelined creations (kp._pipeline): sent before raw calls
            tcp_mgr._conn.flush()
            with grpc.insecure_channel(d.tcp_addresses[0]) as tcp:
                stub = compute_pb2_grpc.ComputeStub(tcp)
                with pytest.raises(grpc.RpcError) as refused:
                    stub.ReadTensor(compute_pb2.ReadTensorRequest(
                        session=unix_mgr._conn.session, tensor=unix_tensor._handle), timeout=30)
                assert refused.value.code() == grpc.StatusCode.NOT_FOUND
                assert UNKNOWN in refused.value.details()
                # Its own (TCP) sessions it reaches.
                reply = stub.ReadTensor(compute_pb2.ReadTensorRequest(
                    session=tcp_mgr._conn.session, tensor=tcp_tensor._handle), timeout=30)
                assert np.frombuffer(reply.data, np.float32).tolist() == [3.0, 4.0]
            with pytest.raises(grpc.RpcError) as refused:
                d.stub.ReadTensor(compute_pb2.ReadTensorRequest(
                    session=tcp_mgr._conn.session, tensor=tcp_tensor._handle), timeout=30)
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            np.testing.assert_array_equal(unix_tensor.data(), [1.0, 2.0])
    finally:
        d.cleanup()


def test_another_user_may_not_list_sessions(user, grouped):
    done = run_as(user, "import sys; from kp.kpctl import main; sys.exit(main(sys.argv[1:]))",
                  "--address", grouped.address, "sessions")
    assert done.returncode == 1, done.stderr
    assert "ListSessions: only root and kpd's own user" in done.stderr, done.stderr
