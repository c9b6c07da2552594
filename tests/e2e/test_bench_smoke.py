"""bench/run --smoke in the test command, so the benchmark itself cannot rot: every benchmark
path runs once with tiny sizes and checks its results (not its times); and a value corrupted
on purpose (BENCH_SMOKE_CORRUPT) makes the smoke run fail, naming the path."""
from __future__ import annotations

import os
import subprocess
from typing import Dict, List

from conftest import KPD, REPO

# Every step of bench/run --smoke. The in-process Kompute steps run where bench/kompute_anchor
# has built it (build/kompute-venv) and are named as skipped elsewhere.
STEPS = [
    "saxpy engine", "saxpy python-daemon",
    "small-eval engine", "small-eval kompute-inprocess", "small-eval python-shm",
    "small-eval python-socket", "small-eval python-tcp", "small-eval unix-pingpong",
    "small-eval cpp-shm", "small-eval cpp-socket", "small-eval cpp-tcp",
    "create kompute-inprocess", "create python-shm", "create python-socket",
    "round-trip engine", "round-trip kompute-inprocess", "round-trip python-shm",
    "round-trip python-unix-stream", "round-trip python-tcp-stream", "round-trip cpp-tcp-stream",
    "round-trip tcp-loopback", "clients 1", "clients 2", "report", "figure",
]
KOMPUTE_STEPS = {s for s in STEPS if s.endswith("kompute-inprocess")}


def smoke(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.path.join(REPO, "bench", "run"), "--smoke"],
        env={**os.environ, "BENCH_SETUP": "0", "KPD": KPD, **env},
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )


def summary(stderr: str) -> Dict[str, List[str]]:
    """The summary's lists: {"passed": [...], "skipped": [...], "FAILED": [...]}."""
    lists: Dict[str, List[str]] = {"passed": [], "skipped": [], "FAILED": []}
    for line in stderr.splitlines():
        for key in lists:
            if line.startswith(f"smoke: {key}: "):
                lists[key] = line[len(f"smoke: {key}: "):].split(", ")
    return lists


def test_smoke_runs_every_benchmark_path_and_checks_results():
    result = smoke()
    assert result.returncode == 0, result.stderr[-6000:]
    lists = summary(result.stderr)
    skipped = {item.split(" (")[0] for item in lists["skipped"]}
    assert not lists["FAILED"]
    for step in STEPS:
        if step in KOMPUTE_STEPS and step in skipped:
            continue  # Kompute not built on this machine: named, with why
        assert step in lists["passed"], f"{step} not among the passed steps:\n{result.stderr}"
    assert skipped <= KOMPUTE_STEPS, result.stderr
    # The rows carry no times here that anything checks; nothing was written under bench/.
    assert "smoke: " + f"{len(lists['passed'])} passed, 0 failed" in result.stderr


def test_smoke_fails_naming_the_path_whose_result_is_wrong():
    result = smoke(BENCH_SMOKE_CORRUPT="python-shm")
    assert result.returncode != 0, result.stderr[-6000:]
    lists = summary(result.stderr)
    assert sorted(lists["FAILED"]) == [
        "create python-shm", "round-trip python-shm", "small-eval python-shm"], result.stderr
    assert "smoke: FAIL small-eval python-shm: exit 1: python_bench: small_eval python-shm: " \
           "wrong result: c = [2.0, 4.0, 7.5]" in result.stderr, result.stderr
    # Every other path still passed.
    assert "small-eval python-socket" in lists["passed"]
    assert "small-eval cpp-shm" in lists["passed"]
