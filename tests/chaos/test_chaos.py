"""Chaos: a bounded loop of client processes computing known results while some are SIGKILLed
mid-call (mid-upload, mid-eval, mid-await), the daemon is restarted under them (SIGTERM, and
sometimes SIGKILL) and device faults are injected. Afterwards: every result a client reported
was right, no client hung, each SIGTERM ended kpd with exit code 0, and once the last
incarnation's clients are gone its memory (device memory, sessions, objects, RSS) is back to
its baseline. Prints the figures.

KP_CHAOS_SECONDS (default 6) sets how long each daemon incarnation runs its clients; the whole
test takes about 4.5 times that, plus start-up."""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

import grpc
import pytest

from kp.v1 import compute_pb2, compute_pb2_grpc

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
KPD = os.environ.get("KPD_BINARY", os.path.join(REPO, "build", "server", "kpd"))
CLIENT = os.path.join(HERE, "chaos_client.py")
sys.path.insert(0, HERE)
from chaos_client import digest, expected  # noqa: E402

SECONDS = float(os.environ.get("KP_CHAOS_SECONDS", "6"))
INCARNATIONS = 4  # the last one is not restarted: its memory is checked instead
CLIENTS = 4  # running at once
CLIENT_LIFETIME_S = 25  # a client that runs longer than this (plus grace) hung
RSS_SLACK = 32 << 20  # allocator fragmentation and caches may grow a little
MIB = 1 << 20


class ChaosDaemon:
    """kpd on a fixed socket path, so that clients can reconnect to its next incarnation."""

    def __init__(self, directory: str, number: int, faults: Optional[str]):
        self.socket = os.path.join(directory, "kpd.sock")
        self.address = "unix:" + self.socket
        self.log_path = os.path.join(directory, f"kpd-{number}.log")
        self.faults = faults
        args = [KPD, "--listen", self.address, "--drain-ms", "2000", "--log-level", "info"]
        if faults:
            args += ["--inject-fault", faults]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while "listening on" not in self.log():
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"kpd did not start:\n{self.log()}")
            time.sleep(0.02)
        self.channel = grpc.insecure_channel(self.address)
        self.stub = compute_pb2_grpc.ComputeStub(self.channel)

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def status(self) -> compute_pb2.GetStatusResponse:
        return self.stub.GetStatus(compute_pb2.GetStatusRequest(), timeout=10)

    def rss(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def faults_injected(self) -> int:
        return len(re.findall(r"fault injection: vk", self.log()))

    def stop(self, sig: int) -> Optional[int]:
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


class ChaosClient:
    """A chaos_client.py process and what it reported (a reader thread collects its lines)."""

    def __init__(self, address: str, seed: int, rounds: int):
        self.seed = seed
        self.started = time.monotonic()
        # stderr goes to a file: a pipe nobody reads while the client runs could fill up and
        # block it.
        self.errors = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, CLIENT, address, str(seed), str(rounds)],
            stdout=subprocess.PIPE, stderr=self.errors, text=True, bufsize=1,
        )
        self.lines: List[str] = []
        self.phase = threading.Condition()
        self.killed_in: Optional[str] = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.phase:
                self.lines.append(line.rstrip("\n"))
                self.phase.notify_all()
        with self.phase:
            self.phase.notify_all()

    def kill_in(self, phase: str, timeout: float) -> bool:
        """SIGKILLs the client as soon as it announces `phase` ("any": now). False if it did
        not get there within `timeout`, or had already exited."""
        deadline = time.monotonic() + timeout
        with self.phase:
            seen = len(self.lines)
            while phase != "any":
                if any(line == f"phase {phase}" for line in self.lines[seen:]):
                    break
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    return False
                self.phase.wait(left)
            if self.process.poll() is not None:
                return False
            self.process.kill()
            self.killed_in = phase
            return True

    def running(self) -> bool:
        return self.process.poll() is None

    def stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read()


