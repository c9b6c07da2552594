"""Device listing and properties."""
import kp


def test_device_properties(mgr):
    props = mgr.get_device_properties()
    assert props["device_name"]
    assert len(props["max_work_group_count"]) == 3
    assert all(v > 0 for v in props["max_work_group_count"])
    assert len(props["max_work_group_size"]) == 3
    assert props["max_work_group_invocations"] >= 128
    assert isinstance(props["timestamps_supported"], bool)
    assert props["timestamp_period"] > 0  # kp's addition to Kompute's keys


def test_list_devices(mgr):
    devices = mgr.list_devices()
    assert len(devices) >= 1
    assert devices[0]["device_name"] == mgr.get_device_properties()["device_name"]
    assert any(f["compute"] for f in devices[0]["queue_families"])


def test_bad_device_index(daemon):
    import pytest

    with pytest.raises(kp.NotFoundError, match="device: device index 99 does not exist"):
        kp.Manager(99, address=daemon.address)


def test_bad_queue_family(daemon):
    import pytest

    with pytest.raises(kp.InvalidArgumentError, match="queue_families: queue family 42"):
        kp.Manager(0, [42], address=daemon.address)


def test_explicit_queue_family(daemon):
    with kp.Manager(0, [0], address=daemon.address) as mgr:
        a, b = mgr.tensor([1, 2]), mgr.tensor([0, 0])
        mgr.sequence(0).eval(kp.OpTensorCopy([a, b]))
        assert b.data().tolist() == [1, 2]
