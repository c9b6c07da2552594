"""End-to-end fixtures: a real kpd process on a private socket, and kp Managers on it."""
from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Dict, Iterator, List, Optional, Sequence

import grpc
import pytest

import kp
from kp.v1 import compute_pb2, compute_pb2_grpc

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KPD = os.environ.get("KPD_BINARY", os.path.join(REPO, "build", "server", "kpd"))
SHADER_DIR = os.environ.get("KP_SHADER_DIR", os.path.join(REPO, "build", "shaders"))


def as_user(uid: int, gid: int, groups: Sequence[int] = ()) -> List[str]:
    """A command prefix running the rest as uid:gid with the supplementary `groups` (setpriv).
    Dropping privileges in the child itself (subprocess's user=, group=) makes Python fork this
    multi-threaded process (gRPC's and numpy's threads) and run their fork handlers in the child,
    which can crash it before it executes anything; with the prefix the child is spawned
    without them."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}",
            f"--groups={','.join(str(g) for g in groups)}" if groups else "--clear-groups", "--"]


class Daemon:
    """A kpd process serving a private Unix socket (unless unix=False) and the TCP addresses
    `tcp` ("127.0.0.1:0" picks a free port; the chosen ones are in `tcp_addresses`).
    `token`: the bearer token this object's own calls (status() ...) carry. `prefix`: a command
    kpd runs under (["prlimit", "--nofile=64", "--"]); `user`: runs kpd as that user (an
    object with uid and gid, root only); `env`: variables added to kpd's environment (e.g.
    two_lavapipe_devices())."""

    def __init__(
        self,
        *args: str,
        tcp: Sequence[str] = (),
        unix: bool = True,
        token: Optional[str] = None,
        umask: Optional[int] = None,
        prefix: Sequence[str] = (),
        user=None,
        env: Optional[Dict[str, str]] = None,
    ):
        if not os.path.exists(KPD):
            pytest.fail(f"kpd binary not found at {KPD}: build first (scripts/setup)")
        self.dir = tempfile.mkdtemp(prefix="kp-e2e-")
        self.socket = os.path.join(self.dir, "kpd.sock")
        self.address = "unix:" + self.socket
        self.log_path = os.path.join(self.dir, "kpd.log")
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._log = open(self.log_path, "w")
        listen = (["--listen", self.address] if unix else []) + [
            arg for address in tcp for arg in ("--listen", address)
        ]
        if user is not None:
            os.chown(self.dir, user.uid, user.gid)
        run_as = as_user(user.uid, user.gid) if user is not None else []
        self.process = subprocess.Popen(
            [*run_as, *prefix, KPD, *listen, "--log-level", "info", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
            env={**os.environ, **env} if env else None,
        )
        # Ready once it logged "listening on ..." for every address.
        expected = (1 if unix else 0) + len(tcp)
        deadline = time.time() + 20
        while len(self._listening()) < expected:
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"kpd did not start:\n{self.log()}")
            time.sleep(0.02)
        self.tcp_addresses = [a for a in self._listening() if not a.startswith("unix:")]
        self.channel = grpc.insecure_channel(self.address if unix else self.tcp_addresses[0])
        self.stub = compute_pb2_grpc.ComputeStub(self.channel)

    def _listening(self) -> List[str]:
        return re.findall(r"listening on (\S+) \(", self.log())

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def status(self) -> compute_pb2.GetStatusResponse:
        return self.stub.GetStatus(
            compute_pb2.GetStatusRequest(), timeout=10, metadata=self.metadata
        )

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

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_kpd(*args: str, timeout: float = 30,
            env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Runs kpd expecting it to exit by itself (a refused configuration): its exit code and
    output. A kpd that starts serving instead is stopped, and the test fails. `env`: variables
    added to its environment."""
    process = subprocess.Popen(
        [KPD, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **env} if env else None,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"kpd {' '.join(args)} kept running:\n{output}")
    return subprocess.CompletedProcess(process.args, process.returncode, output)


LAVAPIPE_ICD = f"/usr/share/vulkan/icd.d/lvp_icd.{platform.machine()}.json"


def two_lavapipe_devices(directory: str) -> Dict[str, str]:
    """The environment of a kpd that sees two Vulkan devices on any machine: lavapipe's ICD
    manifest twice (two copies in `directory`) in VK_ICD_FILENAMES, so the loader opens it as two
    drivers, each with a device of its own (devices 0 and 1, independent of each other). Skips
    the test, saying why, where lavapipe is not installed."""
    if not os.path.exists(LAVAPIPE_ICD):
        pytest.skip(f"two devices need lavapipe's ICD manifest ({LAVAPIPE_ICD}, package "
                    "mesa-vulkan-drivers), which is not installed")
    copies = []
    for name in ("a", "b"):
        copy = os.path.join(directory, f"lvp_icd_{name}.json")
        shutil.copyfile(LAVAPIPE_ICD, copy)
        copies.append(copy)
    return {"VK_ICD_FILENAMES": ":".join(copies)}


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    """The kpd shared by the tests that do not need a private one: a Unix socket, and a
    loopback TCP port (d.tcp_addresses[0])."""
    d = Daemon(tcp=["127.0.0.1:0"])
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


TRANSPORTS = ["shared-memory", "socket", "tcp"]


def manager_on(daemon: Daemon, transport: str) -> kp.Manager:
    """A Manager on `daemon` over `transport`: host copies in memory shared with the daemon
    (the local fast path), host copies sent over the Unix socket, or over loopback TCP."""
    if transport == "tcp":
        m = kp.Manager(address=daemon.tcp_addresses[0])
    else:
        m = kp.Manager(address=daemon.address, shared_memory=transport == "shared-memory")
    assert m.shared_memory == (transport == "shared-memory")
    return m


@pytest.fixture(params=TRANSPORTS)
def mgr(daemon: Daemon, request: pytest.FixtureRequest) -> Iterator[kp.Manager]:
    """A Manager on the shared daemon, once on each transport (TRANSPORTS): every API test
    must give the same answer on all three."""
    m = manager_on(daemon, request.param)
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

@pytest.fixture(scope="session")
def wheel_python() -> Iterator[str]:
    """A Python every user can run, with the `kp` package as a user gets it: Debian's
    /usr/bin/python3 and a virtual environment holding the `kpd-client` wheel built from this
    tree, in a folder every user can read (as a system-wide install would be). For tests that
    run a client as another user (this test's own interpreter may sit in a folder only its
    owner can enter, such as pyenv's under /root)."""
    from distribution import build_distribution, install_wheel

    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("needs Debian's /usr/bin/python3 (package python3)")
    folder = tempfile.mkdtemp(prefix="kp-wheel-")
    os.chmod(folder, 0o755)
    try:
        built = build_distribution(folder)
        yield os.path.join(install_wheel("/usr/bin/python3", os.path.join(folder, "venv"),
                                         built.wheel, []), "python")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# A program multiplying [1, 2, 3] by [4, 5, 6] through kpd at argv[1] with the shader source
# argv[2] (MULTIPLY_GLSL): prints {"shared_memory": ..., "result": [...]} as JSON. For tests
# that run it as another user or in another process.
MULTIPLY_PROGRAM = """
import json, sys
import kp
with kp.Manager(address=sys.argv[1]) as mgr:
    a, b, c = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([a, b, c], sys.argv[2])
    (mgr.sequence().record(kp.OpTensorSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo))
        .record(kp.OpTensorSyncLocal([c])).eval())
    print(json.dumps({"shared_memory": mgr.shared_memory, "result": c.data().tolist()}))
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long test (runs in CI while it fits the budget)")
