"""kpd under the limits an operator sets (systemd's LimitNOFILE and TasksMax, here with
prlimit): when it runs out of descriptors or threads it refuses what it cannot take, with an
error the client sees or a log line, and never crashes or hangs; once the load goes, it serves
correct results again with its descriptors and threads back where they were."""
from __future__ import annotations

import os
import shutil
import socket
import time
from typing import List

import pytest

import kp
from conftest import Daemon
from test_hostile_shaders import GRPC_THREAD_SLACK, Process, multiply_works
from test_identity import User, _prepare_user

pytestmark = pytest.mark.skipif(shutil.which("prlimit") is None,
                                reason="needs prlimit (util-linux)")


def flood(d: Daemon, limit: int, count_of) -> List[socket.socket]:
    """`limit` connections to the local data socket (never attached), each of which costs kpd a
    descriptor and a thread; returns once `count_of` (kpd's descriptors or threads) is within
    2 of `limit`. Those kpd cannot take wait in the socket's backlog or are closed."""
    links: List[socket.socket] = []
    for _ in range(limit):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(d.socket + ".data")
        links.append(sock)
    assert d.wait_for(lambda: count_of() >= limit - 2, 30), (count_of(), limit)
    return links


def starved_client_fails_cleanly(d: Daemon) -> None:
    """A client of a starved kpd gets an error (or falls back) in bounded time; kpd lives."""
    started = time.monotonic()
    try:
        multiply_works(d.address)
    except kp.KpError as e:
        assert time.monotonic() - started < 60, "the failure took too long"
        assert str(e), "an error without a message"
    assert d.process.poll() is None, d.log()[-3000:]


def test_out_of_descriptors():
    d = Daemon("--local-attach-timeout-ms", "120000", prefix=["prlimit", "--nofile=40:40", "--"])
    try:
        multiply_works(d.address)
        p = Process(d.process.pid)
        before = {"fds": p.descriptors(), "threads": p.threads()}
        links = flood(d, 40, p.descriptors)
        starved_client_fails_cleanly(d)
        for link in links:
            link.close()
        assert d.wait_for(lambda: p.descriptors() <= before["fds"] + 2, 30), p.descriptors()
        multiply_works(d.address)
        assert d.wait_for(lambda: p.threads() <= before["threads"] + GRPC_THREAD_SLACK, 30)
    finally:
        assert d.stop() == 0, d.log()[-3000:]
        d.cleanup()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: RLIMIT_NPROC binds only a non-root user")
def test_out_of_threads():
    user: User = _prepare_user()
    # RLIMIT_NPROC counts every thread of the user: kpd's own after its start, and a few more.
    d = Daemon("--local-attach-timeout-ms", "120000", prefix=["prlimit", "--nproc=64:64", "--"],
               user=user)
    try:
        multiply_works(d.address)
        p = Process(d.process.pid)
        before = {"fds": p.descriptors(), "threads": p.threads()}
        assert before["threads"] < 64
        links = flood(d, 64, p.threads)
        starved_client_fails_cleanly(d)
        assert "cannot start a thread" in d.log()
        for link in links:
            link.close()
        assert d.wait_for(lambda: p.threads() <= before["threads"] + GRPC_THREAD_SLACK, 30)
        multiply_works(d.address)
    finally:
        assert d.stop() == 0, d.log()[-3000:]
        d.cleanup()
