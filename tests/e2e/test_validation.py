"""Request validation: every malformed request gets a precise status whose message names the
field and value at fault, and the daemon serves a healthy client throughout.

The table below drives the raw kp.v1 protocol (no client-side checks in the way). Each row is
(description, request builder, expected status code, regex on the message). A healthy client
evaluates a multiply in a thread the whole time and checks every result; the last test stops it
and checks that the daemon is alive and its counters are back where they started.
"""
from __future__ import annotations

import re
import struct
import threading
from dataclasses import dataclass
from typing import Callable, List, Optional

import grpc
import numpy as np
import pytest

import kp
from conftest import MULTIPLY_GLSL, compile_glsl
from kp.v1 import compute_pb2, compute_pb2_grpc, types_pb2

F32 = types_pb2.DATA_TYPE_FLOAT32
I32 = types_pb2.DATA_TYPE_INT32
U32 = types_pb2.DATA_TYPE_UINT32
F64 = types_pb2.DATA_TYPE_FLOAT64
DEVICE = types_pb2.TENSOR_TYPE_DEVICE
HOST = types_pb2.TENSOR_TYPE_HOST
STORAGE = types_pb2.TENSOR_TYPE_STORAGE

UNKNOWN_HANDLE = 0x5EED_5EED_5EED_5EED
UNKNOWN_SESSION = "0123456789abcdef" * 2

# ---- shaders ------------------------------------------------------------------------------

PUSH_12_BYTES = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform Push { float x; float y; float z; } push;
void main() { a[0] += push.x + push.y + push.z; }
"""

SPEC_FLOAT = """
#version 450
layout(local_size_x = 1) in;
layout(constant_id = 0) const float c0 = 1.0;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] = c0; }
"""

LOCAL_SIZE_FROM_SPEC = """
#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] = 1.0; }
"""

TOO_MANY_INVOCATIONS = """
#version 450
layout(local_size_x = 1024, local_size_y = 2) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_LocalInvocationIndex] = 1.0; }
"""

TOO_MUCH_SHARED_MEMORY = """
#version 450
layout(local_size_x = 1) in;
shared float scratch[100000];
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() {
    scratch[gl_LocalInvocationIndex] = a[0];
    barrier();
    a[1] = scratch[0];
}
"""

UNIFORM_BUFFER = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) uniform U { vec4 u; };
layout(set = 0, binding = 1) buffer A { float a[]; };
void main() { a[0] = u.x; }
"""

SET_ONE = """
#version 450
layout(local_size_x = 1) in;
layout(set = 1, binding = 0) buffer A { float a[]; };
void main() { a[0] = 1.0; }
"""

FLOAT16 = """
#version 450
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { float16_t h = float16_t(a[0]); a[0] = float(h * h); }
"""

