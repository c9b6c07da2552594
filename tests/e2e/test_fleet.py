"""A fleet on one machine: three kpd daemons on loopback ports (one of them with two devices),
54 client processes placing their sessions with ``kp.Manager(address="a,b,c")``, and one
daemon killed while sessions run on it.

Shown: sessions spread by headroom (the spread is printed); clients started after the kill
avoid the dead daemon at their first attempt; sessions that lived on it fail with an
UnavailableError naming it, and their programs carry on with a new Manager; no result is
wrong; the survivors' sessions and memory return to where they started. Nothing here waits on
time: clients are driven round by round through their stdin.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from typing import Dict, List, Tuple

import pytest

from conftest import MULTIPLY_GLSL, Daemon, two_lavapipe_devices

LONG_CLIENTS = 24
SHORT_CLIENTS = 30

# A client that keeps its session: places it, evaluates once, then evaluates once more for
# every "eval" line on stdin until "stop"; if its daemon is gone it says so and opens a new
# Manager (placed among the daemons still answering), as a program must.
LONG_CLIENT = r"""
import json, sys
import numpy as np
import kp

addresses, glsl = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(int(sys.argv[3]))

def say(**fields):
    print(json.dumps(fields), flush=True)

def connect():
    mgr = kp.Manager(address=addresses)
    return mgr, mgr.get_device_properties()["device_index"]

def multiply(mgr):
    a, b = rng.integers(0, 100, 64).astype(np.float32), rng.integers(0, 100, 64).astype(np.float32)
    ta, tb, out = mgr.tensor(a), mgr.tensor(b), mgr.tensor(np.zeros(64))
    algo = mgr.algorithm([ta, tb, out], glsl)
    (mgr.sequence().record(kp.OpTensorSyncDevice([ta, tb])).record(kp.OpAlgoDispatch(algo))
        .record(kp.OpTensorSyncLocal([out])).eval())
    return bool(np.array_equal(out.data(), a * b))

mgr, device = connect()
say(event="placed", address=mgr.address, device=device, correct=multiply(mgr))
for line in sys.stdin:
    if line.strip() == "stop":
        break
    try:
        correct = multiply(mgr)
    except kp.UnavailableError as error:
        lost = mgr.address
        say(event="lost", address=lost, error=str(error))
        mgr, device = connect()
        correct = multiply(mgr)
    say(event="eval", address=mgr.address, device=device, correct=correct)
mgr.destroy()
say(event="done")
"""

# A client that comes and goes: places a session, evaluates three times, closes.
SHORT_CLIENT = r"""
import json, sys
import numpy as np
import kp

addresses, glsl = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(int(sys.argv[3]))
with kp.Manager(address=addresses) as mgr:
    correct = True
    for _ in range(3):
        a, b = rng.random(32, dtype=np.float32), rng.random(32, dtype=np.float32)
        ta, tb, out = mgr.tensor(a), mgr.tensor(b), mgr.tensor(np.zeros(32))
        algo = mgr.algorithm([ta, tb, out], glsl)
        (mgr.sequence().record(kp.OpTensorSyncDevice([ta, tb])).record(kp.OpAlgoDispatch(algo))
            .record(kp.OpTensorSyncLocal([out])).eval())
        correct = correct and bool(np.allclose(out.data(), a * b))
    print(json.dumps({"address": mgr.address,
                      "device": mgr.get_device_properties()["device_index"],
                      "correct": correct}), flush=True)
