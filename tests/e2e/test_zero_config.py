"""kp.Manager() with no address: the user's socket, else the system's, else a private kpd for
the process (started with one line saying so, stopped at exit); when nothing works, one clear
sentence saying what was tried and how to start kpd. Each case runs in a fresh Python process
whose environment it controls (KP_ADDRESS unset, XDG_RUNTIME_DIR a folder of the test's)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import KPD, Daemon

SYSTEM_SOCKET = "/run/kp/kpd.sock"

PROGRAM = """
import json, os, kp
mgr = kp.Manager()
t = mgr.tensor([1.0, 2.0, 3.0])
mgr.sequence().eval(kp.OpTensorSyncDevice([t])).eval(kp.OpTensorSyncLocal([t]))
spirv = kp.Shader.compile_source("#version 450\\nlayout(local_size_x = 1) in;\\nvoid main() {}\\n")
print(json.dumps({"address": mgr.address, "data": t.data().tolist(), "spirv": len(spirv)}))
"""


@pytest.fixture
def runtime_dir():
    path = tempfile.mkdtemp(prefix="kp-xdg-")
    yield path
    subprocess.run(["rm", "-rf", path])


def run(program: str, runtime: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("KP_ADDRESS", "KP_KPD")}
    environment.update(XDG_RUNTIME_DIR=runtime, **env)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          env=environment, timeout=120)


def no_system_daemon() -> None:
    if os.path.exists(SYSTEM_SOCKET):
        pytest.skip(f"{SYSTEM_SOCKET} exists on this machine: the cases need it absent")


def test_nothing_answers_one_sentence_says_what_was_tried_and_how_to_start(runtime_dir):
    no_system_daemon()
    done = run("import kp; kp.Manager()", runtime_dir, KP_AUTOSTART="0")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("kp._errors.UnavailableError: no kpd answered: tried "), last
    assert f"{runtime_dir}/kp/kpd.sock (no socket)" in last
    assert f"{SYSTEM_SOCKET} (no socket)" in last
    assert "KP_AUTOSTART=0 forbids starting one" in last
    assert "systemctl enable --now kpd.socket" in last and "kpd --listen" in last
    for internal in ("FAILED_PRECONDITION", "connect failed", "failed to connect to all"):
        assert internal not in last


def test_no_kpd_installed_is_said(runtime_dir):
    no_system_daemon()
    done = run("import kp; kp.Manager()", runtime_dir, PATH="/nonexistent",
               KP_KPD="/nonexistent/kpd")
    assert "no kpd binary is installed to start one" in done.stderr, done.stderr


def test_a_private_kpd_is_started_announced_and_stopped_at_exit(runtime_dir):
    no_system_daemon()
    done = run(PROGRAM, runtime_dir, KP_KPD=os.path.abspath(KPD))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["data"] == [1.0, 2.0, 3.0] and result["spirv"] > 20
    announcements = [line for line in done.stderr.splitlines() if "private kpd" in line]
    assert len(announcements) == 1, done.stderr  # one line, for the Manager and the compile
    match = re.search(r"started a private kpd \(pid (\d+)\) on unix:(\S+)/kpd\.sock",
                      announcements[0])
    assert match and result["address"] == f"unix:{match.group(2)}/kpd.sock", announcements
    assert "KP_AUTOSTART=0 turns this off" in announcements[0]
    pid, folder = int(match.group(1)), match.group(2)
    assert not os.path.exists(folder)  # removed at exit
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.05)  # (the daemon was waited for at exit: a zombie would be gone too)
    assert not os.path.exists(f"/proc/{pid}")


def test_the_users_socket_is_used_when_it_answers(runtime_dir):
    os.makedirs(os.path.join(runtime_dir, "kp"))
    socket_path = os.path.join(runtime_dir, "kp", "kpd.sock")
    d = Daemon()
    try:
        os.symlink(d.socket, socket_path)  # the user's kpd, where kp looks first
        done = run(PROGRAM, runtime_dir, KP_AUTOSTART="0")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["address"] == "unix:" + socket_path
        assert "private kpd" not in done.stderr
    finally:
        d.cleanup()


def test_a_stale_socket_is_named_and_skipped(runtime_dir):
    no_system_daemon()
    os.makedirs(os.path.join(runtime_dir, "kp"))
    stale = os.path.join(runtime_dir, "kp", "kpd.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(stale)  # a socket file nobody listens on (a kpd that died)
    done = run("import kp; kp.Manager()", runtime_dir, KP_AUTOSTART="0")
    assert f"{stale} (nothing is listening there (kpd is not running)" in done.stderr, done.stderr
    done = run(PROGRAM, runtime_dir, KP_KPD=os.path.abspath(KPD))
    assert done.returncode == 0, done.stderr
    assert "private kpd" in done.stderr


def test_an_explicit_address_that_fails_is_told_in_words():
    done = subprocess.run(
        [sys.executable, "-c", "import kp; kp.Manager(address='unix:/nonexistent/kpd.sock')"],
        capture_output=True, text=True, timeout=60)
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("kp._errors.UnavailableError: cannot reach kpd at unix:/nonexistent/kpd.sock: "
                    "there is no socket at /nonexistent/kpd.sock; start one with `kpd --listen "
                    "unix:/nonexistent/kpd.sock` (or: systemctl enable --now kpd.socket)"), last
