"""Runaway work: a shader that never finishes costs its evaluation a DEADLINE_EXCEEDED; once its
queue has made no progress for --runaway-ms, kpd resets the device: the sessions on it end with
a reason naming the culprit, new sessions get a new instance of the device at once (while the
runaway still spins on the old one), and kpd still stops promptly, exit code 0."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, Daemon
from shaders import ENDLESS, ENDLESS_WORKGROUPS

EVAL_TIMEOUT_MS = 1500
RUNAWAY_MS = 2500
SLACK_S = 2.0  # scheduling on a loaded 2-core machine


def endless_sequence(mgr: kp.Manager):
    t = mgr.tensor_t(np.zeros(2, dtype=np.uint32))
    algo = mgr.algorithm([t], ENDLESS, ENDLESS_WORKGROUPS)
    return mgr.sequence().record(kp.OpTensorSyncDevice([t])).record(kp.OpAlgoDispatch(algo))


class Multiplier:
    """A client's multiply: lhs * rhs with fresh inputs each time, checked."""

    def __init__(self, mgr: kp.Manager):
        self.lhs = mgr.tensor(np.zeros(64))
        self.rhs = mgr.tensor(np.zeros(64))
        self.out = mgr.tensor(np.zeros(64))
        algo = mgr.algorithm([self.lhs, self.rhs, self.out], MULTIPLY_GLSL)
        self.seq = (mgr.sequence()
                    .record(kp.OpTensorSyncDevice([self.lhs, self.rhs]))
                    .record(kp.OpAlgoDispatch(algo))
                    .record(kp.OpTensorSyncLocal([self.out])))
        self.round = 0

    def run(self) -> None:
        """One evaluation; its result is checked. A DEADLINE_EXCEEDED (it waited behind a
        runaway) is followed by awaiting the evaluation, which ends with the session."""
        self.round += 1
        self.lhs.data()[:] = np.arange(64) + self.round
        self.rhs.data()[:] = self.round % 7 + 1
        try:
            self.seq.eval()
        except kp.DeadlineExceededError:
            self.seq.eval_await()
        expected = (np.arange(64) + self.round) * (self.round % 7 + 1)
        np.testing.assert_array_equal(self.out.data(), expected)


def keep_computing(address: str, stop: threading.Event, record: dict) -> None:
    """A healthy client: computes and checks results until `stop`; when its session ends (its
    device was reset) it notes why and carries on with a new Manager."""
    record.update(ok=0, errors=[], gaps=[])
    last_ok = time.monotonic()
    while not stop.is_set():
        mgr = kp.Manager(address=address)
        try:
            work = Multiplier(mgr)
            while not stop.is_set():
                work.run()
                now = time.monotonic()
                record["gaps"].append(now - last_ok)
                last_ok = now
                record["ok"] += 1
        except (kp.DeviceLostError, kp.NotFoundError) as error:
            record["errors"].append(error)
        except Exception as error:  # noqa: BLE001 - anything else fails the test
            record["unexpected"] = error
            return
        finally:
            mgr.destroy()


