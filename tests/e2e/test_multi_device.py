"""Several devices in one kpd: two lavapipe devices (the ICD manifest twice, conftest's
two_lavapipe_devices) serve sessions side by side, each independent of the other: GetLoad reports
each one's sessions, memory, work and busy time; a runaway shader on device 1 resets device 1
only; --devices serves a subset, keeping the instance's indices. GPU work is held by the gate
shader (gate.py) for as long as a test needs, never by timing."""
from __future__ import annotations

import signal
import threading
import time
from typing import Dict, Iterator, List

import grpc
import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, Daemon, run_kpd, two_lavapipe_devices
from gate import Gate, wait_until
from kp.v1 import compute_pb2
from test_runaway import Multiplier, endless_sequence

EVAL_TIMEOUT_MS = 1500
RUNAWAY_MS = 2500
MAX_SESSIONS = 20


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    return two_lavapipe_devices(str(tmp_path_factory.mktemp("icd")))


@pytest.fixture
def duo(two_devices: Dict[str, str]) -> Iterator[Daemon]:
    """A kpd of the test's own serving both devices."""
    d = Daemon("--max-sessions", str(MAX_SESSIONS), env=two_devices)
    yield d
    d.cleanup()


def load(d: Daemon) -> compute_pb2.GetLoadResponse:
    return d.stub.GetLoad(compute_pb2.GetLoadRequest(), timeout=10)


def device_load(d: Daemon, index: int) -> compute_pb2.DeviceLoad:
    (found,) = [device for device in load(d).devices if device.device == index]
    return found


def multiply(mgr: kp.Manager, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    a, b, out = mgr.tensor(lhs), mgr.tensor(rhs), mgr.tensor(np.zeros(len(lhs)))
    algo = mgr.algorithm([a, b, out], MULTIPLY_GLSL)
    (mgr.sequence().record(kp.OpTensorSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo))
        .record(kp.OpTensorSyncLocal([out])).eval())
    return out.data()


def test_both_devices_are_listed(duo: Daemon) -> None:
    listed = duo.stub.ListDevices(compute_pb2.ListDevicesRequest(), timeout=10).devices
    assert [device.index for device in listed] == [0, 1]
    with kp.Manager(1, address=duo.address) as mgr:
        devices = mgr.list_devices()
        assert len(devices) == 2 and all("llvmpipe" in d["device_name"] for d in devices)
        assert mgr._conn.device.index == 1
    assert "device 0: llvmpipe" in duo.log() and "device 1: llvmpipe" in duo.log()


