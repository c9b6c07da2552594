"""kpd's Prometheus page (--metrics-listen): scraped over HTTP and parsed with the official
Prometheus client's parser; each figure moves by exactly what the test did."""
from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from typing import Dict, Iterator, Tuple

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

import kp
from conftest import MULTIPLY_GLSL, Daemon, run_kpd, two_lavapipe_devices
from gate import Gate, wait_until
from kp.v1 import compute_pb2

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def metrics_daemon() -> Iterator[Daemon]:
    daemon = Daemon("--metrics-listen", "127.0.0.1:0")
    yield daemon
    daemon.cleanup()


def metrics_url(daemon: Daemon) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"metrics at (http://\S+/metrics)", daemon.log())
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise AssertionError("kpd did not log its metrics address:\n" + daemon.log())


def scrape(daemon: Daemon) -> Samples:
    with urllib.request.urlopen(metrics_url(daemon), timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = reply.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_the_page_parses_and_names_the_build(metrics_daemon: Daemon) -> None:
    samples = scrape(metrics_daemon)
    version = run_kpd("--version").stdout.split()[1]
    builds = [labels for (name, labels) in samples if name == "kpd_build_info"]
    assert len(builds) == 1 and dict(builds[0])["version"].startswith(version)
    assert value(samples, "kpd_uptime_seconds") >= 0
    # Every family a dashboard needs is there, device 0 included before any session opens.
    for name in ("kpd_sessions", "kpd_objects", "kpd_tensor_bytes",
                 "kpd_device_memory_allocated_bytes") + DEVICE_LOAD_GAUGES:
        assert (name, (("device", "0"),)) in samples, name
    for name in ("kpd_device_resets_total", "kpd_compiler_worker_failures_total",
                 "kpd_evaluation_seconds_count", "kpd_shader_compile_seconds_count",
                 "kpd_pending_submissions", "kpd_retired_devices"):
        assert (name, ()) in samples, name


# The per-device gauges that GetLoad reports too.
DEVICE_LOAD_GAUGES = ("kpd_device_memory_free_bytes", "kpd_device_busy_fraction",
                      "kpd_evaluations_running", "kpd_evaluations_queued", "kpd_device_available")


def test_device_load_gauges_follow_held_work(metrics_daemon: Daemon) -> None:
    heap = max(h.size for h in metrics_daemon.stub.ListDevices(
        compute_pb2.ListDevicesRequest()).devices[0].memory_heaps if h.device_local)
    samples = scrape(metrics_daemon)
    assert value(samples, "kpd_device_available", device="0") == 1
    # lavapipe reports no memory budget: free is the heap less what kpd allocated.
    assert value(samples, "kpd_device_memory_free_bytes", device="0") == \
        heap - value(samples, "kpd_device_memory_allocated_bytes", device="0")

    def gauge(name: str) -> float:
        return value(scrape(metrics_daemon), name, device="0")

    with Gate(metrics_daemon.address) as gate, kp.Manager(address=metrics_daemon.address) as mgr:
        tensor = mgr.tensor([1.0] * 1024)
        mgr._conn.flush()  # created now (kp._pipeline), not behind the gate
        assert (gauge("kpd_evaluations_running"), gauge("kpd_evaluations_queued")) == (0, 0)
        gate.close()
        seq = mgr.sequence().record(kp.OpTensorSyncDevice([tensor]))
        seq.eval_async()  # waits behind the gate
        assert wait_until(lambda: gauge("kpd_evaluations_queued") == 1, 30)
        held = scrape(metrics_daemon)
        assert value(held, "kpd_evaluations_running", device="0") == 1
        assert value(held, "kpd_pending_submissions") == 2
        assert wait_until(lambda: gauge("kpd_device_busy_fraction") > 0.02, 30)
        # The page and GetLoad tell the same.
        (loaded,) = metrics_daemon.stub.GetLoad(compute_pb2.GetLoadRequest()).devices
        assert (loaded.evaluations_running, loaded.evaluations_queued) == (1, 1)
        assert loaded.memory_free_bytes == gauge("kpd_device_memory_free_bytes")
        gate.open()
        seq.eval_await()
        assert wait_until(lambda: gauge("kpd_evaluations_running") == 0, 30)
        assert gauge("kpd_evaluations_queued") == 0
        assert 0 < gauge("kpd_device_busy_fraction") <= 1


def test_each_served_device_has_its_series(tmp_path) -> None:
    # Two devices, of which kpd serves device 1 only: the series name device 1, and only it.
    d = Daemon("--metrics-listen", "127.0.0.1:0", "--devices", "1",
               env=two_lavapipe_devices(str(tmp_path)))
    try:
        with kp.Manager(1, address=d.address) as mgr:
            mgr.tensor([1.0] * 256)
            mgr._conn.flush()  # pipelined creation (kp._pipeline): sent now
            samples = scrape(d)
        devices = {dict(labels).get("device") for (name, labels) in samples
                   if name in ("kpd_sessions",) + DEVICE_LOAD_GAUGES}
        assert devices == {"1"}
        assert value(samples, "kpd_sessions", device="1") == 1
        assert value(samples, "kpd_device_memory_allocated_bytes", device="1") >= 1024
    finally:
        d.cleanup()


def test_sessions_objects_and_bytes_follow_the_sessions(metrics_daemon: Daemon) -> None:
    before = scrape(metrics_daemon)
    sessions = value(before, "kpd_sessions", device="0")
    with kp.Manager(address=metrics_daemon.address) as mgr:
        tensors = [mgr.tensor([1.0] * 1000), mgr.tensor([2.0] * 24)]
        mgr._conn.flush()  # pipelined creation (kp._pipeline): sent now
        during = scrape(metrics_daemon)
        assert value(during, "kpd_sessions", device="0") == sessions + 1
        assert value(during, "kpd_tensor_bytes", device="0") == \
            value(before, "kpd_tensor_bytes", device="0") + 4 * 1024
        assert value(during, "kpd_objects", device="0") >= \
            value(before, "kpd_objects", device="0") + len(tensors)
    after = scrape(metrics_daemon)
    assert value(after, "kpd_sessions", device="0") == sessions
    assert value(after, "kpd_tensor_bytes", device="0") == value(before, "kpd_tensor_bytes",
                                                                 device="0")


@pytest.mark.parametrize("shared_memory", [True, False], ids=["data-socket", "grpc"])
def test_each_evaluation_is_counted_in_the_histogram(metrics_daemon: Daemon,
                                                     shared_memory: bool) -> None:
    evaluations = 5
    with kp.Manager(address=metrics_daemon.address, shared_memory=shared_memory) as mgr:
        a, b, out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
        algo = mgr.algorithm([a, b, out], MULTIPLY_GLSL)
        seq = (mgr.sequence().record(kp.OpTensorSyncDevice([a, b]))
               .record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([out])))
        before = scrape(metrics_daemon)
        for _ in range(evaluations - 1):
            seq.eval()
        seq.eval_async()
        seq.eval_await()
        after = scrape(metrics_daemon)
    assert out.data().tolist() == [4, 10, 18]
    count = value(after, "kpd_evaluation_seconds_count") - value(before,
                                                                 "kpd_evaluation_seconds_count")
    assert count == evaluations
    assert value(after, "kpd_evaluation_seconds_sum") > value(before, "kpd_evaluation_seconds_sum")
    # Buckets are cumulative and end with every observation.
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in after.items()
                     if name == "kpd_evaluation_seconds_bucket")
    assert buckets[-1] == (float("inf"), value(after, "kpd_evaluation_seconds_count"))
    assert all(x[1] <= y[1] for x, y in zip(buckets, buckets[1:]))


