"""Connections built to exhaust the daemon, on its local data socket: frames that announce
hundreds of MiB and send nothing, connections that never attach, thousands of idle ones, a
daemon out of descriptors. Each costs kpd a bounded amount, is refused or closed with a log
line, and kpd keeps serving everyone else with correct results; its memory, threads and
descriptors come back to their baseline."""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, Daemon
from test_hostile_shaders import GRPC_THREAD_SLACK, Process, baseline, multiply_works
from test_hostile_shaders import assert_back_to as back_to
from kp.v1 import compute_pb2, local_pb2


def data_socket(d: Daemon) -> str:
    return d.socket + ".data"


def connect(d: Daemon) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(data_socket(d))
    return sock


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True if the daemon closes `sock` within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def assert_back_to(d: Daemon, before: dict) -> None:
    # A connection's descriptor may close a moment after its thread: one of slack.
    back_to(d, before, fd_slack=1, rss_slack_mib=32)


def test_announced_frames_allocate_nothing():
    d = Daemon("--local-attach-timeout-ms", "60000")
    try:
        multiply_works(d.address)
        before = baseline(d)
        # Attached connections may send frames up to --max-message-bytes (256 MiB): each
        # announces one and sends a single byte of it.
        with kp.Manager(address=d.address) as mgr:
            links = []
            for _ in range(4):
                sock = connect(d)
                attach = local_pb2.LocalRequest(
                    attach=local_pb2.AttachRequest(session=mgr._conn.session)).SerializeToString()
                sock.sendall(struct.pack("<I", len(attach)) + attach)
                length = struct.unpack("<I", sock.recv(4))[0]
                assert local_pb2.LocalResponse.FromString(sock.recv(length)).code == 0
                sock.sendall(struct.pack("<I", 250 << 20) + b"x")
                links.append(sock)
            assert d.wait_for(lambda: d.status().sessions >= 1)
            p = Process(d.process.pid)
            assert p.rss_mib() < before["rss"] + 32, (p.rss_mib(), before)
            multiply_works(d.address)
            for sock in links:
                sock.close()
        assert_back_to(d, before)
    finally:
        d.cleanup()


def test_before_attach_a_frame_is_small_and_the_attach_prompt():
    d = Daemon("--local-attach-timeout-ms", "500")
    try:
        multiply_works(d.address)
        before = baseline(d)
        big = connect(d)
        big.sendall(struct.pack("<I", 1 << 20))  # a 1 MiB frame before attaching
        assert closed_by_peer(big, 10)
        assert "sent a 1048576-byte frame (limit 4096); closing" in d.log()
        idle = [connect(d) for _ in range(20)]  # never attach
        slow = connect(d)
        slow.sendall(struct.pack("<I", 40))  # an attach frame, a byte at a time, too slowly
        for sock in idle + [slow]:
            assert closed_by_peer(sock, 10), "a connection that did not attach stayed open"
        for sock in idle + [slow, big]:
            sock.close()
        assert_back_to(d, before)
    finally:
        d.cleanup()


def test_connections_are_capped_in_all_and_per_user():
    d = Daemon("--max-local-connections", "40", "--max-local-connections-per-user", "30",
               "--local-attach-timeout-ms", "60000")
    try:
        multiply_works(d.address)
        # The Manager's own data connection may end a moment after it: wait for it to go, or
        # one of the 30 below would find the user's cap reached.
        assert d.wait_for(lambda: d.status().local_connections == 0)
        before = baseline(d)
        held = [connect(d) for _ in range(30)]
        refused = connect(d)  # the 31st of this user
        assert closed_by_peer(refused, 10)
        assert "(--max-local-connections-per-user)" in d.log()
        assert d.status().local_connections == 30
        p = Process(d.process.pid)
        assert p.threads() <= before["threads"] + 30 + GRPC_THREAD_SLACK, p.threads()
        # Another client of the same user cannot use shared memory now, but still computes.
        with kp.Manager(address=d.address) as mgr:
            assert not mgr.shared_memory
            t = mgr.tensor([1, 2, 3])
            mgr.sequence().record(kp.OpTensorSyncLocal([t])).eval()
            np.testing.assert_array_equal(t.data(), [1, 2, 3])
        for sock in held + [refused]:
            sock.close()
        assert_back_to(d, before)
        with kp.Manager(address=d.address) as mgr:
            assert mgr.shared_memory, "the connections were given back"
    finally:
        d.cleanup()


def test_out_of_descriptors_kpd_refuses_and_recovers():
    """kpd under a small RLIMIT_NOFILE, as systemd's LimitNOFILE sets it: connections beyond
    it are refused, and once they close, the accept loops serve again (they do not end)."""
    d = Daemon("--local-attach-timeout-ms", "60000")
    try:
        multiply_works(d.address)
        fds = Process(d.process.pid).descriptors()
        limit = fds + 8
        soft = subprocess.run(["prlimit", f"--pid={d.process.pid}", "--nofile", "--output=SOFT",
                               "--noheadings"], check=True, capture_output=True, text=True)
        subprocess.run(["prlimit", f"--pid={d.process.pid}", f"--nofile={limit}:"], check=True)
        held = []
        for _ in range(40):  # more than the descriptors left
            try:
                held.append(connect(d))
            except OSError:
                break
        assert d.wait_for(lambda: "accept failed: Too many open files" in d.log(), 10), d.log()
        for sock in held:
            sock.close()
        # Room again: both sockets accept, and a client computes with shared memory.
        assert d.wait_for(lambda: Process(d.process.pid).descriptors() < limit - 4, 10)
        subprocess.run(["prlimit", f"--pid={d.process.pid}", f"--nofile={soft.stdout.strip()}:"],
                       check=True)
        with kp.Manager(address=d.address) as mgr:
            assert mgr.shared_memory
        multiply_works(d.address)
        assert d.process.poll() is None
    finally:
        d.cleanup()


def test_a_daemon_that_does_not_answer_does_not_hang_the_client(tmp_path):
    """A data socket that accepts but never answers (a daemon stuck, or an impostor): the
    client's attach gives up after its timeout and the Manager carries on over gRPC."""
    d = Daemon()
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Swap the data socket for one that listens and never answers.
        os.unlink(data_socket(d))
        mute.bind(data_socket(d))
        mute.listen(16)
        code = ("import kp, sys; kp.log_level('warn'); m = kp.Manager(address=sys.argv[1]); "
                "print('shared' if m.shared_memory else 'grpc'); m.destroy()")
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-c", code, d.address], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "grpc"
        assert "no shared memory with kpd" in out.stderr
        assert time.monotonic() - started < 60
    finally:
        mute.close()
        d.cleanup()
