"""The test gate (tests/common/gate.comp): GPU work that holds a kpd's device queue until the
test opens it, so that "the GPU is busy" lasts exactly as long as a test wants, on any machine.

``close()`` evaluates the gate shader in a session of the gate's own and returns once it runs;
until ``open()``, every evaluation on that device, of any session, waits behind it. The gate's
flags are a host tensor in memory shared with kpd, which the shader reads while it runs, so
opening it needs no call to kpd (it works while kpd is shutting down)."""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

import kp

GATE_GLSL_PATH = os.path.join(os.path.dirname(__file__), "..", "common", "gate.comp")
# Workgroups to dispatch and flag indices: as tests/common/gate_shader.h.
GATE_WORKGROUPS = (2048, 1, 1)
OPEN, STARTED, SEEN_OPEN = 0, 1, 2


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Waits until `condition()` holds, checking every millisecond; False if it did not within
    `timeout` seconds (which only bounds a failure: pass a generous one)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(0.001)
    return True


class Gate:
    """Holds device `device` of the kpd at `address` while closed."""

    def __init__(self, address: str, device: int = 0):
        self.mgr = kp.Manager(device, address=address, shared_memory=True)
        assert self.mgr.shared_memory, "the gate needs memory shared with kpd"
        self.flags = self.mgr.tensor_t(np.zeros(3, dtype=np.uint32), kp.TensorTypes.host)
        with open(GATE_GLSL_PATH) as source:
            algo = self.mgr.algorithm([self.flags], source.read(), GATE_WORKGROUPS)
        self.seq = self.mgr.sequence().record(kp.OpAlgoDispatch(algo))

    def close(self) -> None:
        """Evaluates the gate and returns once it runs: the queue is busy from then on."""
        self.flags.data()[:] = 0
        self.seq.eval_async()
        assert wait_until(lambda: self.flags.data()[STARTED] == 1), "the gate did not start"

    def open(self) -> None:
        """Lets the gate's work finish (returns at once; no call to kpd)."""
        self.flags.data()[OPEN] = 1

    def wait_seen_open(self) -> bool:
        """Waits until the gate's work saw the gate open (no call to kpd)."""
        return wait_until(lambda: self.flags.data()[SEEN_OPEN] == 1)

    def held(self) -> bool:
        """Once its work has finished: True when the gate held the queue until it was opened
        (had it given up first, nothing would have seen it open)."""
        return int(self.flags.data()[SEEN_OPEN]) == 1

    def release(self) -> None:
        """Opens the gate, waits for its work and ends its session. Idempotent."""
        self.open()
        try:
            self.seq.eval_await()
        except kp.KpError:
            pass  # the session ended with the daemon: nothing left to wait for
        self.mgr.destroy()

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