INT8 = """
#version 450
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { int8_t x = int8_t(a[0]); a[0] = float(x * x); }
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


def replace_entry_point_name(words: bytes, old: bytes, new: bytes) -> bytes:
    """The module with its OpEntryPoint's name `old` replaced by `new` (same length)."""
    assert len(old) == len(new)
    data = bytearray(words)
    offset = 20
    while offset < len(data):
        count, opcode = struct.unpack_from("<HH", data, offset)[::-1]
        if opcode == 15:  # OpEntryPoint: model, function, name...
            start = offset + 12
            assert data[start:start + len(old)] == old
            data[start:start + len(old)] = new
            return bytes(data)
        offset += 4 * count
    raise AssertionError("no OpEntryPoint")


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
    """The objects the rows refer to: live, destroyed and foreign handles of each kind."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.stub = daemon.stub
        self.raw = RawSession(self.stub, client_name="test_validation")
        self.session = self.raw.id
        self.device = self.raw.device
        self.other = RawSession(self.stub, client_name="test_validation other")
        self.multiply_spirv = compile_glsl(daemon, MULTIPLY_GLSL)

        t = self.raw.tensor
        self.a, self.b, self.c = t(data=f32(1, 2, 3)), t(data=f32(4, 5, 6)), t()
        self.int3 = t(data_type=I32)
        self.four = t(size=4)
        self.storage = t(tensor_type=STORAGE)
        self.host = t(tensor_type=HOST)
        self.destroyed = t()
        self.call("DestroyTensor", tensor=self.destroyed)
        self.foreign = self.other.tensor()

        self.algorithm = self.create_algorithm(
            [self.a], glsl=PUSH_12_BYTES, push_constants=constants(F32, f32(1, 2, 3)),
            workgroup=types_pb2.Workgroup(x=1)).algorithm
        # An algorithm whose tensor is destroyed afterwards, and one destroyed itself.
        doomed = self.raw.tensor()
        self.orphan_algorithm = self.create_algorithm(
            [doomed], glsl=PUSH_12_BYTES, push_constants=constants(F32, f32(0, 0, 0))).algorithm
        self.call("DestroyTensor", tensor=doomed)
        self.destroyed_algorithm = self.create_algorithm(
            [self.b], glsl=PUSH_12_BYTES, push_constants=constants(F32, f32(0, 0, 0))).algorithm
        self.call("DestroyAlgorithm", algorithm=self.destroyed_algorithm)

        self.sequence = self.call("CreateSequence").sequence
        self.never_evaluated = self.call("CreateSequence").sequence
        self.destroyed_sequence = self.call("CreateSequence").sequence
        self.call("DestroySequence", sequence=self.destroyed_sequence)
        # A sequence recorded with a copy into a tensor that is destroyed afterwards.
        target = self.raw.tensor()
        self.stale_sequence = self.call("CreateSequence").sequence
        self.call("RecordSequence", sequence=self.stale_sequence,
                  ops=[types_pb2.Op(tensor_copy=types_pb2.OpTensorCopy(tensors=[self.a, target]))])
        self.call("DestroyTensor", tensor=target)
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

    def record(self, *ops: types_pb2.Op, sequence: Optional[int] = None):
        return self.call("RecordSequence", sequence=sequence or self.sequence, ops=list(ops))

    def close(self) -> None:
        self.raw.close()
        self.other.close()


def op(**fields) -> types_pb2.Op:
    return types_pb2.Op(**fields)


def sync_device(*tensors: int) -> types_pb2.Op:
    return op(tensor_sync_device=types_pb2.OpTensorSyncDevice(tensors=list(tensors)))


def sync_local(*tensors: int) -> types_pb2.Op:
    return op(tensor_sync_local=types_pb2.OpTensorSyncLocal(tensors=list(tensors)))


def copy(*tensors: int) -> types_pb2.Op:
    return op(tensor_copy=types_pb2.OpTensorCopy(tensors=list(tensors)))


def mult(*tensors: int) -> types_pb2.Op:
    return op(mult=types_pb2.OpMult(tensors=list(tensors)))


def barrier(tensors, src_access=0x20, dst_access=0x20, src_stage=0x800, dst_stage=0x800,
            primary=True) -> types_pb2.Op:
    # Defaults: VK_ACCESS_SHADER_READ_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.
    return op(memory_barrier=types_pb2.OpMemoryBarrier(
        tensors=list(tensors), src_access_mask=src_access, dst_access_mask=dst_access,
        src_stage_mask=src_stage, dst_stage_mask=dst_stage, barrier_on_primary=primary))


def open_session(c: Context, **fields):
    """Opens a session and returns its first event (raising the stream's error)."""
    stream = c.stub.OpenSession(compute_pb2.OpenSessionRequest(**fields), timeout=30)
    try:
        return next(stream)
    finally:
        stream.cancel()


# ---- the table ----------------------------------------------------------------------------

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
    Row("request with empty session id",
        lambda c: c.stub.CreateSequence(compute_pb2.CreateSequenceRequest(session="")),
        NOT_FOUND, r"^session is not set$"),
    Row("request naming an unknown session",
        lambda c: c.stub.CreateTensor(compute_pb2.CreateTensorRequest(
            session=UNKNOWN_SESSION, data_type=F32, size=1)),
        NOT_FOUND, rf"session {UNKNOWN_SESSION} does not exist"),
    Row("CloseSession with empty session id",
        lambda c: c.stub.CloseSession(compute_pb2.CloseSessionRequest(session="")),
        NOT_FOUND, r"^session is not set$"),
    Row("CloseSession of an unknown session",
        lambda c: c.stub.CloseSession(compute_pb2.CloseSessionRequest(session=UNKNOWN_SESSION)),
        NOT_FOUND, rf"session {UNKNOWN_SESSION} does not exist"),
    Row("OpenSession on a device that does not exist",
        lambda c: open_session(c, device=99),
        NOT_FOUND, r"device: device index 99 does not exist: 1 device\(s\) available"),
    Row("OpenSession naming a queue family that does not exist",
        lambda c: open_session(c, queue_families=[99]),
        INVALID, r"queue_families: queue family 99 does not exist on device 0"),
    Row("OpenSession asking for more queues than the family has",
        lambda c: open_session(c, queue_families=[c.device.default_queue_family] * 1000),
        INVALID, r"queue_families: queue family \d+ has \d+ queue\(s\); more were requested"),
    Row("OpenSession with an oversized client_name",
        lambda c: open_session(c, client_name="x" * 1000),
        INVALID, r"client_name has 1000 bytes; at most 256"),

    # -- CreateTensor
    Row("tensor without data_type",
        lambda c: c.call("CreateTensor", size=3),
        INVALID, r"^data_type is not set \(DATA_TYPE_UNSPECIFIED\)$"),
    Row("tensor with data_type out of range",
        lambda c: c.call("CreateTensor", data_type=99, size=3),
        INVALID, r"^data_type has unknown value 99$"),
    Row("tensor with tensor_type out of range",
        lambda c: c.call("CreateTensor", data_type=F32, tensor_type=7, size=3),
        INVALID, r"^tensor_type has unknown value 7$"),
    Row("tensor of size zero",
        lambda c: c.call("CreateTensor", data_type=F32, size=0),
        INVALID, r"^size must be greater than zero \(got 0\)$"),
    Row("tensor of 2^62 float64 elements (byte count overflows)",
        lambda c: c.call("CreateTensor", data_type=F64, size=2**62),
        INVALID, r"^size 4611686018427387904 is too large"),
    Row("tensor of 2^64-1 float32 elements",
        lambda c: c.call("CreateTensor", data_type=F32, size=2**64 - 1),
        INVALID, r"^size 18446744073709551615 is too large"),
    Row("tensor of 4 TiB: beyond the session memory quota",
        lambda c: c.call("CreateTensor", data_type=F32, size=2**40),
        EXHAUSTED, r"session device memory quota exceeded: .* \+ 4398046511104 bytes \(4\.0 TiB\) "
                   r"requested > \d+ bytes .*--session-memory-bytes"),
    Row("tensor data of the wrong length",
        lambda c: c.call("CreateTensor", data_type=F32, size=3, data=b"\0" * 5),
        INVALID, r"^data has 5 bytes; a tensor of 3 float32 elements needs 12"),
    Row("float64 tensor data of a float32 length",
        lambda c: c.call("CreateTensor", data_type=F64, size=3, data=f32(1, 2, 3)),
        INVALID, r"^data has 12 bytes; a tensor of 3 float64 elements needs 24"),

    # -- DestroyTensor / ReadTensor / WriteTensor
    Row("DestroyTensor of handle 0",
        lambda c: c.call("DestroyTensor", tensor=0),
        NOT_FOUND, r"^tensor: tensor 0 is not a valid handle$"),
    Row("DestroyTensor of an unknown handle",
        lambda c: c.call("DestroyTensor", tensor=UNKNOWN_HANDLE),
        NOT_FOUND, rf"^tensor: tensor {UNKNOWN_HANDLE} does not exist in this session$"),
    Row("DestroyTensor of another session's tensor",
        lambda c: c.call("DestroyTensor", tensor=c.foreign),
        NOT_FOUND, r"does not exist in this session"),
    Row("DestroyTensor of a destroyed tensor",
        lambda c: c.call("DestroyTensor", tensor=c.destroyed),
        NOT_FOUND, r"does not exist in this session"),
    Row("ReadTensor of another session's tensor",
        lambda c: c.call("ReadTensor", tensor=c.foreign),
        NOT_FOUND, r"^tensor: tensor \d+ does not exist in this session$"),
    Row("ReadTensor of a storage tensor",
        lambda c: c.call("ReadTensor", tensor=c.storage),
        PRECONDITION, r"is a storage tensor: it has no host data"),
    Row("WriteTensor of the wrong size",
        lambda c: c.call("WriteTensor", tensor=c.a, data=f32(1)),
        INVALID, r"^data has 4 bytes; tensor \d+ has 12$"),
    Row("WriteTensor of a storage tensor",
        lambda c: c.call("WriteTensor", tensor=c.storage, data=f32(1, 2, 3)),
        PRECONDITION, r"is a storage tensor: it has no host data"),
    Row("WriteTensor of a destroyed tensor",
        lambda c: c.call("WriteTensor", tensor=c.destroyed, data=f32(1, 2, 3)),
        NOT_FOUND, r"does not exist in this session"),

    # -- CreateAlgorithm: the shader
    Row("algorithm without a shader",
        lambda c: c.create_algorithm([c.a]),
        INVALID, r"^shader: set spirv or glsl$"),
    Row("empty SPIR-V",
        lambda c: c.create_algorithm([c.a], spirv=b""),
        INVALID, r"^spirv is empty$"),
    Row("SPIR-V that is not whole words",
        lambda c: c.create_algorithm([c.a], spirv=c.multiply_spirv[:-1]),
        INVALID, r"^spirv has \d+ bytes, not a whole number of 32-bit words$"),
    Row("SPIR-V that is random bytes",
        lambda c: c.create_algorithm(
            [c.a], spirv=np.random.default_rng(7).bytes(256)),
        INVALID, r"^spirv does not start with the SPIR-V magic number 0x07230203$"),
    Row("SPIR-V shorter than its header",
        lambda c: c.create_algorithm([c.a], spirv=c.multiply_spirv[:12]),
        INVALID, r"^spirv is truncated: 12 bytes is shorter than a SPIR-V header"),
    Row("SPIR-V truncated mid-instruction",
        lambda c: c.create_algorithm(
            [c.a], spirv=c.multiply_spirv[:len(c.multiply_spirv) // 8 * 4 + 4]),
        INVALID, r"^spirv is (truncated or corrupt at word \d+|not valid for Vulkan)"),
    Row("SPIR-V header only",
        lambda c: c.create_algorithm([c.a], spirv=c.multiply_spirv[:20]),
        INVALID, r"^spirv is not valid for Vulkan 1\.\d+\.\d+: "),
    Row("SPIR-V in big-endian byte order",
        lambda c: c.create_algorithm([c.a], spirv=np.frombuffer(
            c.multiply_spirv, dtype="<u4").astype(">u4").tobytes()),
        INVALID, r"^spirv is big-endian; send little-endian words$"),
    Row("valid SPIR-V without an entry point named main",
        lambda c: c.create_algorithm([c.a, c.b, c.c], spirv=replace_entry_point_name(
            c.multiply_spirv, b"main", b"mian")),
        INVALID, r'^spirv has no GLCompute entry point named "main"$'),
    Row("SPIR-V using capability Float16, which kpd does not enable",
        lambda c: c.create_algorithm([c.a], spirv=compile_glsl(c.daemon, FLOAT16)),
        INVALID, r"^spirv uses capability Float16, which kpd does not enable on device "),
    Row("SPIR-V using capability Int8, which kpd does not enable",
        lambda c: c.create_algorithm([c.a], spirv=compile_glsl(c.daemon, INT8)),
        INVALID, r"^spirv uses capability Int8, which kpd does not enable on device "),
    Row("GLSL using float16_t (capability Float16)",
        lambda c: c.create_algorithm([c.a], glsl=FLOAT16),
        INVALID, r"^glsl: spirv uses capability Float16"),
    Row("GLSL that does not compile",
        lambda c: c.create_algorithm([c.a], glsl=NOT_GLSL),
        INVALID, r"^glsl: GLSL compilation failed:\n(ERROR: )?shader:4: "),
    Row("empty GLSL",
        lambda c: c.create_algorithm([c.a], glsl=""),
        INVALID, r"^glsl: GLSL source is empty$"),

    # -- CreateAlgorithm: tensors, workgroup, constants against the shader and the device
    Row("algorithm naming an unknown tensor",
        lambda c: c.create_algorithm([c.a, UNKNOWN_HANDLE, c.c], glsl=MULTIPLY_GLSL),
        NOT_FOUND, rf"^tensors\[1\]: tensor {UNKNOWN_HANDLE} does not exist in this session$"),
    Row("algorithm naming another session's tensor",
        lambda c: c.create_algorithm([c.a, c.b, c.foreign], glsl=MULTIPLY_GLSL),
        NOT_FOUND, r"^tensors\[2\]: tensor \d+ does not exist in this session$"),
    Row("algorithm binding a tensor twice",
        lambda c: c.create_algorithm([c.a, c.b, c.a], glsl=MULTIPLY_GLSL),
        INVALID, r"^tensors\[2\] is the same tensor as tensors\[0\]: a tensor can be bound only "
                 r"once$"),
    Row("algorithm binding more tensors than the device allows",
        lambda c: c.create_algorithm(
            [c.a] * (c.device.max_storage_buffers_per_algorithm + 1), glsl=MULTIPLY_GLSL),
        INVALID, r"^tensors: \d+ given; the device binds at most \d+ per algorithm"),
    Row("shader using more bindings than tensors bound",
        lambda c: c.create_algorithm([c.a], glsl=MULTIPLY_GLSL),
        INVALID, r"^tensors: the shader uses binding [12] but the algorithm binds 1 tensor\(s\) "
                 r"\(bindings 0\.\.0\)$"),
    Row("shader using a uniform buffer",
        lambda c: c.create_algorithm([c.a, c.b], glsl=UNIFORM_BUFFER),
        INVALID, r"^spirv: the shader's descriptor set 0 binding 0 is a uniform buffer"),
    Row("shader using descriptor set 1",
        lambda c: c.create_algorithm([c.a], glsl=SET_ONE),
        INVALID, r"^spirv: the shader uses descriptor set 1 binding 0; tensors are bound at set 0"),
    Row("push constants smaller than the shader's block",
        lambda c: c.create_algorithm([c.a], glsl=PUSH_12_BYTES,
                                     push_constants=constants(F32, f32(1))),
        INVALID, r"^push_constants: the shader's push-constant block spans 12 bytes, but the "
                 r"algorithm has 4 bytes"),
    Row("push constants beyond the device's maxPushConstantsSize",
        lambda c: c.create_algorithm(
            [c.a], glsl=PUSH_12_BYTES,
            push_constants=constants(F32, b"\0" * (c.device.max_push_constants_size + 4))),
        INVALID, r"^push_constants: \d+ bytes exceeds the device's maxPushConstantsSize"),
    Row("push constants that are not whole values",
        lambda c: c.create_algorithm([c.a], glsl=PUSH_12_BYTES,
                                     push_constants=constants(F32, b"\0" * 5)),
        INVALID, r"^push_constants\.values has 5 bytes, not a whole number of float32 values"),
    Row("push constants without a data type",
        lambda c: c.create_algorithm([c.a], glsl=PUSH_12_BYTES,
                                     push_constants=types_pb2.Constants(values=f32(1, 2, 3))),
        INVALID, r"^push_constants\.data_type is not set"),
    Row("spec constants with a byte count that is not a multiple",
        lambda c: c.create_algorithm([c.a], glsl=SPEC_FLOAT,
                                     spec_constants=constants(F32, b"\0" * 6)),
        INVALID, r"^spec_constants\.values has 6 bytes, not a whole number of float32 values"),
    Row("spec constants with a data_type out of range",
        lambda c: c.create_algorithm([c.a], glsl=SPEC_FLOAT,
                                     spec_constants=constants(42, f32(1))),
        INVALID, r"^spec_constants\.data_type has unknown value 42$"),
    Row("float64 spec constant for a float shader constant",
        lambda c: c.create_algorithm([c.a], glsl=SPEC_FLOAT,
                                     spec_constants=constants(F64, b"\0" * 8)),
        INVALID, r"^spec_constants: constant_id 0 is a 32-bit float \(4 bytes\) in the shader, "
                 r"but the float64 values given are 8 bytes each$"),
    Row("workgroup.x beyond maxComputeWorkGroupCount",
        lambda c: c.create_algorithm([c.a], glsl=PUSH_12_BYTES,
                                     push_constants=constants(F32, f32(1, 2, 3)),
                                     workgroup=types_pb2.Workgroup(
                                         x=c.device.max_work_group_count[0] + 1)),
        INVALID, r"^workgroup\.x = \d+ exceeds the device's maxComputeWorkGroupCount\[0\]"),
    Row("workgroup.z beyond maxComputeWorkGroupCount",
        lambda c: c.create_algorithm([c.a], glsl=PUSH_12_BYTES,
                                     push_constants=constants(F32, f32(1, 2, 3)),
                                     workgroup=types_pb2.Workgroup(x=1, z=2**32 - 1)),
        INVALID, r"^workgroup\.z = 4294967295 exceeds the device's maxComputeWorkGroupCount\[2\]"),
    Row("default workgroup without any tensor",
        lambda c: c.create_algorithm([], glsl=SET_ONE.replace("set = 1", "set = 0")),
        INVALID, r"^workgroup\.x is 0 and there is no tensor to take the default size from$"),
    Row("local size (from a spec constant) beyond maxComputeWorkGroupSize",
        lambda c: c.create_algorithm([c.a], glsl=LOCAL_SIZE_FROM_SPEC,
                                     spec_constants=constants(U32, struct.pack("<I", 100000))),
        INVALID, r"^spec_constants: the shader's local size x = 100000 exceeds the device's "
                 r"maxComputeWorkGroupSize\[0\]"),
    Row("local size beyond maxComputeWorkGroupInvocations",
        lambda c: c.create_algorithm([c.a], glsl=TOO_MANY_INVOCATIONS),
        INVALID, r"^spirv: the shader's local size \(1024 x 2 x 1 = 2048 invocations\) exceeds "
                 r"the device's maxComputeWorkGroupInvocations"),
    Row("shared memory beyond maxComputeSharedMemorySize",
        lambda c: c.create_algorithm([c.a], glsl=TOO_MUCH_SHARED_MEMORY),
        INVALID, r"^spirv: the shader's shared \(Workgroup\) variables take 400000 bytes"),
    Row("algorithm on a destroyed tensor",
        lambda c: c.create_algorithm([c.destroyed], glsl=SPEC_FLOAT),
        NOT_FOUND, r"^tensors\[0\]: tensor \d+ does not exist in this session$"),
    Row("DestroyAlgorithm of a destroyed algorithm",
        lambda c: c.call("DestroyAlgorithm", algorithm=c.destroyed_algorithm),
        NOT_FOUND, r"^algorithm: algorithm \d+ does not exist in this session$"),

    # -- sequences
    Row("sequence on a queue_index out of range",
        lambda c: c.call("CreateSequence", queue_index=5),
        INVALID, r"^queue_index 5 out of range: the session has 1 queue\(s\)$"),
    Row("sequence with 2^32-1 timestamps",
        lambda c: c.call("CreateSequence", total_timestamps=2**32 - 1),
        EXHAUSTED, r"^total_timestamps 4294967295 exceeds the limit of 65536 "
                   r"\(--max-timestamps\)$"),
    Row("DestroySequence of a destroyed sequence",
        lambda c: c.call("DestroySequence", sequence=c.destroyed_sequence),
        NOT_FOUND, r"^sequence: sequence \d+ does not exist in this session$"),
    Row("RecordSequence of an unknown sequence",
        lambda c: c.record(sync_local(c.a), sequence=UNKNOWN_HANDLE),
        NOT_FOUND, rf"^sequence: sequence {UNKNOWN_HANDLE} does not exist in this session$"),
    Row("op with nothing set",
        lambda c: c.record(sync_local(c.a), op()),
        INVALID, r"^ops\[1\] has no op set$"),
    Row("more ops than a sequence may record",
        lambda c: c.record(*([sync_local(c.a)] * 65537)),
        EXHAUSTED, r"^ops: 65537 ops of weight 65537 \(an op counts once per tensor it names, "
                   r"at least once\), more than a sequence may record "
                   r"\(--max-sequence-ops 65536\)$"),
    Row("one op naming more tensors than a sequence may record",
        lambda c: c.record(sync_local(*range(1, 70001))),
        EXHAUSTED, r"^ops: 1 ops of weight 70000 .*\(--max-sequence-ops 65536\)$"),
    Row("sync-device of a storage tensor",
        lambda c: c.record(sync_device(c.a, c.storage)),
        INVALID, r"^ops\[0\]: OpTensorSyncDevice: tensors\[1\] is a storage tensor"),
    Row("sync-local without tensors",
        lambda c: c.record(sync_local()),
        INVALID, r"^ops\[0\]: OpTensorSyncLocal: tensors is empty$"),
    Row("sync-local naming a tensor twice",
        lambda c: c.record(sync_local(c.a, c.b, c.a)),
        INVALID, r"^ops\[0\]\.tensor_sync_local\.tensors\[2\]: tensor \d+ is also "
                 r"ops\[0\]\.tensor_sync_local\.tensors\[0\]"),
    Row("sync-device of another session's tensor",
        lambda c: c.record(sync_device(c.foreign)),
        NOT_FOUND, r"^ops\[0\]\.tensor_sync_device\.tensors\[0\]: tensor \d+ does not exist"),
    Row("copy with a single tensor",
        lambda c: c.record(copy(c.a)),
        INVALID, r"^ops\[0\]: OpTensorCopy: needs at least 2 tensors"),
    Row("copy between data types",
        lambda c: c.record(copy(c.a, c.int3)),
        INVALID, r"^ops\[0\]: OpTensorCopy: tensors\[1\] has data type int32, tensors\[0\] has "
                 r"float32$"),
    Row("copy between sizes",
        lambda c: c.record(copy(c.a, c.four)),
        INVALID, r"^ops\[0\]: OpTensorCopy: tensors\[1\] has 4 elements, tensors\[0\] has 3$"),
    Row("mult with two tensors",
        lambda c: c.record(mult(c.a, c.b)),
        INVALID, r"^ops\[0\]: OpMult: needs 3 tensors \(lhs, rhs, output\), got 2$"),
    Row("mult of int32 tensors",
        lambda c: c.record(mult(c.a, c.b, c.int3)),
        INVALID, r"^ops\[0\]: OpMult: tensors\[2\] has data type int32; the multiply shader "
                 r"needs float32$"),
    Row("dispatch of an unknown algorithm",
        lambda c: c.record(op(algo_dispatch=types_pb2.OpAlgoDispatch(algorithm=UNKNOWN_HANDLE))),
        NOT_FOUND, r"^ops\[0\]\.algo_dispatch\.algorithm: algorithm \d+ does not exist"),
    Row("dispatch of a destroyed algorithm",
        lambda c: c.record(op(algo_dispatch=types_pb2.OpAlgoDispatch(
            algorithm=c.destroyed_algorithm))),
        NOT_FOUND, r"^ops\[0\]\.algo_dispatch\.algorithm: algorithm \d+ does not exist"),
    Row("dispatch of an algorithm whose tensor was destroyed",
        lambda c: c.record(op(algo_dispatch=types_pb2.OpAlgoDispatch(
            algorithm=c.orphan_algorithm))),
        PRECONDITION, r"^ops\[0\]: the algorithm's tensors\[0\] was destroyed$"),
    Row("dispatch with push constants of another size",
        lambda c: c.record(op(algo_dispatch=types_pb2.OpAlgoDispatch(
            algorithm=c.algorithm, push_constants=constants(F32, f32(1, 2))))),
        INVALID, r"^ops\[0\]: push_constants: 8 bytes given, but the algorithm was created with "
                 r"12 bytes"),
    Row("dispatch with push constants of an unknown type",
        lambda c: c.record(op(algo_dispatch=types_pb2.OpAlgoDispatch(
            algorithm=c.algorithm, push_constants=constants(0, f32(1, 2, 3))))),
        INVALID, r"^ops\[0\]\.algo_dispatch\.push_constants\.data_type is not set"),
    Row("memory barrier with an unknown access bit",
        lambda c: c.record(barrier([c.a], src_access=1 << 31)),
        INVALID, r"^ops\[0\]: OpMemoryBarrier: access masks may use only shader, transfer, host "
                 r"and memory bits$"),
    Row("memory barrier with an empty stage mask",
        lambda c: c.record(barrier([c.a], dst_stage=0)),
        INVALID, r"^ops\[0\]: OpMemoryBarrier: stage masks must be non-zero"),
    Row("memory barrier with access its stage does not support",
        lambda c: c.record(barrier([c.a], src_access=0x40, src_stage=0x1000)),  # shader write
        INVALID, r"^ops\[0\]: OpMemoryBarrier: srcAccessMask has access bits that srcStageMask "
                 r"does not support"),
    Row("memory barrier on the staging buffer of a host tensor",
        lambda c: c.record(barrier([c.host], primary=False)),
        INVALID, r"^ops\[0\]: OpMemoryBarrier: barrier_on_primary is false but a tensor has no "
                 r"staging buffer"),

    # -- Eval / EvalAsync / EvalAwait
    Row("Eval without a sequence and without ops",
        lambda c: c.call("Eval"),
        INVALID, r"^ops: evaluating without a sequence \(sequence = 0\) needs at least one op$"),
    Row("EvalAsync with sequence 0",
        lambda c: c.call("EvalAsync", ops=[sync_local(c.a)]),
        INVALID, r"^sequence: EvalAsync needs a sequence handle to await"),
    Row("EvalAsync with timeout_ms",
        lambda c: c.call("EvalAsync", sequence=c.sequence, timeout_ms=5),
        INVALID, r"^timeout_ms applies to Eval only"),
    Row("Eval with ops but record = false",
        lambda c: c.call("Eval", sequence=c.sequence, ops=[sync_local(c.a)]),
        INVALID, r"^ops: 1 op\(s\) given with record = false"),
    Row("Eval of a destroyed sequence",
        lambda c: c.call("Eval", sequence=c.destroyed_sequence),
        NOT_FOUND, r"^sequence: sequence \d+ does not exist in this session$"),
    Row("Eval of another session's sequence handle",
        lambda c: c.stub.Eval(compute_pb2.EvalRequest(session=c.other.id, sequence=c.sequence)),
        NOT_FOUND, r"^sequence: sequence \d+ does not exist in this session$"),
    Row("Eval of a sequence whose tensor was destroyed",
        lambda c: c.call("Eval", sequence=c.stale_sequence),
        PRECONDITION, r"^sequence \d+: ops\[0\]: OpTensorCopy: tensors\[1\] was destroyed$"),
    Row("upload of the same tensor twice",
        lambda c: c.call("Eval", ops=[sync_device(c.a)], uploads=[
            types_pb2.TensorData(tensor=c.a, data=f32(1, 2, 3)),
            types_pb2.TensorData(tensor=c.a, data=f32(1, 2, 3))]),
        INVALID, r"^uploads\[1\]\.tensor: tensor \d+ appears more than once in uploads$"),
    Row("upload of the wrong size",
        lambda c: c.call("Eval", ops=[sync_device(c.a)], uploads=[
            types_pb2.TensorData(tensor=c.a, data=f32(1))]),
        INVALID, r"^uploads\[0\]\.data has 4 bytes; tensor \d+ has 12$"),
    Row("upload to a storage tensor",
        lambda c: c.call("Eval", ops=[sync_device(c.a)], uploads=[
            types_pb2.TensorData(tensor=c.storage, data=f32(1, 2, 3))]),
        INVALID, r"^uploads\[0\]\.tensor: tensor \d+ is a storage tensor"),
    Row("upload to an unknown tensor",
        lambda c: c.call("Eval", ops=[sync_device(c.a)], uploads=[
            types_pb2.TensorData(tensor=UNKNOWN_HANDLE, data=f32(1, 2, 3))]),
        NOT_FOUND, r"^uploads\[0\]\.tensor: tensor \d+ does not exist in this session$"),
    Row("EvalAwait of an unknown sequence",
        lambda c: c.call("EvalAwait", sequence=UNKNOWN_HANDLE, timeout_ns=1),
        NOT_FOUND, r"^sequence: sequence \d+ does not exist in this session$"),
    Row("EvalAwait with sequence 0",
        lambda c: c.call("EvalAwait", sequence=0),
        NOT_FOUND, r"^sequence: sequence 0 is not a valid handle$"),

    # -- objects of a running evaluation
    Row("WriteTensor of a tensor a running evaluation uses",
        lambda c: c.call("WriteTensor", tensor=c.busy, data=f32(1, 2, 3)),
        PRECONDITION, r"^tensor \d+ is used by a running evaluation; await it before writing"),
    Row("upload to a tensor a running evaluation uses",
        lambda c: c.call("Eval", ops=[sync_local(c.a)], uploads=[
            types_pb2.TensorData(tensor=c.busy, data=f32(1, 2, 3))]),
        PRECONDITION, r"^uploads\[0\]\.tensor: tensor \d+ is used by a running evaluation"),
    Row("DestroyTensor of a tensor a running evaluation uses",
        lambda c: c.call("DestroyTensor", tensor=c.busy),
        PRECONDITION, r"^tensor \d+ is used by a running evaluation; await it before destroying"),
    Row("DestroyAlgorithm of an algorithm a running evaluation uses",
        lambda c: c.call("DestroyAlgorithm", algorithm=c.busy_algorithm),
        PRECONDITION, r"^algorithm \d+ is used by a running evaluation"),
    Row("Eval of a running sequence",
        lambda c: c.call("Eval", sequence=c.busy_sequence),
        PRECONDITION, r"^sequence \d+ is running; await it before evaluating it again$"),
    Row("RecordSequence of a running sequence",
        lambda c: c.record(sync_local(c.a), sequence=c.busy_sequence),
        PRECONDITION, r"^sequence \d+ is running; await it before recording$"),

    # -- CompileShader
    Row("CompileShader of empty source",
        lambda c: c.stub.CompileShader(compute_pb2.CompileShaderRequest(glsl="")),
        INVALID, r"^glsl: GLSL source is empty$"),
    Row("CompileShader of source that does not compile",
        lambda c: c.stub.CompileShader(compute_pb2.CompileShaderRequest(
            glsl=NOT_GLSL, name="bad.comp")),
        INVALID, r"^glsl: GLSL compilation failed:\n(ERROR: )?bad\.comp:4: "),
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


def test_table_is_large_enough():
    assert len(ROWS) >= 50
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


def test_accepted_edge_cases(ctx):
    """Edge cases that are not errors: awaiting a sequence never evaluated, a lease above the
    maximum (lowered to it), an upload of a tensor that no op syncs."""
    reply = ctx.call("EvalAwait", sequence=ctx.never_evaluated, timeout_ns=0)
    assert reply.finished and not reply.downloads and not reply.timestamps
    # The sequence the rows found running completes, untouched by them.
    reply = ctx.call("EvalAwait", sequence=ctx.busy_sequence, timeout_ns=30 * 10**9)
    assert reply.finished
    (download,) = reply.downloads
    assert download.tensor == ctx.busy and download.data == f32(3, 0, 0)
    first = open_session(ctx, lease_seconds=2**32 - 1)
    assert first.opened.lease_seconds == 7 * 24 * 3600
    reply = ctx.call("Eval", ops=[sync_local(ctx.b)],
                     uploads=[types_pb2.TensorData(tensor=ctx.a, data=f32(7, 8, 9))])
    assert reply.finished
    assert ctx.call("ReadTensor", tensor=ctx.a).data == f32(7, 8, 9)


def test_rejected_requests_changed_nothing(ctx):
    """The objects the rows aimed at still work: a valid evaluation of them is right."""
    with pytest.raises(grpc.RpcError) as raised:  # a refused evaluation uploads nothing
        ctx.call("Eval", sequence=ctx.stale_sequence,
                 uploads=[types_pb2.TensorData(tensor=ctx.b, data=f32(0, 0, 0))])
    assert raised.value.code() == PRECONDITION
    assert ctx.call("ReadTensor", tensor=ctx.b).data == f32(4, 5, 6)
    ctx.call("WriteTensor", tensor=ctx.a, data=f32(1, 2, 3))
    reply = ctx.call("Eval", record=True, ops=[
        sync_device(ctx.a, ctx.b), mult(ctx.a, ctx.b, ctx.c), sync_local(ctx.c)])
    (download,) = reply.downloads
    assert download.tensor == ctx.c
    assert np.frombuffer(download.data, dtype=np.float32).tolist() == [4, 10, 18]


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
