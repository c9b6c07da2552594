"""Shaders built to hurt the daemon: GLSL is compiled in a worker process under limits, so a
source that exhausts the compiler's stack, memory or time fails its own request with
INVALID_ARGUMENT ("shader too complex: ..."), and kpd keeps serving everyone else with correct
results, its memory, threads and descriptors back at their baseline. Each class of attack comes
in several shapes (the same AST can be written long or as doubling macros)."""
from __future__ import annotations

import os
import re
import threading
import time

import grpc
import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, Daemon
from kp.v1 import compute_pb2

# gRPC's server grows and shrinks its thread pool with the calls in flight: a few threads come
# and go on their own (a leak of one per connection or per compile is far more).
GRPC_THREAD_SLACK = 8

HEADER = """#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
"""


def chained(operator: str, operands: int) -> str:
    """One expression chaining `operands` reads of a[1] with `operator`."""
    return HEADER + "void main() { a[0] = " + operator.join(["a[1]"] * operands) + "; }\n"


def doubling(operator: str, levels: int) -> str:
    """The same AST from a few hundred bytes: each macro doubles the previous one."""
    macros = "#define X0 a[1]\n" + "".join(
        f"#define X{i + 1} X{i} {operator} X{i}\n" for i in range(levels))
    return HEADER + macros + f"void main() {{ a[0] = X{levels}; }}\n"


def nested(depth: int) -> str:
    """Parentheses nested `depth` deep."""
    return HEADER + "void main() { a[0] = " + "(" * depth + "a[1]" + ")" * depth + "; }\n"


STACK_EXHAUSTING = {
    "16k additions": chained("+", 16_000),
    "16k multiplications": chained("*", 16_000),
    "16k commas": HEADER + "void main() { a[0] = (" + ",".join(["a[1]"] * 16_000) + "); }\n",
    "doubling macros, 14 levels": doubling("+", 14),
    "parentheses 100k deep": nested(100_000),  # glslang's parser stops this one itself
}
# ~19 levels of doubling macros: billions of tokens from 476 bytes.
PREPROCESSOR_BOMB = doubling("+", 19)


class Process:
    """What /proc says of a running process: RSS, threads, open descriptors."""

    def __init__(self, pid: int):
        self.pid = pid

    def status(self, field: str) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def rss_mib(self) -> float:
        return self.status("VmRSS") / 1024

    def threads(self) -> int:
        return self.status("Threads")

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


def compile_shader(d: Daemon, glsl: str, timeout: float = 120):
    return d.stub.CompileShader(compute_pb2.CompileShaderRequest(glsl=glsl), timeout=timeout)


def multiply_works(address: str) -> None:
    with kp.Manager(address=address) as mgr:
        a, b, c = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
        algo = mgr.algorithm([a, b, c], MULTIPLY_GLSL)
        (mgr.sequence().record(kp.OpTensorSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo))
            .record(kp.OpTensorSyncLocal([c])).eval())
        np.testing.assert_array_equal(c.data(), [4, 10, 18])


@pytest.fixture(scope="module")
def hostile():
    d = Daemon("--compile-timeout-ms", "30000")
    multiply_works(d.address)  # warm: the device, the caches, the threads
    yield d
    assert d.stop() == 0, d.log()[-3000:]
    d.cleanup()


def baseline(d: Daemon) -> dict:
    d.status()  # the test's own channel connects at its first call: count it in the baseline
    p = Process(d.process.pid)
    return {"rss": p.rss_mib(), "threads": p.threads(), "fds": p.descriptors()}


def assert_back_to(d: Daemon, before: dict, fd_slack: int = 0, rss_slack_mib: int = 64) -> None:
    """kpd serves correct results and holds no more than it held before (`baseline`), but for
    `fd_slack` descriptors and `rss_slack_mib` MiB."""
    multiply_works(d.address)
    p = Process(d.process.pid)
    assert d.wait_for(lambda: p.threads() <= before["threads"] + GRPC_THREAD_SLACK, 10), (p.threads(), before)
    assert d.wait_for(lambda: p.descriptors() <= before["fds"] + fd_slack, 10), (p.descriptors(), before)
    assert p.rss_mib() < before["rss"] + rss_slack_mib, (p.rss_mib(), before)


@pytest.mark.parametrize("shape", sorted(STACK_EXHAUSTING))
def test_a_source_that_exhausts_the_compiler_fails_alone(hostile, shape):
    before = baseline(hostile)
    with pytest.raises(grpc.RpcError) as raised:
        compile_shader(hostile, STACK_EXHAUSTING[shape])
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert re.match(r"glsl: (shader too complex: |GLSL compilation failed:\n.*memory exhausted)",
                    error.details()), error.details()
    assert hostile.process.poll() is None, "kpd died"
    assert_back_to(hostile, before)


def test_the_same_through_create_algorithm(hostile):
    before = baseline(hostile)
    with kp.Manager(address=hostile.address) as mgr:
        t = mgr.tensor([0, 0])
        with pytest.raises(kp.InvalidArgumentError, match="glsl: shader too complex: "):
            mgr.algorithm([t], STACK_EXHAUSTING["16k additions"])
        # The session is still usable.
        algo = mgr.algorithm([t], HEADER + "void main() { a[0] = 7.0; }\n")
        mgr.sequence().record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([t])).eval()
        assert t.data()[0] == 7
    assert_back_to(hostile, before)