def test_chaos():
    if not os.path.exists(KPD):
        pytest.fail(f"kpd binary not found at {KPD}: build first (scripts/setup)")
    rng = random.Random(int(os.environ.get("KP_CHAOS_SEED", str(int(time.time())))))
    directory = tempfile.mkdtemp(prefix="kp-chaos-")
    figures: Dict[str, int] = dict(
        clients=0, killed=0, restarts=0, sigterm=0, sigkill=0, verified=0, faults=0,
        ended=0, oom=0, gone=0, done=0)
    kills_by_phase: Dict[str, int] = {}
    clients: List[ChaosClient] = []
    daemon: Optional[ChaosDaemon] = None
    started = time.monotonic()
    passed = False
    try:
        for number in range(INCARNATIONS):
            last = number == INCARNATIONS - 1
            faults = None
            if not last and rng.random() < 0.75:
                faults = rng.choice([
                    f"device-lost-after={rng.randrange(40, 160)}",
                    f"device-lost-wait-after={rng.randrange(40, 160)}",
                    f"oom-every={rng.randrange(15, 40)}",
                ])
            daemon = ChaosDaemon(directory, number, faults)
            if last:
                # Baseline: after a wave of clients has warmed the daemon up (device, caches,
                # threads) and gone.
                warm = [ChaosClient(daemon.address, rng.randrange(1 << 30), 3)
                        for _ in range(CLIENTS)]
                for client in warm:
                    assert client.process.wait(timeout=60) == 0, client.stderr()
                figures["clients"] += len(warm)
                clients.extend(warm)
                assert wait_for(lambda: daemon.status().sessions == 0, 10)
                baseline = daemon.status()
                baseline_rss = trimmed_rss(daemon)
                assert baseline.objects == 0

            # Clients come and go; some are killed mid-call.
            until = time.monotonic() + SECONDS
            while time.monotonic() < until:
                live = [c for c in clients if c.running()]
                for _ in range(CLIENTS - len(live)):
                    clients.append(ChaosClient(daemon.address, rng.randrange(1 << 30),
                                               rng.randrange(3, 12)))
                    figures["clients"] += 1
                time.sleep(rng.uniform(0.1, 0.6))
                live = [c for c in clients if c.running()]
                if live and rng.random() < 0.5:
                    phase = rng.choice(["upload", "eval", "await", "any"])
                    if rng.choice(live).kill_in(phase, 2.0):
                        figures["killed"] += 1
                        kills_by_phase[phase] = kills_by_phase.get(phase, 0) + 1
                check_for_hangs(clients)

            if not last:
                # Restart under the running clients: they reconnect to the next incarnation
                # or stop; none may hang.
                sig = signal.SIGKILL if rng.random() < 0.3 else signal.SIGTERM
                stopping = time.monotonic()
                code = daemon.stop(sig)
                figures["faults"] += daemon.faults_injected()
                figures["restarts"] += 1
                if sig == signal.SIGTERM:
                    figures["sigterm"] += 1
                    assert code == 0, f"kpd exited with {code} on SIGTERM:\n{daemon.log()[-3000:]}"
                    assert time.monotonic() - stopping < 10, "SIGTERM took too long"
                else:
                    figures["sigkill"] += 1
                    assert code == -signal.SIGKILL
                continue

            # The last incarnation: no new clients; the running ones finish (or are killed).
            for client in clients:
                if client.running() and rng.random() < 0.3:
                    if client.kill_in(rng.choice(["upload", "eval", "await"]), 2.0):
                        figures["killed"] += 1
            deadline = time.monotonic() + CLIENT_LIFETIME_S
            while any(c.running() for c in clients) and time.monotonic() < deadline:
                time.sleep(0.1)
            check_for_hangs(clients, force=True)
            # Memory back to its baseline: a killed client's session is freed within 5 s.
            assert wait_for(lambda: daemon.status().sessions == 0, 5), daemon.status()
            assert wait_for(lambda: daemon.status().objects == 0, 5), daemon.status()
            assert wait_for(lambda: daemon.status().retired_devices == 0, 10), daemon.status()
            assert wait_for(lambda: memory(daemon.status()) == memory(baseline), 5), (
                daemon.status(), baseline)
            # kpd trims its heap after sessions end: RSS comes back within a reaper round.
            assert wait_for(lambda: daemon.rss() <= baseline_rss + RSS_SLACK, 10), (
                f"RSS grew from {baseline_rss / MIB:.0f} MiB to {daemon.rss() / MIB:.0f} MiB")
            rss = daemon.rss()
            assert rss <= baseline_rss + RSS_SLACK, (
                f"RSS grew from {baseline_rss / MIB:.0f} MiB to {rss / MIB:.0f} MiB")
            figures["rss_baseline_mib"] = round(baseline_rss / MIB)
            figures["rss_after_mib"] = round(rss / MIB)
            code = daemon.stop(signal.SIGTERM)
            figures["faults"] += daemon.faults_injected()
            assert code == 0, daemon.log()[-3000:]
            daemon = None

        # Every result a client reported is right; no client failed in another way.
        for client in clients:
            client.reader.join(10)
            stderr = client.stderr()
            if client.killed_in is None:
                assert client.process.returncode == 0, (
                    f"client {client.seed} exited with {client.process.returncode}:\n"
                    + "\n".join(client.lines[-10:]) + "\n" + stderr)
            for line in client.lines:
                words = line.split()
                if words[0] == "wrong":
                    pytest.fail(f"client {client.seed} computed a wrong result: {line}")
                if words[0] == "verified":
                    kind, seed, reported = words[1], int(words[2]), words[3]
                    assert reported == digest(expected(kind, seed)), line
                    figures["verified"] += 1
                elif words[0] in ("ended", "oom", "gone", "done"):
                    figures[words[0]] += 1
        assert figures["verified"] > 0
        passed = True
    finally:
        for client in clients:
            if client.running():
                client.process.kill()
        if daemon is not None:
            daemon.stop(signal.SIGKILL)
        if passed:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"\nchaos: the daemons' logs are kept in {directory}")
        phases = ", ".join(f"{k} {v}" for k, v in sorted(kills_by_phase.items()))
        print(
            f"\nchaos: {figures['clients']} clients started, {figures['killed']} killed "
            f"({phases}), {figures['restarts']} daemon restarts ({figures['sigterm']} SIGTERM, "
            f"{figures['sigkill']} SIGKILL), {figures['verified']} evaluations checked, "
            f"{figures['faults']} faults injected, {figures['ended']} sessions ended under "
            f"their clients, {figures['oom']} allocations refused, {figures['gone']} clients saw "
            f"the daemon go, {figures['done']} finished, RSS {figures.get('rss_baseline_mib', '?')}"
            f" -> {figures.get('rss_after_mib', '?')} MiB, in {time.monotonic() - started:.0f} s"
        )


