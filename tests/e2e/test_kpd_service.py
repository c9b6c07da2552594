"""kpd as a service: --version, the configuration file, log priorities for the journal, socket
activation (systemd-socket-activate plays systemd's part: the first client starts kpd) and the
service watchdog's notifications."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List

import pytest

import kp
from conftest import KPD, REPO, Daemon, run_kpd

ACTIVATE = shutil.which("systemd-socket-activate")
needs_activate = pytest.mark.skipif(
    ACTIVATE is None, reason="systemd-socket-activate is not installed (Debian package systemd; "
    "scripts/setup installs it)")


def test_version_names_the_release_and_the_commit():
    result = run_kpd("--version")
    assert result.returncode == 0, result.stdout
    match = re.fullmatch(r"kpd (\d+\.\d+\.\d+) \(git ([0-9a-f]{12}|unknown)(, modified)?\)\n",
                         result.stdout)
    assert match, result.stdout
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        assert f"project(kp VERSION {match.group(1)} " in f.read()
    if match.group(2) != "unknown":  # a commit of this repository
        found = subprocess.run(["git", "-C", REPO, "cat-file", "-e", match.group(2) + "^{commit}"])
        assert found.returncode == 0, f"{match.group(2)} is not a commit here"


def write_config(text: str) -> str:
    handle, path = tempfile.mkstemp(prefix="kpd-", suffix=".conf")
    with os.fdopen(handle, "w") as f:
        f.write(text)
    return path


def open_managers(address: str, count: int) -> List[kp.Manager]:
    managers = []
    for _ in range(count):
        managers.append(kp.Manager(address=address))
    return managers


def test_config_file_sets_flags_and_the_command_line_wins():
    config = write_config("# kpd settings\nmax-sessions = 1\nlease-seconds = 60\n")
    try:
        d = Daemon("--config", config)
        try:
            first = kp.Manager(address=d.address)
            with pytest.raises(kp.ResourceExhaustedError, match="sessions"):
                kp.Manager(address=d.address)
            first.destroy()
        finally:
            d.cleanup()
        d = Daemon("--config", config, "--max-sessions", "2")
        try:
            managers = open_managers(d.address, 2)
            assert all(m.get_device_properties()["device_name"] for m in managers)
            for m in managers:
                m.destroy()
        finally:
            d.cleanup()
    finally:
        os.unlink(config)


def test_unknown_config_setting_fails_start_up_naming_it():
    config = write_config("max-sessions = 4\nmax-sesions = 4\n")
    try:
        result = run_kpd("--config", config, "--list-devices")
        assert result.returncode != 0
        assert f"configuration file {config}: unknown setting 'max-sesions'" in result.stdout
    finally:
        os.unlink(config)


def test_missing_config_file_named_on_the_command_line_fails():
    result = run_kpd("--config", "/nonexistent/kpd.conf", "--list-devices")
    assert result.returncode != 0
    assert "/nonexistent/kpd.conf" in result.stdout


def test_journal_gets_syslog_priorities(monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")  # what systemd sets for the journal
    d = Daemon("--runaway-ms", "0")
    try:
        lines = d.log().splitlines()
        assert any(re.match(r"<6>info: listening on unix:", line) for line in lines), lines
        assert any(line.startswith("<4>warning: runaway work: devices are never reset")
                   for line in lines), lines
        assert all(re.match(r"<[2-7]>\w+: ", line) for line in lines), lines
    finally:
        d.cleanup()


@pytest.fixture
def folder():
    path = tempfile.mkdtemp(prefix="kp-activation-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_for_text(path: str, text: str, timeout: float = 20) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path) as f:
            content = f.read()
        if text in content:
            return content
        time.sleep(0.02)
    with open(path) as f:
        return f.read()


def activate(folder: str, *options: str):
    """systemd-socket-activate listening on FOLDER/kpd.sock, to start kpd on the first
    connection: the socket's path, the log's path and the process (kpd once started)."""
    sock, log = os.path.join(folder, "kpd.sock"), os.path.join(folder, "log")
    with open(log, "w") as out:
        process = subprocess.Popen([ACTIVATE, *options, "-l", sock, KPD, "--log-level", "info"],
                                   stdout=out, stderr=subprocess.STDOUT)
    return sock, log, process


@needs_activate
def test_socket_activation_the_first_client_starts_kpd(folder):
    sock, log, process = activate(folder)
    try:
        assert "Listening on" in wait_for_text(log, "Listening on")
        assert "kpd:" not in wait_for_text(log, "Listening on")  # kpd has not started yet
        mgr = kp.Manager(address="unix:" + sock)  # this connection starts kpd
        t = mgr.tensor([1.0, 2.0, 3.0])
        mgr.sequence().eval(kp.OpTensorSyncDevice([t])).eval(kp.OpTensorSyncLocal([t]))
        assert t.data().tolist() == [1.0, 2.0, 3.0]
        mgr.destroy()
        content = wait_for_text(log, "(passed by systemd)")
        assert f"listening on unix:{sock} (passed by systemd)" in content, content
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        # The socket belongs to systemd: it stays for the next start.
        assert os.path.exists(sock)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@needs_activate
def test_socket_activation_with_a_datagram_socket_is_refused(folder):
    sock, log, process = activate(folder, "--datagram")
    try:
        wait_for_text(log, "Listening on")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(b"hello", sock)  # starts kpd
        assert process.wait(timeout=30) == 1
        with open(log) as f:
            content = f.read()
        assert ("socket activation: descriptor 3 is not a listening Unix stream socket"
                in content), content
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_watchdog_is_pinged_while_serving(monkeypatch, folder):
    path = os.path.join(folder, "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(path)
        notify.settimeout(20)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "200000")  # WatchdogSec=0.2: a ping every 0.1 s
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        d = Daemon()
        try:
            messages = [notify.recv(4096).decode() for _ in range(4)]
            assert messages[0] == "READY=1", messages
            assert messages[1:] == ["WATCHDOG=1"] * 3, messages
            d.stop()
            rest = []
            while "STOPPING=1" not in rest:
                rest.append(notify.recv(4096).decode())
            assert set(rest) <= {"WATCHDOG=1", "STOPPING=1"}, rest
        finally:
            d.cleanup()
