"""Benchmarks of the kp Python client through a running kpd. One JSON object per line.

    python_bench.py small ADDRESS PATH          small eval latency (PATH: shm | socket)
    python_bench.py create ADDRESS PATH         creating a 3-float tensor, an algorithm
    python_bench.py bandwidth ADDRESS PATH BYTES...
    python_bench.py saxpy ADDRESS SPIRV FLOATS...
    python_bench.py concurrency ADDRESS CLIENTS SECONDS
    python_bench.py memory ADDRESS KPD_PID TENSORS
    python_bench.py loopback BYTES...           raw TCP loopback round trip (no kpd)

PATH "shm" is the same-host fast path (shared memory + local data socket); "socket" sends
host copies over the gRPC connection (Unix socket or TCP, as ADDRESS says). Rows are named
python-shm, python-socket (Unix socket) and python-tcp; round trips over gRPC streams
python-unix-stream and python-tcp-stream.

Every benchmark checks its results (the products, the bytes of a round trip through the
device, saxpy's y): a wrong one ends it with a line "python_bench: BENCH PATH: wrong result:
..." on stderr and exit status 1. Environment: BENCH_ITERATIONS caps every timed loop (and
warm-ups at a tenth of it) for bench/run --smoke; BENCH_SMOKE_CORRUPT=PATH[,PATH...] makes
the benchmarks of those paths corrupt a value on purpose (to show the checks catch it);
MULTIPLY_SPV is the multiply shader's SPIR-V (default build/shaders/multiply.spv; GLSL
text if absent). kompute_bench.py runs the same measurements against in-process Kompute.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import socket
import sys
import time
from typing import Callable, List, Union

import numpy as np

import kp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MULTIPLY = """
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float outValues[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < outValues.length()) { outValues[i] = lhs[i] * rhs[i]; }
}
"""

CORRUPT = {p for p in os.environ.get("BENCH_SMOKE_CORRUPT", "").split(",") if p}


def multiply_shader() -> Union[bytes, str]:
    """The multiply shader as SPIR-V (what Kompute takes, so both sides create the same
    algorithm), or as GLSL text where the SPIR-V was not built."""
    path = os.environ.get("MULTIPLY_SPV", os.path.join(REPO, "build", "shaders", "multiply.spv"))
    if os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    return MULTIPLY


def reps(default: int) -> int:
    cap = int(os.environ.get("BENCH_ITERATIONS", "0") or 0)
    return max(1, min(default, cap)) if cap else default


def corrupt(path: str) -> bool:
    """True where BENCH_SMOKE_CORRUPT names this path: its benchmark then feeds a wrong value
    in, and its check must catch it."""
    return path in CORRUPT


def check(ok: bool, bench: str, path: str, what: str) -> None:
    if not ok:
        print(f"python_bench: {bench} {path}: wrong result: {what}", file=sys.stderr, flush=True)
        sys.exit(1)


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def timed(iterations: int, body: Callable[[], None]) -> List[float]:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        body()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def stats(samples: List[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda p: ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))]  # noqa
    return {"n": len(samples), "p50_us": round(pick(0.5), 2), "p99_us": round(pick(0.99), 2),
            "mean_us": round(sum(samples) / len(samples), 2)}


def path_name(address: str, path: str, stream: bool = False) -> str:
    """The row's path: python-shm, python-socket / python-tcp (small evals), or
    python-unix-stream / python-tcp-stream (round trips, whose host copies travel as streams)."""
    if path == "shm":
        return "python-shm"
    tcp = not address.startswith("unix:")
    if stream:
        return "python-tcp-stream" if tcp else "python-unix-stream"
    return "python-tcp" if tcp else "python-socket"


def manager(address: str, path: str) -> kp.Manager:
    mgr = kp.Manager(address=address, shared_memory=(path == "shm"))
    if path == "shm" and not mgr.shared_memory:
        raise SystemExit("the shared-memory path is not available at " + address)
    return mgr


def measure_small(mgr, name: str) -> None:
    """[SyncDevice(a, b), dispatch(multiply), SyncLocal(c)] on 3 floats, and the dispatch
    alone; `mgr` is a kp.Manager of either the kp client or in-process Kompute."""
    a, b, c = mgr.tensor([2, 2, 2]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
    algo = mgr.algorithm([a, b, c], multiply_shader(), (1, 1, 1))
    full = (mgr.sequence().record(kp.OpTensorSyncDevice([a, b]))
            .record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([c])))
    host = np.array([2, 2, 2], dtype=np.float32)
    if corrupt(name):
        host[2] = 2.5
    wrong = []

    def run() -> None:
        a.data()[:] = host
        full.eval()
        if c.data()[2] != 6.0:
            wrong.append(float(c.data()[2]))

    timed(reps(200), run)
    emit(bench="small_eval", path=name, sequence="sync_mult_sync", **stats(timed(reps(2000), run)))
    check(not wrong and c.data().tolist() == [2, 4, 6], "small_eval", name,
          f"c = {c.data().tolist()} ({len(wrong)} wrong evaluations), expected [2, 4, 6]")
    dispatch = mgr.sequence().record(kp.OpAlgoDispatch(algo))
    timed(reps(200), dispatch.eval)
    emit(bench="small_eval", path=name, sequence="dispatch",
         **stats(timed(reps(2000), dispatch.eval)))
    c.data()[:] = 0
    mgr.sequence().record(kp.OpTensorSyncLocal([c])).eval()  # what the dispatches left
    check(c.data().tolist() == [2, 4, 6], "small_eval", name,
          f"c = {c.data().tolist()} after the dispatch-only evaluations, expected [2, 4, 6]")
    for obj in (dispatch, full, algo, a, b, c):
        obj.destroy()


def small(address: str, path: str) -> None:
    with manager(address, path) as mgr:
        measure_small(mgr, path_name(address, path))
        if path == "socket":
            measure_unary_floor(mgr, path_name(address, path))


def measure_unary_floor(mgr, name: str) -> None:
    """A bare unary RPC on the Manager's own gRPC channel (GetLoad: no session lock, no GPU):
    the floor of any evaluation that travels over gRPC on this path."""
    from kp.v1 import compute_pb2  # the kp client's (Kompute has no daemon)

    session = mgr._conn
    request = compute_pb2.GetLoadRequest()
    devices: List[int] = []

    def run() -> None:
        devices.append(len(session.stub.GetLoad(request, metadata=session._metadata).devices))

    timed(reps(200), run)
    emit(bench="small_eval", path=name, sequence="unary-rpc", **stats(timed(reps(2000), run)))
    check(bool(devices) and min(devices) >= 1, "small_eval", name,
          "GetLoad answered without devices")


def measure_create(mgr, name: str) -> None:
    """Creating a 3-float tensor, and an algorithm (multiply, SPIR-V) on three tensors; each
    destroyed outside the timed part. Then a check that what was created works."""
    data = np.array([1, 2, 3], dtype=np.float32)
    spirv = multiply_shader()

    def tensor_samples(count: int) -> List[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            t = mgr.tensor(data)
            samples.append((time.perf_counter() - start) * 1e6)
            t.destroy()
        return samples

    tensor_samples(reps(20))
    emit(bench="create", path=name, what="tensor", **stats(tensor_samples(reps(200))))

    a, b, c = mgr.tensor([2, 2, 2]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])

    def algorithm_samples(count: int) -> List[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            algo = mgr.algorithm([a, b, c], spirv, (1, 1, 1))
            samples.append((time.perf_counter() - start) * 1e6)
            algo.destroy()
        return samples

    algorithm_samples(reps(20))
    emit(bench="create", path=name, what="algorithm", **stats(algorithm_samples(reps(200))))

    # The whole cost: creation plus the call that first needs the object (which carries kp's
    # pipelined creations to the daemon).
    def used_tensor_samples(count: int, per: int = 100) -> List[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            made = [mgr.tensor(data) for _ in range(per)]
            mgr.sequence().eval(kp.OpTensorSyncDevice(made))
            samples.append((time.perf_counter() - start) * 1e6 / per)
            for t in made:
                t.destroy()
        return samples

    used_tensor_samples(reps(3))
    emit(bench="create", path=name, what="tensor + first use",
         **stats(used_tensor_samples(reps(30))))

    def used_algorithm_samples(count: int) -> List[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            algo = mgr.algorithm([a, b, c], spirv, (1, 1, 1))
            mgr.sequence().eval(kp.OpAlgoDispatch(algo))
            samples.append((time.perf_counter() - start) * 1e6)
            algo.destroy()
        return samples

    used_algorithm_samples(reps(20))
    emit(bench="create", path=name, what="algorithm + first use",
         **stats(used_algorithm_samples(reps(200))))

    t = mgr.tensor(data)
    if corrupt(name):
        a.data()[0] = 3
    algo = mgr.algorithm([a, b, c], spirv, (1, 1, 1))
    (mgr.sequence().record(kp.OpTensorSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo))
     .record(kp.OpTensorSyncLocal([c])).eval())
    check(t.data().tolist() == [1, 2, 3], "create", name,
          f"a new tensor holds {t.data().tolist()}, expected [1, 2, 3]")
    check(c.data().tolist() == [2, 4, 6], "create", name,
          f"a new algorithm computed {c.data().tolist()}, expected [2, 4, 6]")
    for obj in (algo, t, a, b, c):
        obj.destroy()


def create(address: str, path: str) -> None:
    with manager(address, path) as mgr:
        measure_create(mgr, path_name(address, path))


def measure_bandwidth(mgr, name: str, sizes: List[int]) -> None:
    """The program's array into the host copy, evaluate [SyncDevice, SyncLocal], the host
    copy out into another array; then a check that the bytes went through the device (the
    host copy cleared between SyncDevice and SyncLocal)."""
    for size in sizes:
        count = size // 4
        source = (np.arange(count, dtype=np.uint32) % 65521).astype(np.float32)
        if corrupt(name):
            source_in = source.copy()
            source_in[-1] += 1
        else:
            source_in = source
        target = np.empty_like(source)
        tensor = mgr.tensor(np.zeros(count, dtype=np.float32))
        seq = (mgr.sequence().record(kp.OpTensorSyncDevice([tensor]))
               .record(kp.OpTensorSyncLocal([tensor])))

        def run() -> None:
            np.copyto(tensor.data(), source_in)  # the program's data into the host copy
            seq.eval()
            np.copyto(target, tensor.data())  # and back out

        default = 5 if size >= 64 << 20 else 20 if size >= 1 << 20 else 200
        run()
        emit(bench="bandwidth", path=name, bytes=size, **stats(timed(reps(default), run)))
        check(np.array_equal(target, source), "bandwidth", name,
              f"{size} bytes came back different from what was written")
        np.copyto(tensor.data(), source_in)
        mgr.sequence().record(kp.OpTensorSyncDevice([tensor])).eval()
        tensor.data()[:] = 0
        mgr.sequence().record(kp.OpTensorSyncLocal([tensor])).eval()
        check(np.array_equal(tensor.data(), source), "bandwidth", name,
              f"{size} bytes read back from the device differ from those written to it")
        tensor.destroy()
        seq.destroy()


def bandwidth(address: str, path: str, sizes: List[int]) -> None:
    with manager(address, path) as mgr:
        measure_bandwidth(mgr, path_name(address, path, stream=True), sizes)


def _echo(listener: socket.socket) -> None:
    """Receives `size` bytes (announced in 8 bytes), then sends them back; until closed."""
    conn, _ = listener.accept()
    with conn:
        buffer = bytearray()
        while True:
            header = conn.recv(8, socket.MSG_WAITALL)
            if len(header) < 8:
                return
            size = int.from_bytes(header, "little")
            if len(buffer) < size:
                buffer = bytearray(size)
            view = memoryview(buffer)[:size]
            got = 0
            while got < size:
                got += conn.recv_into(view[got:])
            conn.sendall(view)


def loopback(sizes: List[int]) -> None:
    """The floor of any TCP path: the bytes of one tensor to another process over loopback
    TCP and back, sequentially (as WriteTensorStream then ReadTensorStream move them), with
    no gRPC, no protobuf and no GPU."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = multiprocessing.Process(target=_echo, args=(listener,), daemon=True)
    server.start()
    with socket.create_connection(listener.getsockname()) as conn:
        for size in sizes:
            source = bytes(i % 251 for i in range(min(size, 251))) * (size // 251 + 1)
            source = source[:size]
            target = bytearray(size)
            view = memoryview(target)

            def run() -> None:
                conn.sendall(size.to_bytes(8, "little"))
                conn.sendall(source)
                got = 0
                while got < size:
                    got += conn.recv_into(view[got:])

            default = 5 if size >= 64 << 20 else 20 if size >= 1 << 20 else 200
            run()
            emit(bench="bandwidth", path="tcp-loopback", bytes=size,
                 **stats(timed(reps(default), run)))
            expected = source if not corrupt("tcp-loopback") else source[:-1] + b"\xff"
            check(target == expected, "bandwidth", "tcp-loopback",
                  f"{size} bytes came back different")
    server.join(5)
    listener.close()


def verify_saxpy(mgr, spirv: bytes, count: int, name: str) -> None:
    """saxpy's result, on min(count, 2^20) floats with the same shader and workgroup rule
    (the timed tensors are storage tensors, which have no host copy to read)."""
    n = min(count, 1 << 20)
    x0 = (np.arange(n, dtype=np.uint32) % 1000).astype(np.float32)
    y0 = np.full(n, 0.5, dtype=np.float32)
    x, y = mgr.tensor(x0), mgr.tensor(y0 + (0.25 if corrupt(name) else 0))
    algo = mgr.algorithm([x, y], spirv, (min((n + 255) // 256, 65535), 1, 1), [],
                         np.array([2.0], dtype=np.float32))
    (mgr.sequence().record(kp.OpTensorSyncDevice([x, y])).record(kp.OpAlgoDispatch(algo))
     .record(kp.OpTensorSyncLocal([y])).eval())
    expected = 2.0 * x0 + y0
    check(np.array_equal(y.data(), expected), "saxpy", name,
          f"y[:4] = {y.data()[:4].tolist()}, expected {expected[:4].tolist()} (of {n} floats)")
    for obj in (algo, x, y):
        obj.destroy()


def saxpy(address: str, spirv_path: str, counts: List[int]) -> None:
    spirv = open(spirv_path, "rb").read()
    name = "python-daemon"
    with kp.Manager(address=address) as mgr:
        chunk = mgr.get_device_properties()["max_storage_buffer_range"] // 4
        for count in counts:
            seq = mgr.sequence()
            keep = []
            for done in range(0, count, chunk):
                n = min(chunk, count - done)
                x = mgr.tensor(np.zeros(n, dtype=np.float32), kp.TensorTypes.storage)
                y = mgr.tensor(np.zeros(n, dtype=np.float32), kp.TensorTypes.storage)
                groups = min((n + 255) // 256, 65535)
                algo = mgr.algorithm([x, y], spirv, (groups, 1, 1), [],
                                     np.array([2.0], dtype=np.float32))
                seq.record(kp.OpAlgoDispatch(algo))
                keep += [x, y, algo]
            seq.eval()
            # About a second of evaluations (5 to 200), as engine_bench's saxpy.
            once = timed(1, seq.eval)[0]
            count_ = reps(int(min(200, max(5, 1e6 / max(once, 1.0)))))
            emit(bench="saxpy", path=name, floats=count, **stats(timed(count_, seq.eval)))
            for obj in keep:
                obj.destroy()
            verify_saxpy(mgr, spirv, count, name)


def _client(address: str, seconds: float, queue) -> None:
    with kp.Manager(address=address) as mgr:
        a, b, c = mgr.tensor([2, 2, 2]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
        algo = mgr.algorithm([a, b, c], multiply_shader(), (1, 1, 1))
        seq = (mgr.sequence().record(kp.OpTensorSyncDevice([a, b]))
               .record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([c])))
        if corrupt("clients"):
            a.data()[2] = 2.5
        for _ in range(reps(50)):
            seq.eval()
        queue.put("ready")
        samples = []
        wrong = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            seq.eval()
            samples.append((time.perf_counter() - start) * 1e6)
            wrong += c.data()[2] != 6.0
        if wrong or c.data().tolist() != [2, 4, 6]:
            queue.put(f"c = {c.data().tolist()} ({wrong} wrong evaluations), expected [2, 4, 6]")
        else:
            queue.put(samples)


def concurrency(address: str, clients: int, seconds: float) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_client, args=(address, seconds, queue))
                 for _ in range(clients)]
    for process in processes:
        process.start()
    results = []
    errors = []
    ready = 0
    while len(results) + len(errors) < clients:
        item = queue.get(timeout=300)
        if item == "ready":
            ready += 1
        elif isinstance(item, str):
            errors.append(item)
        else:
            results.append(item)
    for process in processes:
        # Its samples are in: a client that does not exit (gRPC Python can hang at interpreter
        # exit, rarely) must not stop the benchmark.
        process.join(60)
        if process.is_alive():
            print("python_bench: a client did not exit within 60 s of reporting; killed it",
                  file=sys.stderr)
            process.kill()
    check(not errors, "concurrency", "clients", "; ".join(errors))
    samples = [s for r in results for s in r]
    emit(bench="concurrency", path="python-shm", clients=clients,
         evals_per_s=round(len(samples) / seconds, 1), **stats(samples))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def memory(address: str, pid: int, tensors: int) -> None:
    time.sleep(1)
    idle = rss_kib(pid)
    for path in ("shm", "socket"):
        mgr = manager(address, path)
        held = [mgr.tensor(np.ones(16 << 20, dtype=np.float32)) for _ in range(tensors)]  # 64 MiB
        live = rss_kib(pid)
        emit(bench="memory", path=f"python-{path}", tensors=len(held), idle_kib=idle,
             live_kib=live, per_tensor_kib=round((live - idle) / tensors))
        mgr.destroy()
        del held
    time.sleep(2)
    emit(bench="memory", path="after", idle_kib=idle, after_kib=rss_kib(pid),
         ratio=round(rss_kib(pid) / idle, 3))


def main(argv: List[str]) -> None:
    what = argv[1]
    if what == "small":
        small(argv[2], argv[3])
    elif what == "create":
        create(argv[2], argv[3])
    elif what == "bandwidth":
        bandwidth(argv[2], argv[3], [int(v) for v in argv[4:]])
    elif what == "saxpy":
        saxpy(argv[2], argv[3], [int(v) for v in argv[4:]])
    elif what == "concurrency":
        concurrency(argv[2], int(argv[3]), float(argv[4]))
    elif what == "memory":
        memory(argv[2], int(argv[3]), int(argv[4]))
    elif what == "loopback":
        loopback([int(v) for v in argv[2:]])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