def test_failed_calls_are_counted_by_status(metrics_daemon: Daemon) -> None:
    stub = metrics_daemon.stub
    before = scrape(metrics_daemon)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as refused:
            stub.CompileShader(compute_pb2.CompileShaderRequest(glsl="not a shader"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as missing:
        stub.CloseSession(compute_pb2.CloseSessionRequest(session="no-such-session"))
    after = scrape(metrics_daemon)
    code = missing.value.code().name
    assert value(after, "kpd_errors_total", code="INVALID_ARGUMENT") - \
        value(before, "kpd_errors_total", code="INVALID_ARGUMENT") == 3 + (code == "INVALID_ARGUMENT")
    assert value(after, "kpd_errors_total", code=code) > value(before, "kpd_errors_total",
                                                               code=code)
    assert value(after, "kpd_errors_total", code="INTERNAL") == \
        value(before, "kpd_errors_total", code="INTERNAL")


def test_compiles_and_cache_hits(metrics_daemon: Daemon) -> None:
    stub = metrics_daemon.stub
    source = MULTIPLY_GLSL.replace("void main", f"// {time.monotonic_ns()}\nvoid main")
    before = scrape(metrics_daemon)
    for _ in range(3):  # one compile, then two answers from the cache
        reply = stub.CompileShader(compute_pb2.CompileShaderRequest(glsl=source))
        assert reply.spirv[:4] == b"\x03\x02\x23\x07"
    after = scrape(metrics_daemon)
    delta = {name: value(after, name) - value(before, name) for name in (
        "kpd_shader_compile_seconds_count", "kpd_shader_compile_cache_hits_total",
        "kpd_compiler_worker_failures_total")}
    assert delta == {"kpd_shader_compile_seconds_count": 1,
                     "kpd_shader_compile_cache_hits_total": 2,
                     "kpd_compiler_worker_failures_total": 0}


def test_only_the_metrics_path_is_served(metrics_daemon: Daemon) -> None:
    url = metrics_url(metrics_daemon).replace("/metrics", "/sessions")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url, timeout=10)
    assert missing.value.code == 404


@pytest.mark.parametrize("address,words", [
    ("nonsense", "is not HOST:PORT"),
    ("127.0.0.1:99999", "not a number from 0 to 65535"),
])
def test_a_bad_metrics_address_stops_start_up_naming_it(tmp_path, address: str,
                                                        words: str) -> None:
    done = run_kpd("--listen", f"unix:{tmp_path}/kpd.sock", "--metrics-listen", address)
    assert done.returncode != 0
    assert "--metrics-listen" in done.stdout and words in done.stdout, done.stdout