"""


def client_environment() -> Dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[1:])}
    for name in ("KP_ADDRESS", "KP_TOKEN", "KP_TOKEN_FILE", "KP_TLS_CA"):
        env.pop(name, None)
    return env


def read_event(client: subprocess.Popen) -> dict:
    line = client.stdout.readline()
    assert line, f"client {client.pid} ended early: {client.stderr.read()}"
    return json.loads(line)


def memory_and_sessions(daemon: Daemon) -> Tuple[int, int]:
    status = daemon.status()
    return status.sessions, sum(m.allocated_bytes for m in status.device_memory)


@pytest.mark.slow
def test_a_fleet_places_spreads_and_survives_a_dead_daemon(tmp_path) -> None:
    daemons = [Daemon(tcp=["127.0.0.1:0"]), Daemon(tcp=["127.0.0.1:0"]),
               Daemon(tcp=["127.0.0.1:0"], env=two_lavapipe_devices(str(tmp_path)))]
    long_clients: List[subprocess.Popen] = []
    try:
        address_of = [d.tcp_addresses[0] for d in daemons]
        fleet = ",".join(address_of)
        victim = address_of[1]
        baseline = {a: memory_and_sessions(d) for a, d in zip(address_of, daemons)}
        env = client_environment()

        # 1. Long-lived sessions, placed one after another (each sees the others' load).
        placed: List[Tuple[str, int]] = []
        for seed in range(LONG_CLIENTS):
            client = subprocess.Popen(
                [sys.executable, "-c", LONG_CLIENT, fleet, MULTIPLY_GLSL, str(seed)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=env)
            long_clients.append(client)
            event = read_event(client)
            assert event["event"] == "placed" and event["correct"], event
            placed.append((event["address"], event["device"]))
        spread = collections.Counter(placed)
        print("\nspread of", LONG_CLIENTS, "sessions over (daemon, device):",
              dict(sorted(spread.items())))
        devices = [(a, 0) for a in address_of] + [(address_of[2], 1)]
        assert set(spread) == set(devices), spread  # every device took sessions
        # By headroom: no device takes more than twice its fair share (6 of 24).
        assert max(spread.values()) <= 2 * LONG_CLIENTS // len(devices), spread
        on_victim = [c for c, where in zip(long_clients, placed) if where[0] == victim]
        assert on_victim

        # 2. The victim dies while its sessions are open.
        daemons[1].process.send_signal(signal.SIGKILL)
        daemons[1].process.wait(timeout=30)

        # 3. Every long client evaluates again: those on the victim are told, in words, which
        # daemon is gone, and carry on elsewhere.
        for client in long_clients:
            client.stdin.write("eval\n")
            client.stdin.flush()
        for client, (address, _) in zip(long_clients, placed):
            event = read_event(client)
            if address == victim:
                assert event["event"] == "lost", event
                assert event["address"] == victim and victim in event["error"], event
                event = read_event(client)
            assert event["event"] == "eval" and event["correct"], event
            assert event["address"] != victim, event

        # 4. New clients never land on the dead daemon, at their first attempt.
        shorts = [subprocess.Popen([sys.executable, "-c", SHORT_CLIENT, fleet, MULTIPLY_GLSL,
                                    str(1000 + seed)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env)
                  for seed in range(SHORT_CLIENTS)]
        results = []
        for short in shorts:
            out, err = short.communicate(timeout=180)
            assert short.returncode == 0, err
            results.append(json.loads(out))
        assert all(r["correct"] for r in results), results
        assert not [r for r in results if r["address"] == victim], results
        print("short clients per daemon:",
              dict(collections.Counter(r["address"] for r in results)))

        # 5. Everyone stops; the survivors are back where they started.
        for client in long_clients:
            client.stdin.write("stop\n")
            client.stdin.flush()
        for client in long_clients:
            assert read_event(client) == {"event": "done"}
            assert client.wait(timeout=60) == 0, client.stderr.read()
        for address, daemon in zip(address_of, daemons):
            if address == victim:
                continue
            assert daemon.wait_for(lambda: memory_and_sessions(daemon) == baseline[address],
                                   timeout=30), (memory_and_sessions(daemon), baseline[address])
    finally:
        for client in long_clients:
            if client.poll() is None:
                client.kill()
                client.wait()
        for daemon in daemons:
            daemon.cleanup()
