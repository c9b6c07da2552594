"""Device faults, injected with kpd's hidden --inject-fault flag (lavapipe never reports them):
a lost device (VK_ERROR_DEVICE_LOST from vkQueueSubmit or vkWaitForFences) ends the sessions on
it with a clear error, and new sessions get a new instance of the device; an allocation that
runs out of device memory is RESOURCE_EXHAUSTED for that request only. The daemon lives on,
frees what it can, and exits 0."""
import re
import time

import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, Daemon


class Multiplier:
    def __init__(self, mgr: kp.Manager):
        self.lhs = mgr.tensor(np.zeros(16))
        self.rhs = mgr.tensor(np.zeros(16))
        self.out = mgr.tensor(np.zeros(16))
        algo = mgr.algorithm([self.lhs, self.rhs, self.out], MULTIPLY_GLSL)
        self.seq = (mgr.sequence()
                    .record(kp.OpTensorSyncDevice([self.lhs, self.rhs]))
                    .record(kp.OpAlgoDispatch(algo))
                    .record(kp.OpTensorSyncLocal([self.out])))

    def run(self, k: int) -> None:
        self.lhs.data()[:] = np.arange(16) + k
        self.rhs.data()[:] = k
        self.seq.eval()
        np.testing.assert_array_equal(self.out.data(), (np.arange(16) + k) * k)


def injected(d: Daemon) -> int:
    return len(re.findall(r"fault injection: vk", d.log()))


def lose_device(d: Daemon, shared_memory: bool, expected: str) -> None:
    """Two sessions on the device; A evaluates until the injected loss hits. Both sessions end
    with the reason, the daemon recovers, a new session computes, and memory goes back to 0."""
    a = kp.Manager(address=d.address, shared_memory=shared_memory)
    b = kp.Manager(address=d.address, shared_memory=shared_memory)
    b_tensor = b.tensor([1, 2, 3])
    device = a.get_device_properties()["device_name"]  # llvmpipe here, a GPU's name elsewhere
    work = Multiplier(a)
    computed = 0
    with pytest.raises(kp.DeviceLostError) as raised:
        for k in range(1, 200):
            work.run(k)
            computed += 1
    assert computed > 0, "the fault came before any evaluation: raise N"
    message = str(raised.value)
    assert isinstance(raised.value, kp.UnavailableError)  # a kind of UNAVAILABLE
    assert f"device 0 ({device}" in message and expected in message, message
    assert "cannot reach kpd" not in message  # kpd answered: the device failed, not the link
    assert injected(d) == 1

    # Both sessions on the lost device end, saying why; the daemon stays up.
    assert d.wait_for(lambda: d.status().device_resets == 1, 5)
    for mgr in (a, b):
        # The session stream's `closed` event gives the whole reason.
        assert d.wait_for(lambda: "ended the sessions on it" in (mgr._conn.closed_reason or ""), 5)
        assert expected in mgr._conn.closed_reason
    with pytest.raises(kp.NotFoundError, match="the session ended: device 0 .* was lost"):
        b.sequence()
    assert not b_tensor.is_init()

    # A new session gets a new instance of the device and computes right.
    with kp.Manager(address=d.address, shared_memory=shared_memory) as c:
        again = Multiplier(c)
        for k in range(1, 20):
            again.run(k)
    a.destroy()
    b.destroy()
    # The lost device's work had finished: it is freed, and nothing is left allocated.
    assert d.wait_for(lambda: d.status().retired_devices == 0, 10)
    assert d.wait_for(lambda: d.allocated_bytes() == 0, 5), d.status()
    assert d.status().sessions == 0
    assert d.stop() == 0


@pytest.mark.parametrize("shared_memory", [True, False], ids=["shared-memory", "socket"])
def test_device_lost_at_submit(shared_memory):
    d = Daemon("--inject-fault", "device-lost-after=20")
    try:
        assert "fault injection armed: device-lost-after=20" in d.log()
        lose_device(d, shared_memory, "vkQueueSubmit reported VK_ERROR_DEVICE_LOST")
    finally:
        d.cleanup()


def test_device_lost_at_wait():
    d = Daemon("--inject-fault", "device-lost-wait-after=20")
    try:
        lose_device(d, True, "vkWaitForFences reported VK_ERROR_DEVICE_LOST")
    finally:
        d.cleanup()


def test_device_lost_during_eval_async():
    # The loss is noticed by EvalAwait: the awaiting client hears it, never hangs.
    d = Daemon("--inject-fault", "device-lost-wait-after=0")
    try:
        mgr = kp.Manager(address=d.address)
        t = mgr.tensor([1, 2, 3], kp.TensorTypes.host)  # no set-up wait on the GPU
        seq = mgr.sequence().record(kp.OpTensorSyncLocal([t]))
        seq.eval_async()
        started = time.monotonic()
        with pytest.raises(kp.DeviceLostError, match="vkWaitForFences reported"):
            seq.eval_await()
        assert time.monotonic() - started < 5
        assert d.wait_for(lambda: "ended the sessions on it" in (mgr._conn.closed_reason or ""), 5)
        assert seq.is_running()  # as far as the client knows
        with pytest.raises(kp.NotFoundError, match="the session ended: device 0 .* was lost"):
            seq.eval_await()
        mgr.destroy()
        assert d.wait_for(lambda: d.status().retired_devices == 0, 10)
        assert d.allocated_bytes() == 0
        assert d.stop() == 0
    finally:
        d.cleanup()


def test_out_of_device_memory():
    # Every 4th allocation fails: a device tensor allocates twice (device-local + staging).
    d = Daemon("--inject-fault", "oom-every=4")
    try:
        mgr = kp.Manager(address=d.address)
        other = kp.Manager(address=d.address)
        device = re.escape(other.get_device_properties()["device_name"])
        kept = []
        failures = 0
        for i in range(8):
            before = d.allocated_bytes()
            tensor = mgr.tensor(np.full(1024, i))
            try:
                mgr._conn.flush()  # the creation is pipelined (kp._pipeline): send it now
                kept.append(tensor)
            except kp.ResourceExhaustedError as error:
                failures += 1
                assert not tensor.is_init()
                assert re.match(rf"kp.Manager.tensor\(1024 x eFloat, device\) \(sent with the next "
                                rf"call to kpd\): out of device memory: device 0 \({device}.*\) could not "
                                r"allocate \d+ bytes \(VK_ERROR_OUT_OF_DEVICE_MEMORY; \d+ bytes "
                                r"allocated", str(error)), str(error)
                assert d.allocated_bytes() == before, "a failed tensor holds no memory"
        assert failures >= 2
        assert injected(d) == failures
        # Nothing else is disturbed: both sessions go on, no device was reset.
        seq = mgr.sequence()
        for t in kept:
            t.data()[:] = 7
        seq.eval(kp.OpTensorSyncDevice(kept))
        seq.eval(kp.OpTensorSyncLocal(kept))
        assert all((t.data() == 7).all() for t in kept)
        assert other.sequence() is not None
        status = d.status()
        assert status.device_resets == 0 and status.sessions == 2
        mgr.destroy()
        other.destroy()
        assert d.wait_for(lambda: d.allocated_bytes() == 0, 5)
        assert d.stop() == 0
    finally:
        d.cleanup()