def test_sessions_on_each_device_compute_at_the_same_time(duo: Daemon) -> None:
    rounds = 30
    results: Dict[int, List[str]] = {0: [], 1: []}
    start = threading.Barrier(2)

    def compute(device: int) -> None:
        try:
            with kp.Manager(device, address=duo.address) as mgr:
                assert mgr._conn.device.index == device
                work = Multiplier(mgr)
                start.wait(30)
                for _ in range(rounds):
                    work.run()  # checks its result
                results[device].append("ok")
        except Exception as error:  # noqa: BLE001 - reported below
            results[device].append(repr(error))

    threads = [threading.Thread(target=compute, args=(device,)) for device in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert results == {0: ["ok"], 1: ["ok"]}


def test_a_held_device_holds_up_only_itself(duo: Daemon) -> None:
    # Device 0's queue is held by the gate; device 1 computes meanwhile.
    with Gate(duo.address, device=0) as gate:
        gate.close()
        with kp.Manager(1, address=duo.address) as one:
            for i in range(5):
                np.testing.assert_array_equal(multiply(one, np.arange(8.0) + i, np.full(8, 2.0)),
                                              (np.arange(8.0) + i) * 2)
        assert device_load(duo, 0).evaluations_running == 1
        gate.open()
        assert gate.wait_seen_open()
    # The gate held device 0 until it was opened, after device 1's work was done.
    assert gate.held()


def test_load_reports_each_device_on_its_own(duo: Daemon) -> None:
    idle = load(duo)
    assert [d.device for d in idle.devices] == [0, 1]
    assert not idle.draining
    assert idle.sessions_free == MAX_SESSIONS
    heap = {d.index: max(h.size for h in d.memory_heaps if h.device_local)
            for d in duo.stub.ListDevices(compute_pb2.ListDevicesRequest()).devices}
    for d in idle.devices:
        # Never opened: zeros, and the whole heap free (lavapipe reports no memory budget).
        assert (d.sessions, d.memory_used_bytes, d.evaluations_running,
                d.evaluations_queued, d.busy_fraction) == (0, 0, 0, 0, 0.0)
        assert d.memory_free_bytes == heap[d.device]
        assert d.available and d.type == "cpu"

    with Gate(duo.address, device=1) as gate, kp.Manager(1, address=duo.address) as mgr:
        tensor = mgr.tensor(np.zeros(1 << 20))  # 4 MiB on device 1
        now = load(duo)
        zero, one = now.devices
        assert (zero.sessions, one.sessions) == (0, 2)  # the gate's session and mgr
        assert now.sessions_free == MAX_SESSIONS - 2
        assert zero.memory_used_bytes == 0
        assert one.memory_used_bytes >= 4 << 20
        assert one.memory_free_bytes == heap[1] - one.memory_used_bytes
        assert zero.memory_free_bytes == heap[0]

        # Held by the gate: one evaluation runs on device 1; a second, submitted behind it,
        # waits. Device 1 is busy from then on, device 0 stays idle.
        gate.close()
        seq = mgr.sequence().record(kp.OpTensorSyncDevice([tensor]))
        seq.eval_async()
        assert wait_until(lambda: device_load(duo, 1).evaluations_queued == 1, 30)
        one = device_load(duo, 1)
        assert (one.evaluations_running, one.evaluations_queued) == (1, 1)
        assert wait_until(lambda: device_load(duo, 1).busy_fraction > 0.02, 30)
        zero = device_load(duo, 0)
        assert (zero.evaluations_running, zero.evaluations_queued) == (0, 0)
        assert zero.busy_fraction == 0.0

        gate.open()
        seq.eval_await()
        assert gate.wait_seen_open()
        assert wait_until(lambda: device_load(duo, 1).evaluations_running == 0, 30)
        one = device_load(duo, 1)
        assert one.evaluations_queued == 0 and one.busy_fraction > 0.02
    # Sessions ended: the memory is back, the counts are zero; the busy time ages out of the
    # window (10 s), not tested here.
    assert wait_until(lambda: device_load(duo, 1).memory_used_bytes == 0, 30)
    assert device_load(duo, 1).sessions == 0


def test_load_is_answered_while_kpd_drains(two_devices: Dict[str, str]) -> None:
    d = Daemon("--drain-ms", "20000", env=two_devices)
    try:
        assert not load(d).draining  # connects the channel used during the drain
        with Gate(d.address, device=0) as gate:
            waiting = kp.Manager(0, address=d.address, shared_memory=False)
            a, b, out = waiting.tensor(np.ones(4)), waiting.tensor(np.full(4, 3.0)), \
                waiting.tensor(np.zeros(4))
            seq = (waiting.sequence().record(kp.OpTensorSyncDevice([a, b]))
                   .record(kp.OpAlgoDispatch(waiting.algorithm([a, b, out], MULTIPLY_GLSL)))
                   .record(kp.OpTensorSyncLocal([out])))
            gate.close()
            # An evaluation waiting behind the gate is a call in flight: the drain waits for it.
            done: list = []
            thread = threading.Thread(target=lambda: done.append(seq.eval()))
            thread.start()
            assert wait_until(lambda: device_load(d, 0).evaluations_queued == 1, 30)
            d.process.send_signal(signal.SIGTERM)
            assert wait_until(lambda: load(d).draining, 30)
            with pytest.raises(grpc.RpcError) as refused:  # new work is refused meanwhile
                d.stub.ListDevices(compute_pb2.ListDevicesRequest(), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            gate.open()
            thread.join(60)
            assert done and out.data().tolist() == [3.0] * 4
        assert d.process.wait(timeout=30) == 0
    finally:
        d.cleanup()


def test_a_runaway_on_device_1_resets_device_1_only(two_devices: Dict[str, str]) -> None:
    d = Daemon("--eval-timeout-ms", str(EVAL_TIMEOUT_MS), "--runaway-ms", str(RUNAWAY_MS),
               env=two_devices)
    stop = threading.Event()
    zero: dict = {"ok": 0, "errors": []}

    def keep_computing_on_device_0(mgr: kp.Manager) -> None:
        # One session all along: it must never end, and every result must be right.
        work = Multiplier(mgr)
        while not stop.is_set():
            try:
                work.run()
                zero["ok"] += 1
            except Exception as error:  # noqa: BLE001 - any error fails the test
                zero["errors"].append(error)
                return

    mgr0 = kp.Manager(0, address=d.address)
    worker = threading.Thread(target=keep_computing_on_device_0, args=(mgr0,))
    try:
        worker.start()
        assert wait_until(lambda: zero["ok"] >= 3, 30), zero
        bystander = kp.Manager(1, address=d.address)
        bystander_work = Multiplier(bystander)
        bystander_work.run()

        # The runaway, on device 1.
        culprit = kp.Manager(1, address=d.address)
        seq = endless_sequence(culprit)
        with pytest.raises(kp.DeadlineExceededError):
            seq.eval()
        during = zero["ok"]
        assert wait_until(lambda: d.status().device_resets == 1, RUNAWAY_MS / 1000 + 30)
        log = d.log()
        assert "runaway work: device 1 (llvmpipe" in log
        assert "runaway work: device 0" not in log
        # Device 0 computed while device 1 was wedged, and goes on in the same session.
        assert zero["ok"] > during and not zero["errors"], zero
        after = zero["ok"]
        assert wait_until(lambda: zero["ok"] >= after + 5, 60), zero

        # Device 1's sessions ended with the documented reasons.
        assert wait_until(lambda: culprit._conn.closed_reason is not None, 10)
        assert culprit._conn.closed_reason.startswith(
            "an evaluation of this session ran for more than "
            f"{RUNAWAY_MS} ms (--runaway-ms {RUNAWAY_MS}) without finishing: kpd reset device 1")
        with pytest.raises((kp.DeviceLostError, kp.NotFoundError),
                           match=r"device 1 \(llvmpipe.*was reset"):
            bystander_work.run()
        assert mgr0._conn.closed_reason is None

        # A new session on device 1 works, on a new instance of it.
        with kp.Manager(1, address=d.address) as fresh:
            Multiplier(fresh).run()
        assert "opened a new Vulkan instance for device 1" in d.log()
        assert "new Vulkan instance for device 0" not in d.log()
        # The load report: the runaway still runs on device 1's retired instance (the hardware
        # is still busy with it); device 0 is untouched and both may take sessions.
        report = {device.device: device for device in load(d).devices}
        assert report[1].evaluations_running >= 1 and report[1].available
        assert report[0].available and report[0].sessions == 1
        assert not zero["errors"], zero
        culprit.destroy()
        bystander.destroy()
    finally:
        stop.set()
        worker.join(60)
        mgr0.destroy()
        code = d.stop()
        d.cleanup()
    assert not worker.is_alive()
    assert not zero["errors"], zero
    assert code == 0


def test_devices_serves_only_the_devices_listed(two_devices: Dict[str, str]) -> None:
    d = Daemon("--devices", "1", env=two_devices)
    try:
        listed = d.stub.ListDevices(compute_pb2.ListDevicesRequest(), timeout=10).devices
        assert [device.index for device in listed] == [1]  # keeps the instance's index
        assert [device.device for device in load(d).devices] == [1]
        with kp.Manager(1, address=d.address) as mgr:
            assert len(mgr.list_devices()) == 1
            np.testing.assert_array_equal(multiply(mgr, np.arange(4.0), np.arange(4.0)),
                                          np.arange(4.0) ** 2)
        with pytest.raises(kp.NotFoundError,
                           match=r"device 0 is not served by this kpd: it serves device\(s\) 1 "
                                 r"\(--devices\)"):
            kp.Manager(0, address=d.address)
        assert "device 0: llvmpipe (LLVM" in d.log() and "not served (--devices)" in d.log()
    finally:
        d.cleanup()


def test_devices_from_the_configuration_file(two_devices: Dict[str, str], tmp_path) -> None:
    config = tmp_path / "kpd.conf"
    config.write_text("devices = [0, 1]\n")
    d = Daemon("--config", str(config), env=two_devices)
    try:
        assert [device.device for device in load(d).devices] == [0, 1]
    finally:
        d.cleanup()
    config.write_text("devices = 1\n")
    d = Daemon("--config", str(config), env=two_devices)
    try:
        assert [device.device for device in load(d).devices] == [1]
    finally:
        d.cleanup()


@pytest.mark.parametrize("devices,words", [
    ("2", "devices: device 2 does not exist: this host has 2 Vulkan device(s), numbered from 0 "
          "to 1"),
    ("1,1", "devices: device 1 is listed twice"),
    ("x", "--devices"),
])
def test_a_device_that_does_not_exist_stops_start_up(two_devices: Dict[str, str], tmp_path,
                                                     devices: str, words: str) -> None:
    done = run_kpd("--listen", f"unix:{tmp_path}/kpd.sock", "--devices", devices,
                   env=two_devices)
    assert done.returncode != 0
    assert words in done.stdout, done.stdout
