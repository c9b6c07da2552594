"""End-to-end fixtures: a real kpd process on a private socket, and kp Managers on it."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Iterator

import grpc
import pytest

import kp
from kp.v1 import compute_pb2, compute_pb2_grpc

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KPD = os.environ.get("KPD_BINARY", os.path.join(REPO, "build", "server", "kpd"))
SHADER_DIR = os.environ.get("KP_SHADER_DIR", os.path.join(REPO, "build", "shaders"))


class Daemon:
    """A kpd process serving a private Unix socket."""

    def __init__(self, *args: str, tcp: bool = False):
        if not os.path.exists(KPD):
            pytest.fail(f"kpd binary not found at {KPD}: build first (scripts/setup)")
        self.dir = tempfile.mkdtemp(prefix="kp-e2e-")
        self.socket = os.path.join(self.dir, "kpd.sock")
        self.address = "unix:" + self.socket
        self.log_path = os.path.join(self.dir, "kpd.log")
        self._log = open(self.log_path, "w")
        tcp_args = ["--listen", "127.0.0.1:0"] if tcp else []
        self.process = subprocess.Popen(
            [KPD, "--listen", self.address, *tcp_args, "--log-level", "info", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        # The socket file appears a moment before kpd accepts: wait for a real connection.
        deadline = time.time() + 20
        while not self._accepts():
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"kpd did not start:\n{self.log()}")
            time.sleep(0.02)
        # "listening on 127.0.0.1:PORT" in the log gives the TCP port kpd picked.
        self.tcp_address = None
        while tcp and self.tcp_address is None:
            match = re.search(r"listening on (127\.0\.0\.1:\d+)", self.log())
            if match:
                self.tcp_address = match.group(1)
            elif self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"kpd did not listen on TCP:\n{self.log()}")
            else:
                time.sleep(0.02)
        self.channel = grpc.insecure_channel(self.address)
        self.stub = compute_pb2_grpc.ComputeStub(self.channel)

    def _accepts(self) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def status(self) -> compute_pb2.GetStatusResponse:
        return self.stub.GetStatus(compute_pb2.GetStatusRequest(), timeout=10)

    def allocated_bytes(self) -> int:
        return sum(m.allocated_bytes for m in self.status().device_memory)

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.channel.close()
        self._log.close()
        return self.process.returncode

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    """The kpd shared by the tests that do not need a private one."""
    d = Daemon()
    yield d
    code = d.stop()
    assert code == 0, f"kpd exited with {code}:\n{d.log()}"
    shutil.rmtree(d.dir, ignore_errors=True)


@pytest.fixture
def private_daemon() -> Iterator[Daemon]:
    """A kpd of the test's own (for tests that kill or restart it)."""
    d = Daemon()
    yield d
    d.cleanup()


@pytest.fixture(params=["shared-memory", "socket"])
def mgr(daemon: Daemon, request: pytest.FixtureRequest) -> Iterator[kp.Manager]:
    """A Manager on the shared daemon, once with each data path: host copies in memory
    shared with the daemon (the local fast path), and host copies sent over the socket."""
    shared = request.param == "shared-memory"
    m = kp.Manager(address=daemon.address, shared_memory=shared)
    assert m.shared_memory == shared
    yield m
    m.destroy()


def spirv(name: str) -> bytes:
    """SPIR-V of a shader of shaders/, as built by CMake."""
    with open(os.path.join(SHADER_DIR, name + ".spv"), "rb") as f:
        return f.read()


def compile_glsl(daemon: Daemon, source: str) -> bytes:
    """GLSL -> SPIR-V through the daemon's CompileShader."""
    return daemon.stub.CompileShader(compute_pb2.CompileShaderRequest(glsl=source)).spirv


MULTIPLY_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float result[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    result[i] = lhs[i] * rhs[i];
}
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long test (runs in CI while it fits the budget)")
