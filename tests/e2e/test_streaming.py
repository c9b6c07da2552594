"""Large host copies over the socket path: chunked streams in both directions, with no size
limit but memory, including a 1 GiB tensor over TCP."""
import numpy as np
import pytest

import kp
from conftest import Daemon
from kp import _evaluation


@pytest.fixture(scope="module")
def tcp_daemon():
    d = Daemon(tcp=["127.0.0.1:0"])
    yield d
    d.cleanup()


def round_trip(mgr, values):
    tensor = mgr.tensor_t(values)
    values2 = values[::-1].copy()
    tensor.data()[:] = values2  # a host write that the next sync-device uploads
    seq = (mgr.sequence()
           .record(kp.OpTensorSyncDevice([tensor]))
           .record(kp.OpTensorSyncLocal([tensor])))
    tensor.data()[:] = values2
    seq.eval()
    return tensor, values2


@pytest.mark.parametrize("elements", [
    _evaluation.STREAM_THRESHOLD // 4,           # the largest inline tensor
    _evaluation.STREAM_THRESHOLD // 4 + 1,       # the smallest streamed one
    5 * _evaluation.STREAM_CHUNK // 4 + 3,       # several chunks and a partial one
])
def test_stream_threshold_edges_over_tcp(tcp_daemon, elements):
    with kp.Manager(address=tcp_daemon.tcp_addresses[0]) as mgr:
        assert not mgr.shared_memory
        values = np.arange(elements, dtype=np.float32)
        a = mgr.tensor(values)  # created from the data, streamed if large
        b = mgr.tensor(np.zeros(elements, dtype=np.float32))
        mgr.sequence().record(kp.OpTensorCopy([a, b])).record(kp.OpTensorSyncLocal([b])).eval()
        np.testing.assert_array_equal(b.data(), values)
        a.data()[:] = -values
        mgr.sequence().record(kp.OpTensorSyncDevice([a])).record(
            kp.OpTensorCopy([a, b])).record(kp.OpTensorSyncLocal([b])).eval()
        np.testing.assert_array_equal(b.data(), -values)


def test_streamed_bool_and_double(tcp_daemon):
    with kp.Manager(address=tcp_daemon.tcp_addresses[0]) as mgr:
        flags = np.random.default_rng(2).random(600_000) > 0.5
        t, expected = round_trip(mgr, flags)
        np.testing.assert_array_equal(t.data(), expected)
        doubles = np.linspace(0, 1, 300_000, dtype=np.float64)
        t, expected = round_trip(mgr, doubles)
        np.testing.assert_array_equal(t.data(), expected)


def test_streamed_async(tcp_daemon):
    with kp.Manager(address=tcp_daemon.tcp_addresses[0]) as mgr:
        values = np.arange(2_000_000, dtype=np.float32)
        a = mgr.tensor(values)
        b = mgr.tensor(np.zeros_like(values))
        seq = mgr.sequence().record(kp.OpTensorCopy([a, b])).record(kp.OpTensorSyncLocal([b]))
        seq.eval_async()
        seq.eval_await()
        np.testing.assert_array_equal(b.data(), values)


def test_legacy_map_data_streams(tcp_daemon):
    with kp.Manager(address=tcp_daemon.tcp_addresses[0]) as mgr:
        t = mgr.build_tensor(np.zeros(1_000_000))
        t.set_data(np.full(1_000_000, 3.0))
        t.map_data_into_host()
        t.set_data(np.zeros(1_000_000))
        t.map_data_from_host()
        assert t.numpy().min() == 3.0 and t.numpy().max() == 3.0


@pytest.mark.slow
def test_one_gib_tensor_round_trips_over_tcp(tcp_daemon):
    n = (1 << 30) // 4
    values = np.arange(n, dtype=np.uint32)
    with kp.Manager(address=tcp_daemon.tcp_addresses[0]) as mgr:
        tensor = mgr.tensor_t(values)  # streamed up, synced to the device
        tensor.data()[:] = 0  # forget it here: the values must come back from the GPU
        mgr.sequence().eval(kp.OpTensorSyncLocal([tensor]))
        assert np.array_equal(tensor.data(), values)


@pytest.mark.parametrize("shared", [True, False])
def test_large_storage_tensor_gets_its_initial_data(daemon, shared):
    values = np.arange(1_000_000, dtype=np.float32)
    with kp.Manager(address=daemon.address, shared_memory=shared) as mgr:
        storage = mgr.tensor(values, kp.TensorTypes.storage)
        out = mgr.tensor(np.zeros_like(values))
        mgr.sequence().record(kp.OpTensorCopy([storage, out])).record(
            kp.OpTensorSyncLocal([out])).eval()
        np.testing.assert_array_equal(out.data(), values)


def test_stream_errors_are_kp_errors():
    # A stream that fails, at once or midway (the daemon went away after the first chunk),
    # raises kp's exceptions, never gRPC's.
    d = Daemon(tcp=["127.0.0.1:0"])
    try:
        mgr = kp.Manager(address=d.tcp_addresses[0])
        tensor = mgr.tensor(np.arange(16 * 1024 * 1024, dtype=np.float32))  # 64 MiB
        with pytest.raises(kp.NotFoundError, match="tensor 12345 does not exist"):
            _evaluation.read_stream(mgr._conn, 12345, tensor)

        request = kp.v1.compute_pb2.ReadTensorStreamRequest(
            session=mgr._conn.session, tensor=tensor._handle, chunk_bytes=1 << 20)
        chunks = mgr._conn.call_stream("ReadTensorStream", request)
        first = next(chunks)
        assert first.offset == 0 and len(first.data) == 1 << 20
        d.process.kill()
        d.process.wait()
        with pytest.raises(kp.UnavailableError):
            for _ in chunks:
                pass
    finally:
        d.cleanup()
