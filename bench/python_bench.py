"""Benchmarks of the kp Python client through a running kpd. One JSON object per line.

    python_bench.py small ADDRESS PATH          small eval latency (PATH: shm | socket)
    python_bench.py bandwidth ADDRESS PATH BYTES...
    python_bench.py saxpy ADDRESS SPIRV FLOATS...
    python_bench.py concurrency ADDRESS CLIENTS SECONDS
    python_bench.py memory ADDRESS KPD_PID TENSORS
    python_bench.py loopback BYTES...           raw TCP loopback round trip (no kpd)

PATH "shm" is the same-host fast path (shared memory + local data socket); "socket" sends
host copies over the gRPC connection (Unix socket or TCP, as ADDRESS says).
"""
from __future__ import annotations

import json
import multiprocessing
import socket
import sys
import time
from typing import Callable, List

import numpy as np

import kp

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


def manager(address: str, path: str) -> kp.Manager:
    mgr = kp.Manager(address=address, shared_memory=(path == "shm"))
    if path == "shm" and not mgr.shared_memory:
        raise SystemExit("the shared-memory path is not available at " + address)
    return mgr


def small(address: str, path: str) -> None:
    with manager(address, path) as mgr:
        a, b, c = mgr.tensor([2, 2, 2]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
        algo = mgr.algorithm([a, b, c], MULTIPLY, (1, 1, 1))
        full = (mgr.sequence().record(kp.OpTensorSyncDevice([a, b]))
                .record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([c])))
        host = np.array([2, 2, 2], dtype=np.float32)

        def run() -> None:
            a.data()[:] = host
            full.eval()
            assert c.data()[2] == 6.0

        timed(200, run)
        emit(bench="small_eval", path=f"python-{path}", sequence="sync_mult_sync",
             **stats(timed(2000, run)))
        dispatch = mgr.sequence().record(kp.OpAlgoDispatch(algo))
        timed(200, dispatch.eval)
        emit(bench="small_eval", path=f"python-{path}", sequence="dispatch",
             **stats(timed(2000, dispatch.eval)))


def bandwidth(address: str, path: str, sizes: List[int]) -> None:
    with manager(address, path) as mgr:
        for size in sizes:
            source = np.full(size // 4, 1.5, dtype=np.float32)
            target = np.empty_like(source)
            tensor = mgr.tensor(np.zeros(size // 4, dtype=np.float32))
            seq = (mgr.sequence().record(kp.OpTensorSyncDevice([tensor]))
                   .record(kp.OpTensorSyncLocal([tensor])))

            def run() -> None:
                np.copyto(tensor.data(), source)  # the program's data into the host copy
                seq.eval()
                np.copyto(target, tensor.data())  # and back out

            iterations = 5 if size >= 64 << 20 else 20 if size >= 1 << 20 else 200
            run()
            emit(bench="bandwidth", path=f"python-{path}", bytes=size, **stats(timed(iterations, run)))
            assert target[-1] == 1.5
            tensor.destroy()
            seq.destroy()


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
            source = bytes(size)
            target = bytearray(size)
            view = memoryview(target)

            def run() -> None:
                conn.sendall(size.to_bytes(8, "little"))
                conn.sendall(source)
                got = 0
                while got < size:
                    got += conn.recv_into(view[got:])

            iterations = 5 if size >= 64 << 20 else 20 if size >= 1 << 20 else 200
            run()
            emit(bench="bandwidth", path="tcp-loopback", bytes=size,
                 **stats(timed(iterations, run)))
    server.join(5)
    listener.close()


def saxpy(address: str, spirv_path: str, counts: List[int]) -> None:
    spirv = open(spirv_path, "rb").read()
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
            iterations = int(min(200, max(5, 1e6 / max(once, 1.0))))
            emit(bench="saxpy", path="python-daemon", floats=count,
                 **stats(timed(iterations, seq.eval)))
            for obj in keep:
                obj.destroy()


def _client(address: str, seconds: float, queue) -> None:
    with kp.Manager(address=address) as mgr:
        a, b, c = mgr.tensor([2, 2, 2]), mgr.tensor([1, 2, 3]), mgr.tensor([0, 0, 0])
        algo = mgr.algorithm([a, b, c], MULTIPLY, (1, 1, 1))
        seq = (mgr.sequence().record(kp.OpTensorSyncDevice([a, b]))
               .record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([c])))
        for _ in range(50):
            seq.eval()
        queue.put("ready")
        samples = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            seq.eval()
            samples.append((time.perf_counter() - start) * 1e6)
        queue.put(samples)


def concurrency(address: str, clients: int, seconds: float) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_client, args=(address, seconds, queue))
                 for _ in range(clients)]
    for process in processes:
        process.start()
    results = []
    ready = 0
    while len(results) < clients:
        item = queue.get(timeout=300)
        if item == "ready":
            ready += 1
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
