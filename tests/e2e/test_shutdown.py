"""SIGTERM: kpd stops taking calls, lets the ones in flight finish (bounded by --drain-ms),
ends the sessions with a reason, and exits 0 at once when nothing is left to wait for."""
import re
import signal
import threading
import time

import numpy as np
import pytest

import kp
from conftest import Daemon
from gate import Gate, wait_until

IN_FLIGHT = re.compile(r"waiting up to 60000 ms for [12] call\(s\) in flight")


def synced_sequence(mgr, payload=None):
    """t = [1, 2] uploaded, doubled by a shader and downloaded; the reply also carries
    `payload` (a tensor) if given."""
    t = mgr.tensor([1, 2])
    double = """
    #version 450
    layout(local_size_x = 1) in;
    layout(set = 0, binding = 0) buffer A { float a[]; };
    void main() { a[gl_GlobalInvocationID.x] *= 2.0; }
    """
    algo = mgr.algorithm([t], double)
    synced = [t] if payload is None else [t, payload]
    seq = mgr.sequence().record(kp.OpTensorSyncDevice([t])).record(
        kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal(synced))
    mgr._conn.flush()  # created now (kp._pipeline), not behind a gate closed later
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


def eval_behind_gate(d: Daemon, gate: Gate, t, seq):
    """Closes `gate`, then starts seq.eval() on a thread and returns once kpd has submitted it
    (it waits behind the gate until the gate opens)."""
    gate.close()
    thread, result = eval_in_thread(t, seq)
    assert wait_until(lambda: d.status().pending_submissions == 2), d.status()
    return thread, result


def test_sigterm_lets_a_running_eval_finish():
    d = Daemon("--drain-ms", "60000")
    gate = None
    try:
        # A 64 MiB download takes a while: kpd must not end the session before it is done.
        mgr = kp.Manager(address=d.address)
        other = kp.Manager(address=d.address)
        payload = mgr.tensor(np.arange(16 * 1024 * 1024, dtype=np.float32))
        t, seq = synced_sequence(mgr, payload)
        payload.data()[:] = 0
        gate = Gate(d.address)
        thread, result = eval_behind_gate(d, gate, t, seq)

        d.process.send_signal(signal.SIGTERM)
        # The Eval is in flight (the test's last GetStatus may still be too, until its reply
        # has gone out).
        assert d.wait_for(lambda: IN_FLIGHT.search(d.log()), 30), d.log()
        # While it drains, kpd takes no new work: no new session, no new call.
        with pytest.raises(kp.UnavailableError):
            kp.Manager(address=d.address)
        with pytest.raises(kp.UnavailableError, match="kpd is shutting down"):
            other.list_devices()
        assert d.process.poll() is None and thread.is_alive()

        gate.open()  # no call to kpd: the gate's flags are shared memory
        thread.join(60)
        assert "error" not in result, result
        np.testing.assert_array_equal(result["data"], [2, 4])
        np.testing.assert_array_equal(payload.data()[-3:], [16777213, 16777214, 16777215])
        assert gate.held(), "the evaluation was running when SIGTERM came"
        assert d.process.wait(timeout=30) == 0
        assert d.wait_for(lambda: mgr._conn.closed_reason is not None, 5)
        assert "shutting down" in mgr._conn.closed_reason
        assert IN_FLIGHT.search(d.log()), d.log()
        assert "cancelling" not in d.log()
    finally:
        if gate:
            gate.release()
        d.cleanup()


def test_drain_is_bounded_by_drain_ms():
    d = Daemon("--drain-ms", "300")
    gate = None
    try:
        mgr = kp.Manager(address=d.address)
        t, seq = synced_sequence(mgr)
        gate = Gate(d.address)
        thread, result = eval_behind_gate(d, gate, t, seq)
        d.process.send_signal(signal.SIGTERM)
        # kpd gives the call up after 300 ms and exits, though the gate still holds its work.
        assert d.process.wait(timeout=30) == 0
        thread.join(30)
        assert not thread.is_alive()
        # The call was given up: the client hears so, it does not hang.
        assert isinstance(result.get("error"), kp.UnavailableError), result
        assert "1 call(s) still running after 300 ms (--drain-ms): cancelling them" in d.log()
        assert gate.flags.data()[2] == 0, "the gate was still closed"
    finally:
        if gate:
            gate.release()
        d.cleanup()


def test_sigterm_with_idle_clients_exits_at_once():
    # Open sessions are not calls in flight: kpd ends them (each client hears why) and exits
    # without spending its drain time. (The C++ test KpdProcess.StopsAtOnceWithAnIdleClient-
    # Connected covers gRPC's own wait for idle connections.)
    d = Daemon("--drain-ms", "60000")
    try:
        managers = [kp.Manager(address=d.address) for _ in range(3)]
        for mgr in managers:
            mgr.tensor([1, 2, 3])
        assert d.status().sessions == 3  # the test's own channel is connected too
        started = time.monotonic()
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        elapsed = time.monotonic() - started
        # Far below the drain time (60 s), which a wrong wait would spend.
        assert elapsed < 20.0, f"kpd took {elapsed:.1f} s to stop with idle clients"
        for mgr in managers:
            assert d.wait_for(lambda: mgr._conn.closed_reason is not None, 5)
            assert "shutting down" in mgr._conn.closed_reason
    finally:
        d.cleanup()
