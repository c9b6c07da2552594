"""The Go client example (examples/go): its kp.v1 code is generated from proto/ with protoc and
the pinned plugins (examples/go/generate installs them into examples/go/.tools if missing), the
program is built with `go build` and run against a real kpd: it must print the product and
exit 0. Skipped when Go is not installed."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import REPO

EXAMPLE = os.path.join(REPO, "examples", "go")


def go_binary() -> str:
    found = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.access(found, os.X_OK):
        pytest.skip("Go is not installed (no `go` on PATH nor /usr/local/go/bin/go): the Go "
                    "client example cannot be built")
    return found


def go_env(go: str) -> dict:
    """The environment for go and ./generate: this go first on PATH, and -mod=mod added to the
    user's GOFLAGS (so that a missing go.sum line is fetched rather than an error)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(go) + os.pathsep + env.get("PATH", "")
    flags = subprocess.run([go, "env", "GOFLAGS"], capture_output=True, text=True, env=env)
    env["GOFLAGS"] = (flags.stdout.strip() + " -mod=mod").strip()
    return env


def run(args, env, timeout=600, cwd=EXAMPLE) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def go_example(tmp_path_factory) -> str:
    """The example program, generated and built: the path of its binary."""
    go = go_binary()
    env = go_env(go)
    generated = run([os.path.join(EXAMPLE, "generate")], env)
    assert generated.returncode == 0, f"examples/go/generate failed:\n{generated.stderr}"
    binary = str(tmp_path_factory.mktemp("go") / "kp-multiply")
    built = run([go, "build", "-o", binary, "."], env)
    assert built.returncode == 0, f"go build failed:\n{built.stdout}{built.stderr}"
    return binary


def test_go_example_multiplies_on_kpd(go_example, private_daemon):
    done = run([go_example, "-address", private_daemon.address], dict(os.environ), timeout=120)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\nkpd:\n{private_daemon.log()}"
    lines = done.stdout.splitlines()
    assert lines[0].startswith("session #"), done.stdout
    assert "[2 4 6 8] * [0 1 2 3] = [0 4 12 24]" in lines, done.stdout
    assert lines[-1] == "session closed: closed by the client", done.stdout
    # It went through kpd: the session was opened under the example's name, and is gone.
    assert "(go kp-multiply)" in private_daemon.log()
    assert private_daemon.status().sessions == 0


def test_go_example_takes_the_address_from_the_environment(go_example, private_daemon):
    env = dict(os.environ, KP_ADDRESS=private_daemon.address)
    done = run([go_example], env, timeout=120)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"
    assert "[2 4 6 8] * [0 1 2 3] = [0 4 12 24]" in done.stdout.splitlines()


def test_go_example_fails_without_a_daemon(go_example, tmp_path):
    done = run([go_example, "-address", f"unix:{tmp_path}/none.sock"], dict(os.environ),
               timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("kp-multiply: OpenSession on unix:"), done.stderr
    assert "Unavailable" in done.stderr