def memory(status: compute_pb2.GetStatusResponse) -> Dict[int, int]:
    return {m.device: m.allocated_bytes for m in status.device_memory}


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def trimmed_rss(daemon: ChaosDaemon) -> int:
    """kpd's RSS once the heap trim that follows ended sessions (in the session reaper's next
    round, within a second) has happened: the lowest RSS seen until it falls below where it was
    when called, or for 3 s if it does not (then there was nothing to give back)."""
    first = lowest = daemon.rss()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and lowest >= first:
        time.sleep(0.05)
        lowest = min(lowest, daemon.rss())
    return lowest


def check_for_hangs(clients: List[ChaosClient], force: bool = False) -> None:
    """A client alive past its lifetime hung: fail (after killing it)."""
    for client in clients:
        if not client.running():
            continue
        age = time.monotonic() - client.started
        if force or age > CLIENT_LIFETIME_S + 15:
            # The client dumps its threads' stacks on SIGUSR1 (faulthandler): say where it hung.
            client.process.send_signal(signal.SIGUSR1)
            wait_for(lambda: "most recent call first" in client.stderr(), 5)
            client.process.kill()
            client.process.wait()
            pytest.fail(f"client {client.seed} hung ({age:.0f} s); last lines: "
                        f"{client.lines[-5:]}; stderr:\n{client.stderr()[-6000:]}")
