"""Request validation through the real daemon: a smoke subset of the validation table, and the
daemon serving a healthy client throughout.

The full table (108 rows: description, request, expected status code, regex on the message) runs
in-process in C++, one test case per row: tests/service/*_validation_test.cc, with the checks
that its refused requests changed nothing and that the edge cases beside it are accepted
(tests/service/validation_test.cc). The rows here are copies of some of those rows, sent over
gRPC on a Unix socket with the raw kp.v1 protocol (no client-side checks in the way): at least
one of each RPC family, and those that only the wire shows: the OpenSession stream's status, a
foreign session's handle, a message with a newline in it, and a request of 65537 ops. A healthy
client evaluates a multiply in a thread the whole time and checks every result; the last test
stops it and checks that the daemon is alive and its counters are back where they started.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Callable, List

import grpc
import numpy as np
import pytest

import kp
from kp.v1 import compute_pb2, compute_pb2_grpc, types_pb2

F32 = types_pb2.DATA_TYPE_FLOAT32
DEVICE = types_pb2.TENSOR_TYPE_DEVICE

UNKNOWN_SESSION = "0123456789abcdef" * 2

# ---- shaders ------------------------------------------------------------------------------

PUSH_12_BYTES = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform Push { float x; float y; float z; } push;
void main() { a[0] += push.x + push.y + push.z; }
"""

NOT_GLSL = """
#version 450
layout(local_size_x = 1) in;
void main() { this is not glsl; }
"""

# ---- helpers ------------------------------------------------------------------------------


def f32(*values: float) -> bytes:
    return np.array(values, dtype=np.float32).tobytes()


def constants(data_type: int, values: bytes) -> types_pb2.Constants:
    return types_pb2.Constants(data_type=data_type, values=values)


class RawSession:
    """A session opened through the raw protocol; its OpenSession stream stays open."""

    def __init__(self, stub: compute_pb2_grpc.ComputeStub, **request):
        self.stub = stub
        self.stream = stub.OpenSession(compute_pb2.OpenSessionRequest(**request))
        opened = next(self.stream).opened
        self.id = opened.session
        self.device = opened.device

    def tensor(self, size=3, data_type=F32, tensor_type=DEVICE, data=b"") -> int:
        return self.stub.CreateTensor(compute_pb2.CreateTensorRequest(
            session=self.id, data_type=data_type, tensor_type=tensor_type, size=size,
            data=data)).tensor

    def close(self) -> None:
        try:
            self.stub.CloseSession(compute_pb2.CloseSessionRequest(session=self.id))
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND
        self.stream.cancel()