def test_runaway_shader_resets_only_its_device():
    d = Daemon("--eval-timeout-ms", str(EVAL_TIMEOUT_MS), "--runaway-ms", str(RUNAWAY_MS))
    stop = threading.Event()
    healthy: dict = {}
    worker = threading.Thread(target=keep_computing, args=(d.address, stop, healthy))
    try:
        assert f"no progress for {RUNAWAY_MS} ms (--runaway-ms)" in d.log()
        # B: a healthy client, computing before, during and after the runaway.
        worker.start()
        assert d.wait_for(lambda: healthy.get("ok", 0) >= 3, 20), healthy

        # A: the runaway.
        a = kp.Manager(address=d.address)
        seq = endless_sequence(a)
        started = time.monotonic()
        with pytest.raises(kp.DeadlineExceededError,
                           match=f"did not finish within {EVAL_TIMEOUT_MS} ms"):
            seq.eval()
        waited = time.monotonic() - started
        assert EVAL_TIMEOUT_MS / 1000 - 0.05 <= waited < EVAL_TIMEOUT_MS / 1000 + SLACK_S
        assert seq.is_running()

        # kpd resets the device once the queue made no progress for --runaway-ms.
        assert d.wait_for(lambda: d.status().device_resets == 1, RUNAWAY_MS / 1000 + 10)
        assert time.monotonic() - started < RUNAWAY_MS / 1000 + SLACK_S
        assert "runaway work: device 0" in d.log()

        # A's session ended, saying why; its calls say so too.
        assert d.wait_for(lambda: a._conn.closed_reason is not None, 5)
        culprit_reason = a._conn.closed_reason
        assert culprit_reason.startswith(
            f"an evaluation of this session ran for more than {RUNAWAY_MS} ms "
            f"(--runaway-ms {RUNAWAY_MS}) without finishing: kpd reset device 0"), culprit_reason
        with pytest.raises(kp.NotFoundError, match="the session ended: an evaluation of this "
                                                   "session ran for more than"):
            seq.eval_await()
        assert not seq.is_init()

        # B's first session ended too, naming A (by its label, never its secret id), and B
        # carried on with a new session on the new instance of the device.
        assert d.wait_for(lambda: healthy["errors"] and healthy["ok"] >= 10, 30), healthy
        ended = str(healthy["errors"][0])
        assert "device 0 (llvmpipe" in ended and "was reset: an evaluation of session #" in ended
        assert f"(python kp {kp.__version__} pid {os.getpid()}) ran for more than" in ended
        assert a._conn.session not in ended
        assert "unexpected" not in healthy, healthy["unexpected"]
        # B was held up at most until the reset, plus the time to reconnect.
        assert max(healthy["gaps"]) < RUNAWAY_MS / 1000 + SLACK_S + 2, max(healthy["gaps"])

        # A new client opened after the reset computes right away, while the runaway still runs
        # on the old device, whose memory stays allocated.
        with kp.Manager(address=d.address) as c:
            opened = time.monotonic()
            work = Multiplier(c)
            for _ in range(20):
                work.run()
            assert time.monotonic() - opened < 10
            status = d.status()
            assert status.retired_devices == 1
            assert status.device_resets == 1
            assert status.sessions == 2  # B's second session and C
        a.destroy()

        # SIGTERM: kpd exits 0 at once, leaving the runaway work to the operating system.
        stop.set()
        worker.join(30)
        assert not worker.is_alive()
        sent = time.monotonic()
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        assert time.monotonic() - sent < 5
        assert "leaving work that never finished to the operating system" in d.log()
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(30)
        d.cleanup()


def test_deadlines_bound_the_wait_and_sigterm_leaves_runaway_work():
    # With --runaway-ms 0 the device is never reset: only the deadlines bound the waits, and
    # the work is still running when kpd stops.
    d = Daemon("--runaway-ms", "0", "--drain-ms", "500")
    try:
        assert "devices are never reset (--runaway-ms 0)" in d.log()
        a = kp.Manager(address=d.address, shared_memory=False)
        first, second = endless_sequence(a), endless_sequence(a)
        # The client's gRPC deadline.
        started = time.monotonic()
        with pytest.raises(kp.DeadlineExceededError):
            a._conn.call("Eval", first._eval_request("eval"), timeout=0.5)
        assert 0.45 < time.monotonic() - started < 0.5 + SLACK_S
        # The request's own timeout_ms.
        request = second._eval_request("eval")
        request.timeout_ms = 700
        started = time.monotonic()
        with pytest.raises(kp.DeadlineExceededError, match="did not finish within 700 ms"):
            a._conn.call("Eval", request)
        assert 0.65 < time.monotonic() - started < 0.7 + SLACK_S
        assert d.status().device_resets == 0

        sent = time.monotonic()
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        # The session's work gets the rest of --drain-ms, at least 1 s, then is left running.
        assert time.monotonic() - sent < 1.0 + SLACK_S + 1
        assert d.wait_for(lambda: a._conn.closed_reason is not None, 5)
        assert "shutting down" in a._conn.closed_reason
        log = d.log()
        assert "still runs work: leaving it running" in log
        assert "leaving work that never finished to the operating system" in log
    finally:
        d.cleanup()


def test_default_runaway_limit_is_the_eval_timeout_plus_grace():
    d = Daemon("--eval-timeout-ms", "1234")
    try:
        assert "no progress for 6234 ms (--runaway-ms)" in d.log()
    finally:
        assert d.stop() == 0
        d.cleanup()
