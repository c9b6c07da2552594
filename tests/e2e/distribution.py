"""Builds the Python distribution as a release would, and installs its wheel into a fresh
virtual environment (used by the distribution and the Debian-package tests)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import List, NamedTuple

from conftest import REPO


class Built(NamedTuple):
    sdist: str
    wheel: str


def build_distribution(out: str) -> Built:
    """`python -m build` on a copy of the tracked sources (what a clean clone has): the sdist
    first, then the wheel built from that sdist, both into `out`."""
    source = os.path.join(out, "source")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if os.path.isfile(os.path.join(REPO, name)):
            os.makedirs(os.path.dirname(os.path.join(source, name)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, name), os.path.join(source, name))
    try:
        import build  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "build"], check=True)
    dist = os.path.join(out, "dist")
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", dist, source],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    names = sorted(os.listdir(dist))
    sdists = [n for n in names if n.endswith(".tar.gz")]
    wheels = [n for n in names if n.endswith(".whl")]
    assert len(sdists) == 1 and len(wheels) == 1, names
    return Built(os.path.join(dist, sdists[0]), os.path.join(dist, wheels[0]))


def install_wheel(python: str, venv: str, wheel: str, requirements: List[str]) -> str:
    """A new virtual environment of `python` at `venv` with `wheel` and `requirements`
    installed from the package index; returns its bin folder."""
    subprocess.run([python, "-m", "venv", venv], check=True)
    bin_dir = os.path.join(venv, "bin")
    done = subprocess.run([os.path.join(bin_dir, "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", *requirements, wheel],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return bin_dir