class Context:
    """The objects the smoke rows refer to (a subset of the C++ table's context)."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.stub = daemon.stub
        self.raw = RawSession(self.stub, client_name="test_validation")
        self.session = self.raw.id
        self.other = RawSession(self.stub, client_name="test_validation other")

        self.a = self.raw.tensor(data=f32(1, 2, 3))
        self.destroyed = self.raw.tensor()
        self.call("DestroyTensor", tensor=self.destroyed)
        self.foreign = self.other.tensor()
        self.sequence = self.call("CreateSequence").sequence
        # A sequence left running (evaluated asynchronously, not awaited), with its tensor and
        # algorithm.
        self.busy = self.raw.tensor()
        self.busy_algorithm = self.create_algorithm(
            [self.busy], glsl=PUSH_12_BYTES, push_constants=constants(F32, f32(1, 1, 1)),
            workgroup=types_pb2.Workgroup(x=1)).algorithm
        self.busy_sequence = self.call("CreateSequence").sequence
        self.call("EvalAsync", sequence=self.busy_sequence, record=True, ops=[
            op(algo_dispatch=types_pb2.OpAlgoDispatch(algorithm=self.busy_algorithm)),
            sync_local(self.busy)])

    def call(self, method: str, **fields):
        """Calls `method` in the test session with a request made of `fields`."""
        name = "Eval" if method == "EvalAsync" else method
        request_type = getattr(compute_pb2, name + "Request")
        return getattr(self.stub, method)(request_type(session=self.session, **fields), timeout=60)

    def create_algorithm(self, tensors: List[int], **fields):
        return self.call("CreateAlgorithm", tensors=tensors, **fields)

    def record(self, *ops: types_pb2.Op):
        return self.call("RecordSequence", sequence=self.sequence, ops=list(ops))

    def close(self) -> None:
        self.raw.close()
        self.other.close()


def op(**fields) -> types_pb2.Op:
    return types_pb2.Op(**fields)


def sync_device(*tensors: int) -> types_pb2.Op:
    return op(tensor_sync_device=types_pb2.OpTensorSyncDevice(tensors=list(tensors)))


def sync_local(*tensors: int) -> types_pb2.Op:
    return op(tensor_sync_local=types_pb2.OpTensorSyncLocal(tensors=list(tensors)))


def open_session(c: Context, **fields):
    """Opens a session and returns its first event (raising the stream's error)."""
    stream = c.stub.OpenSession(compute_pb2.OpenSessionRequest(**fields), timeout=30)
    try:
        return next(stream)
    finally:
        stream.cancel()


# ---- the smoke table ----------------------------------------------------------------------
# Each row is a copy of the row of the same description in tests/service/*_validation_test.cc.

@dataclass
class Row:
    description: str
    send: Callable[[Context], object]
    code: grpc.StatusCode
    message: str  # regex searched in the status message


INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED

ROWS: List[Row] = [
    # -- sessions
    Row("request naming an unknown session",
        lambda c: c.stub.CreateTensor(compute_pb2.CreateTensorRequest(
            session=UNKNOWN_SESSION, data_type=F32, size=1)),
        NOT_FOUND, rf"session {UNKNOWN_SESSION} does not exist"),
    Row("OpenSession on a device that does not exist",  # the status of the OpenSession stream
        lambda c: open_session(c, device=99),
        NOT_FOUND, r"device: device index 99 does not exist: 1 device\(s\) available"),

    # -- tensors
    Row("tensor data of the wrong length",
        lambda c: c.call("CreateTensor", data_type=F32, size=3, data=b"\0" * 5),
        INVALID, r"^data has 5 bytes; a tensor of 3 float32 elements needs 12"),
    Row("ReadTensor of another session's tensor",
        lambda c: c.call("ReadTensor", tensor=c.foreign),
        NOT_FOUND, r"^tensor: tensor \d+ does not exist in this session$"),
    Row("DestroyTensor of a destroyed tensor",
        lambda c: c.call("DestroyTensor", tensor=c.destroyed),
        NOT_FOUND, r"does not exist in this session"),

    # -- algorithms and shaders
    Row("GLSL that does not compile",  # a message of several lines
        lambda c: c.create_algorithm([c.a], glsl=NOT_GLSL),
        INVALID, r"^glsl: GLSL compilation failed:\n(ERROR: )?shader:4: "),
    Row("CompileShader of source that does not compile",
        lambda c: c.stub.CompileShader(compute_pb2.CompileShaderRequest(
            glsl=NOT_GLSL, name="bad.comp")),
        INVALID, r"^glsl: GLSL compilation failed:\n(ERROR: )?bad\.comp:4: "),

    # -- sequences
    Row("sequence with 2^32-1 timestamps",
        lambda c: c.call("CreateSequence", total_timestamps=2**32 - 1),
        EXHAUSTED, r"^total_timestamps 4294967295 exceeds the limit of 65536 "
                   r"\(--max-timestamps\)$"),
    Row("more ops than a sequence may record",  # a request of 65537 ops
        lambda c: c.record(*([sync_local(c.a)] * 65537)),
        EXHAUSTED, r"^ops: 65537 ops of weight 65537 \(an op counts once per tensor it names, "
                   r"at least once\), more than a sequence may record "
                   r"\(--max-sequence-ops 65536\)$"),

    # -- evaluations
    Row("upload of the wrong size",
        lambda c: c.call("Eval", ops=[sync_device(c.a)], uploads=[
            types_pb2.TensorData(tensor=c.a, data=f32(1))]),
        INVALID, r"^uploads\[0\]\.data has 4 bytes; tensor \d+ has 12$"),
    Row("Eval of a running sequence",
        lambda c: c.call("Eval", sequence=c.busy_sequence),
        PRECONDITION, r"^sequence \d+ is running; await it before evaluating it again$"),
]


# ---- the tests ----------------------------------------------------------------------------


class HealthyClient(threading.Thread):
    """Evaluates a multiply over and over through kp and checks every result."""

    def __init__(self, address: str):
        super().__init__(name="healthy-client", daemon=True)
        self.address = address
        self.stop = threading.Event()
        self.evaluations = 0
        self.errors: List[BaseException] = []

    def run(self) -> None:
        try:
            with kp.Manager(address=self.address) as mgr:
                lhs = mgr.tensor(np.arange(256, dtype=np.float32))
                rhs = mgr.tensor(np.zeros(256, dtype=np.float32))
                out = mgr.tensor(np.zeros(256, dtype=np.float32))
                seq = (mgr.sequence()
                       .record(kp.OpTensorSyncDevice([lhs, rhs]))
                       .record(kp.OpMult([lhs, rhs, out], mgr.algorithm()))
                       .record(kp.OpTensorSyncLocal([out])))
                while not self.stop.is_set():
                    factor = self.evaluations % 7 + 1
                    rhs.data()[:] = factor
                    seq.eval()
                    np.testing.assert_array_equal(out.data(), np.arange(256) * factor)
                    self.evaluations += 1
        except BaseException as error:  # noqa: BLE001 - reported by the last test
            self.errors.append(error)


@pytest.fixture(scope="module")
def baseline(daemon):
    """GetStatus before this module opened anything."""
    return daemon.status()


@pytest.fixture(scope="module")
def healthy(daemon, baseline):
    client = HealthyClient(daemon.address)
    client.start()
    yield client
    client.stop.set()
    client.join(timeout=60)


@pytest.fixture(scope="module")
def ctx(daemon, healthy):
    c = Context(daemon)
    yield c
    c.close()


def test_smoke_table_names_each_row_once():
    assert len(ROWS) >= 10
    assert len({row.description for row in ROWS}) == len(ROWS), "descriptions must be unique"


@pytest.mark.parametrize("row", ROWS, ids=[row.description for row in ROWS])
def test_bad_request(ctx, healthy, row):
    with pytest.raises(grpc.RpcError) as raised:
        row.send(ctx)
    error = raised.value
    assert error.code() == row.code, f"{row.description}: {error.code()} {error.details()!r}"
    assert re.search(row.message, error.details()), (
        f"{row.description}: {error.details()!r} does not match {row.message!r}")
    assert ctx.daemon.process.poll() is None, "kpd died"
    assert not healthy.errors, healthy.errors


def test_the_running_sequence_completes_untouched(ctx):
    """The sequence the rows found running completes, untouched by them."""
    reply = ctx.call("EvalAwait", sequence=ctx.busy_sequence, timeout_ns=30 * 10**9)
    assert reply.finished
    (download,) = reply.downloads
    assert download.tensor == ctx.busy and download.data == f32(3, 0, 0)


def test_daemon_served_throughout_and_counts_are_back(daemon, baseline, ctx, healthy):
    healthy.stop.set()
    healthy.join(timeout=60)
    assert not healthy.is_alive()
    assert not healthy.errors, healthy.errors
    assert healthy.evaluations > 0
    ctx.close()
    assert daemon.process.poll() is None
    assert daemon.wait_for(lambda: daemon.status().sessions == baseline.sessions)
    status = daemon.status()
    assert status.objects == baseline.objects
    assert daemon.allocated_bytes() == sum(m.allocated_bytes for m in baseline.device_memory)
