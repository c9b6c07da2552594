"""The kp.v1 contract's checks (scripts/proto-check, buf from npm): proto/ passes buf lint with
proto/buf.yaml's rules and has no breaking change against the last release's image
(proto/releases/); and the check does catch one: a copy of proto/ with a field removed, or a
field's type changed, fails naming the field. Skipped when npm (which installs buf) is
missing."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import REPO

PROTO_CHECK = os.path.join(REPO, "scripts", "proto-check")
RELEASE = os.path.join(REPO, "proto", "releases", "v0.1.0.binpb")


def proto_check(*args: str) -> subprocess.CompletedProcess:
    if not os.environ.get("KP_BUF") and not shutil.which("npm"):
        pytest.skip("npm is not installed: scripts/proto-check installs buf (@bufbuild/buf) "
                    "with it (or set KP_BUF to a buf binary)")
    done = subprocess.run([PROTO_CHECK, *args], capture_output=True, text=True, timeout=300)
    if done.returncode == 3:
        pytest.skip(f"scripts/proto-check has no buf: {done.stderr.strip()[-500:]}")
    return done


def test_proto_passes_lint_and_has_no_breaking_change_against_the_release():
    assert os.path.exists(RELEASE), "the last release's image is committed"
    done = proto_check()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "proto-check: lint ok" in done.stdout
    assert "--against proto/releases/v0.1.0.binpb" in done.stdout
    assert "proto-check: no breaking change" in done.stdout


# (what the copy changes in compute.proto, into what, the finding buf must print)
CHANGES = {
    "field removed": (
        "  DataType data_type = 2;\n  // Memory placement",
        "  // Memory placement",
        'Previously present field "2" with name "data_type" on message "CreateTensorRequest" '
        "was deleted.",
    ),
    "field type changed": (
        "  uint64 size = 4;\n  // Initial contents",
        "  uint32 size = 4;\n  // Initial contents",
        'Field "4" with name "size" on message "CreateTensorRequest" changed type from "uint64" '
        'to "uint32".',
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_breaking_check_reports_a_changed_field(change, tmp_path):
    old, new, finding = CHANGES[change]
    copy = tmp_path / "proto"
    shutil.copytree(os.path.join(REPO, "proto"), copy)
    compute = copy / "kp" / "v1" / "compute.proto"
    text = compute.read_text()
    assert text.count(old) == 1, f"compute.proto no longer has {old!r}: update this test"
    compute.write_text(text.replace(old, new))

    done = proto_check(str(copy))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "proto-check: lint ok" in done.stdout  # still well-formed: only the contract broke
    assert finding in done.stdout, done.stdout
    assert "proto-check: breaking changes against proto/releases/v0.1.0.binpb" in done.stdout