def test_a_preprocessor_bomb_is_stopped_by_the_workers_limits(hostile):
    before = baseline(hostile)
    with pytest.raises(grpc.RpcError) as raised:
        compile_shader(hostile, PREPROCESSOR_BOMB)
    assert len(PREPROCESSOR_BOMB) < 600
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "shader too complex: compiling it" in raised.value.details()
    assert_back_to(hostile, before)


def test_a_source_too_large_is_refused_before_compiling(hostile):
    with pytest.raises(grpc.RpcError) as raised:
        compile_shader(hostile, HEADER + "//" + "x" * (1 << 20) + "\nvoid main() {}\n")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than a shader may have (--max-shader-bytes 1048576)" in raised.value.details()


def test_cpu_and_time_limits_name_their_flag():
    d = Daemon("--compile-cpu-seconds", "1", "--compile-timeout-ms", "60000")
    try:
        with pytest.raises(grpc.RpcError) as raised:
            compile_shader(d, doubling("+", 17))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "shader too complex: compiling it" in raised.value.details()
        multiply_works(d.address)
    finally:
        d.cleanup()


def test_one_clients_compiles_do_not_starve_anothers():
    # One compile at a time. A client floods the compiler with slow compiles; once three of
    # them wait behind the one running, another client asks for one: it gets the next worker.
    d = Daemon("--compile-workers", "1")
    finished = []
    lock = threading.Lock()

    def compile_as(mgr: kp.Manager, tag: str, glsl: str) -> None:
        try:
            mgr.algorithm([mgr.tensor([0])], glsl)
        except kp.InvalidArgumentError:
            pass  # the flood's shaders are too complex: that takes a while to find out
        with lock:
            finished.append(tag)

    try:
        flood = kp.Manager(address=d.address)
        other = kp.Manager(address=d.address)
        threads = [threading.Thread(target=compile_as,
                                    args=(flood, f"flood {i}", doubling("+", 17) + f"// {i}\n"))
                   for i in range(4)]  # distinct sources: none is served from the cache
        for thread in threads:
            thread.start()
        assert d.wait_for(lambda: d.status().compiles_waiting == 3, 120), d.status()
        assert not finished, "the flood's first compile ended before the others queued"
        quick = threading.Thread(target=compile_as,
                                 args=(other, "other", HEADER + "void main() { a[0] = 2.0; }\n"))
        quick.start()
        for thread in threads + [quick]:
            thread.join(300)
        assert len(finished) == 5, finished
        assert finished[1] == "other", finished  # right after the compile that was running
        flood.destroy()
        other.destroy()
    finally:
        d.cleanup()


# ---- shaders that would make the driver's compile explode ----------------------------------

LOCAL_ARRAY = HEADER + """void main() {
    float big[268435456];
    big[int(a[1])] = a[2];
    a[0] = big[int(a[3])];
}
"""
PRIVATE_ARRAY = HEADER + """float big[16777216];
void main() { big[int(a[1])] = a[2]; a[0] = big[int(a[3])]; }
"""
LOCALS_IN_FUNCTIONS = HEADER + """float f(int i) { float x[200000]; x[i] = 1.0; return x[0]; }
float g(int i) { float y[200000]; y[i] = 2.0; return y[0]; }
void main() { a[0] = f(int(a[1])) + g(int(a[2])); }
"""


@pytest.mark.parametrize("name, glsl, size", [
    ("a 1 GiB local array", LOCAL_ARRAY, r"10737418\d\d bytes \(1.0 GiB\)"),
    ("a 64 MiB private array", PRIVATE_ARRAY, r"671088\d\d bytes \(64.0 MiB\)"),
    ("1.5 MiB of locals over two functions", LOCALS_IN_FUNCTIONS, r"16000\d\d bytes \(1.5 MiB\)"),
])
def test_an_invocations_own_memory_is_bounded(hostile, name, glsl, size):
    before = baseline(hostile)
    with kp.Manager(address=hostile.address) as mgr:
        t = mgr.tensor([0, 0, 0, 0])
        message = (f"the shader's private and function-local variables take {size} per "
                   r"invocation, more than kpd allows \(--max-shader-private-bytes 1048576\)")
        with pytest.raises(kp.InvalidArgumentError, match="^glsl: " + message):
            mgr.algorithm([t], glsl)
        # The same module as SPIR-V is refused alike.
        spirv = compile_shader(hostile, glsl).spirv
        with pytest.raises(kp.InvalidArgumentError, match=r"^kp.Manager.algorithm\(1 tensors, "
                           r"\d+ bytes of SPIR-V\) \(sent with the next call to kpd\): spirv: "
                           + message):
            mgr.algorithm([t], spirv)
            mgr._conn.flush()  # SPIR-V algorithms are pipelined (kp._pipeline)
    assert_back_to(hostile, before)


def test_a_huge_unroll_hint_is_not_followed(hostile):
    # [[unroll]] over 50000 iterations: followed, the driver's compile took gigabytes.
    before = baseline(hostile)
    glsl = """#version 450
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() {
    float s = 0.0;
    [[unroll]] for (int i = 0; i < 50000; ++i) { s += a[1]; }
    a[0] = s;
}
"""
    with kp.Manager(address=hostile.address) as mgr:
        t = mgr.tensor([0, 2])
        algo = mgr.algorithm([t], glsl)
        (mgr.sequence().record(kp.OpTensorSyncDevice([t])).record(kp.OpAlgoDispatch(algo))
            .record(kp.OpTensorSyncLocal([t])).eval())
        assert t.data()[0] == 100000
    assert_back_to(hostile, before)
