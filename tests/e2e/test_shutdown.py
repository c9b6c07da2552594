"""SIGTERM: kpd stops taking calls, lets the ones in flight finish (bounded by --drain-ms),
ends the sessions with a reason, and exits 0 at once when nothing is left to wait for."""
import signal
import threading
import time

import numpy as np
import pytest

import kp
from conftest import Daemon
from test_async import SLOW, SLOW_ITERATIONS

# Seconds of GPU work the evaluations under SIGTERM last. The work is sized by measuring this
# machine's speed first (lavapipe caps loops at 65535 iterations, so the length comes from the
# number of invocations): a fixed size that takes 2 s here took under 0.6 s on a faster CI host.
LONG_SECONDS = 3.0
CALIBRATION_WORKGROUPS = 50


def long_workgroups(mgr) -> int:
    """The workgroup count that makes the SLOW shader run about LONG_SECONDS here."""
    t = mgr.tensor_t(np.zeros(2, dtype=np.uint32))
    algo = mgr.algorithm([t], SLOW, (CALIBRATION_WORKGROUPS, 1, 1), push_consts=SLOW_ITERATIONS)
    seq = mgr.sequence().record(kp.OpAlgoDispatch(algo))
    seq.eval()  # the pipeline is built on the first evaluation: time the second one
    started = time.monotonic()
    seq.eval()
    per_workgroup = max(time.monotonic() - started, 1e-3) / CALIBRATION_WORKGROUPS
    return min(65535, max(CALIBRATION_WORKGROUPS, int(LONG_SECONDS / per_workgroup)))


def long_sequence(mgr, payload=None):
    """About LONG_SECONDS of GPU work; its reply also carries `payload` (a tensor) if given."""
    t = mgr.tensor_t(np.zeros(2, dtype=np.uint32))
    workgroups = (long_workgroups(mgr), 1, 1)
    algo = mgr.algorithm([t], SLOW, workgroups, push_consts=SLOW_ITERATIONS)
    synced = [t] if payload is None else [t, payload]
    seq = mgr.sequence().record(kp.OpTensorSyncDevice([t])).record(
        kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal(synced))
    return t, seq


def eval_in_thread(t, seq):
    """Starts seq.eval() on a thread; the dict gets "data" or "error" when it returns."""
    result = {}

    def run():
        try:
            seq.eval()
            result["data"] = t.data().copy()
        except Exception as error:  # noqa: BLE001 - checked by the test
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_sigterm_lets_a_running_eval_finish():
    d = Daemon("--drain-ms", "60000")
    try:
        mgr = kp.Manager(address=d.address)
        other = kp.Manager(address=d.address)
        # A 64 MiB reply takes a while to send: kpd must not stop gRPC before it is sent.
        payload = mgr.tensor(np.arange(16 * 1024 * 1024, dtype=np.float32))
        t, seq = long_sequence(mgr, payload)
        seq.eval()
        expected = t.data().copy()
        assert expected[1] == 42
        t.data()[:] = 0
        payload.data()[:] = 0

        thread, result = eval_in_thread(t, seq)
        time.sleep(0.3)  # the Eval reaches the daemon
        assert thread.is_alive(), "the evaluation finished before SIGTERM: make it longer"
        d.process.send_signal(signal.SIGTERM)
        assert d.wait_for(lambda: "for 1 call(s) in flight" in d.log(), 5), d.log()

        # While it drains, kpd takes no new work: no new session, no new call.
        with pytest.raises(kp.UnavailableError):
            kp.Manager(address=d.address)
        with pytest.raises(kp.UnavailableError, match="kpd is shutting down"):
            other.list_devices()
        assert d.process.poll() is None and thread.is_alive()

        thread.join(60)
        assert "error" not in result, result
        np.testing.assert_array_equal(result["data"], expected)
        np.testing.assert_array_equal(payload.data()[-3:], [16777213, 16777214, 16777215])
        assert d.process.wait(timeout=30) == 0
        assert d.wait_for(lambda: mgr._conn.closed_reason is not None, 5)
        assert "shutting down" in mgr._conn.closed_reason
        assert "waiting up to 60000 ms for 1 call(s) in flight" in d.log()
        assert "cancelling" not in d.log()
    finally:
        d.cleanup()


def test_drain_is_bounded_by_drain_ms():
    d = Daemon("--drain-ms", "300")
    try:
        mgr = kp.Manager(address=d.address)
        t, seq = long_sequence(mgr)
        thread, result = eval_in_thread(t, seq)
        time.sleep(0.3)
        assert thread.is_alive(), "the evaluation finished before SIGTERM: make it longer"
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        thread.join(30)
        assert not thread.is_alive()
        # The call was given up: the client hears so, it does not hang.
        assert isinstance(result.get("error"), kp.UnavailableError), result
        assert "1 call(s) still running after 300 ms (--drain-ms): cancelling them" in d.log()
    finally:
        d.cleanup()


def test_sigterm_with_idle_clients_exits_at_once():
    # Open sessions are not calls in flight: kpd ends them (each client hears why) and exits
    # without spending its drain time. (The C++ test KpdProcess.StopsAtOnceWithAnIdleClient-
    # Connected covers gRPC's own wait for idle connections.)
    d = Daemon("--drain-ms", "10000")
    try:
        managers = [kp.Manager(address=d.address) for _ in range(3)]
        for mgr in managers:
            mgr.tensor([1, 2, 3])
        assert d.status().sessions == 3  # the test's own channel is connected too
        started = time.monotonic()
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"kpd took {elapsed:.1f} s to stop with idle clients"
        for mgr in managers:
            assert d.wait_for(lambda: mgr._conn.closed_reason is not None, 5)
            assert "shutting down" in mgr._conn.closed_reason
    finally:
        d.cleanup()
