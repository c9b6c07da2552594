"""The Python distribution as a user gets it: `python -m build` makes an sdist and, from that
sdist, a wheel named `kpd-client` (import name `kp`) whose stubs come from the oldest
grpcio-tools kp supports; the wheel installs into fresh virtual environments with the oldest
and with the newest supported Python, grpcio, protobuf and numpy, and evaluates there against
a real kpd, through the import and through the `kpctl` console script.

Needs the package index (CI has it). The oldest and newest interpreters are python3.9 and
python3.13 where the machine has them (pyenv does here); otherwise the test says which it used.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from typing import Dict, Iterator, List

import pytest

from conftest import MULTIPLY_GLSL, MULTIPLY_PROGRAM, Daemon
from distribution import Built, build_distribution, install_wheel

# The oldest supported releases, with the oldest numpy that has wheels for each Python that
# may stand in for the oldest supported one (3.9).
OLDEST_GRPC = ["grpcio==1.51.3", "protobuf==4.21.6"]
OLDEST_NUMPY = {"3.9": "1.21.0", "3.10": "1.21.6", "3.11": "1.23.2"}
NEWEST = ["--upgrade", "grpcio", "protobuf", "numpy"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_distribution(str(tmp_path_factory.mktemp("dist")))


def wheel_metadata(wheel: str) -> Dict[str, List[str]]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(name).decode())
    fields: Dict[str, List[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields


def test_the_distribution_has_a_name_of_its_own_and_imports_as_kp(built: Built) -> None:
    fields = wheel_metadata(built.wheel)
    assert fields["Name"] == ["kpd-client"]  # `kp` on the public index is Kompute's
    assert fields["Requires-Python"] == [">=3.9"]
    requires = sorted(fields["Requires-Dist"])
    assert requires == ["grpcio>=1.51.3", "numpy>=1.21", "protobuf<8,>=4.21.6"], requires
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
        assert {"kp/__init__.py", "kp/py.typed", "kp/legacy/__init__.py", "kp/v1/compute_pb2.py",
                "kp/v1/compute_pb2.pyi", "kp/v1/compute_pb2_grpc.py",
                "kp/v1/local_pb2.py", "kp/v1/types_pb2.py"} <= names
        entry_points = next(archive.read(n).decode() for n in names
                            if n.endswith("entry_points.txt"))
        stub = archive.read("kp/v1/compute_pb2.py").decode()
        grpc_stub = archive.read("kp/v1/compute_pb2_grpc.py").decode()
    assert "kpctl = kp.kpctl:main" in entry_points
    # Stubs of the oldest generator: no runtime-version gate (protobuf >= 5.26 writes one,
    # grpcio-tools >= 1.63 another), so older runtimes import them.
    assert "_runtime_version" not in stub
    assert "GRPC_GENERATED_VERSION" not in grpc_stub


def test_the_sdist_carries_the_protocol_and_nothing_built(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        names = [n.split("/", 1)[1] for n in archive.getnames() if "/" in n]
    for proto in ("proto/kp/v1/compute.proto", "proto/kp/v1/types.proto",
                  "proto/kp/v1/local.proto"):
        assert proto in names
    assert {"setup.py", "pyproject.toml", "README.md", "client-python/kp/py.typed"} <= set(names)
    assert not [n for n in names if n.endswith(("_pb2.py", ".so", ".o")) or
                n.startswith(("build/", ".venv/"))]


def interpreter(version: str) -> str:
    """python<version> from PATH, pyenv's versions or /usr/bin; else this test's own Python."""
    candidates = [shutil.which(f"python{version}"), f"/usr/bin/python{version}"]
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    if os.path.isdir(os.path.join(pyenv, "versions")):
        candidates += [os.path.join(pyenv, "versions", v, "bin", f"python{version}")
                       for v in sorted(os.listdir(os.path.join(pyenv, "versions")))
                       if v == version or v.startswith(version + ".")]
    for found in filter(None, candidates):
        if os.access(found, os.X_OK) and subprocess.run(
                [found, "-c", "import venv"], capture_output=True).returncode == 0:
            return found
    print(f"python{version} is not on this machine: using {sys.executable} "
          f"({sys.version.split()[0]}) for that environment")
    return sys.executable


def minor_version(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def daemon_for_wheels() -> Iterator[Daemon]:
    daemon = Daemon()
    yield daemon
    daemon.stop()


@pytest.mark.slow
@pytest.mark.parametrize("python,oldest", [("3.9", True), ("3.13", False)],
                         ids=["oldest", "newest"])
def test_the_wheel_installs_and_evaluates(built: Built, daemon_for_wheels: Daemon,
                                          tmp_path, python: str, oldest: bool) -> None:
    base = interpreter(python)
    pins = NEWEST
    if oldest:
        numpy = OLDEST_NUMPY.get(minor_version(base))
        assert numpy, f"no oldest-numpy pin for Python {minor_version(base)}: add one"
        pins = OLDEST_GRPC + [f"numpy=={numpy}"]
    bin_dir = install_wheel(base, str(tmp_path / "venv"), built.wheel, pins)
    versions = subprocess.run(
        [os.path.join(bin_dir, "python"), "-c",
         "import sys, grpc, google.protobuf, numpy; print(sys.version.split()[0], "
         "grpc.__version__, google.protobuf.__version__, numpy.__version__)"],
        capture_output=True, text=True, check=True).stdout.split()
    print(f"{python}: python {versions[0]}, grpcio {versions[1]}, protobuf {versions[2]}, "
          f"numpy {versions[3]}")
    if oldest:
        assert versions[1:] == ["1.51.3", "4.21.6", pins[-1].split("==")[1]]

    env = {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    # Outside the source tree, so that only the installed wheel can be imported.
    done = subprocess.run([os.path.join(bin_dir, "python"), "-c", MULTIPLY_PROGRAM,
                           daemon_for_wheels.address, MULTIPLY_GLSL],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == {"shared_memory": True, "result": [4, 10, 18]}

    status = subprocess.run([os.path.join(bin_dir, "kpctl"), "--address",
                             daemon_for_wheels.address, "--json", "status"],
                            capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                            env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["address"] == daemon_for_wheels.address
