#!/usr/bin/env python3
"""Writes the request fuzzer's seed inputs (FuzzInput messages, tests/fuzz/fuzz_input.proto).

    .venv/bin/python tests/fuzz/make_seeds.py [OUT_DIR]     (default: tests/fuzz/corpus)
    .venv/bin/python tests/fuzz/make_seeds.py --dump FILE...  (print inputs as text)

Without OUT_DIR it also writes tests/fuzz/regressions/: inputs that once were findings,
replayed by CTest (request_fuzzer_corpus).

Each seed is a meaningful client session: a multiply, push and specialisation constants of
every type, copies between tensor types, async/await, streams, shared memory, two sessions,
and requests that must be refused (bad fields, quotas). The fuzzer mutates them into deeper
states than random bytes would reach. Files are named seed-<what>; rerunning overwrites them.

Handles in the seeds are FuzzInput handle numbers: tensor 1 is the first tensor the input
created, and so on (see fuzz_input.proto). Shaders are the harness's embedded ones, by
number (CreateAlgorithm.builtin, 1-based, in the order of fuzz_shaders.cc).
Needs grpcio-tools (in .venv after scripts/setup) to compile the protos.
"""
import importlib
import os
import struct
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))

# CreateAlgorithm.builtin numbers (fuzz_shaders.cc).
MULTIPLY, SCALE_PUSH, UINT_INCREMENT, INT_SPEC_PUSH, DOUBLE, BOUNDED_LOOP, EMPTY, \
    SHARED_LOCAL_SIZE, OUT_OF_BOUNDS, FOUR_BINDINGS = range(1, 11)


def compile_protos():
    from grpc_tools import protoc
    import grpc_tools
    out = tempfile.mkdtemp(prefix="kp-fuzz-seeds-")
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    for proto in ["kp/v1/types.proto", "kp/v1/compute.proto"]:
        assert protoc.main(["protoc", f"-I{ROOT}/proto", f"-I{include}", f"--python_out={out}",
                            proto]) == 0, proto
    assert protoc.main(["protoc", f"-I{HERE}", f"-I{ROOT}/proto", f"-I{include}",
                        f"--python_out={out}", "fuzz_input.proto"]) == 0
    sys.path.insert(0, out)
    return (importlib.import_module("fuzz_input_pb2"), importlib.import_module("kp.v1.types_pb2"),
            importlib.import_module("kp.v1.compute_pb2"))


fz, types, compute = compile_protos()
F32, I32, U32, F64, BOOL = (types.DATA_TYPE_FLOAT32, types.DATA_TYPE_INT32,
                            types.DATA_TYPE_UINT32, types.DATA_TYPE_FLOAT64, types.DATA_TYPE_BOOL)
DEVICE, HOST, STORAGE = types.TENSOR_TYPE_DEVICE, types.TENSOR_TYPE_HOST, types.TENSOR_TYPE_STORAGE
PACK = {F32: "f", I32: "i", U32: "I", F64: "d", BOOL: "I", types.DATA_TYPE_UNSPECIFIED: "f"}


def pack(dtype, values):
    return struct.pack("<%d%s" % (len(values), PACK[dtype]), *values)


class Seed:
    def __init__(self):
        self.input = fz.FuzzInput()

    def call(self, session=fz.MAIN, fit=False, cancel=False):
        call = self.input.calls.add()
        call.session = session
        call.fit_data = fit
        call.cancel = cancel
        return call

    def tensor(self, values=None, dtype=F32, ttype=DEVICE, size=None, **kw):
        request = self.call(**kw).create_tensor
        request.data_type = dtype
        request.tensor_type = ttype
        request.size = size if size is not None else len(values)
        if values is not None:
            request.data = pack(dtype, values)
        return request

    def algorithm(self, tensors, builtin=0, workgroup=None, spec=None, push=None, glsl=False,
                  **kw):
        create = self.call(**kw).create_algorithm
        create.builtin = builtin
        create.as_glsl = glsl
        create.request.tensors.extend(tensors)
        if workgroup:
            create.request.workgroup.x, create.request.workgroup.y, create.request.workgroup.z = \
                workgroup
        for field, constants in (("spec_constants", spec), ("push_constants", push)):
            if constants:
                target = getattr(create.request, field)
                target.data_type = constants[0]
                target.values = pack(constants[0], constants[1])
        return create

    def sequence(self, queue_index=0, timestamps=0, **kw):
        request = self.call(**kw).create_sequence
        request.queue_index = queue_index
        request.total_timestamps = timestamps
        return request

    def eval(self, ops, sequence=0, record=None, uploads=(), async_=False, **kw):
        call = self.call(**kw)
        request = call.eval_async if async_ else call.eval
        request.sequence = sequence
        request.record = bool(ops) if record is None else record
        for op in ops:
            request.ops.add().CopyFrom(op)
        for tensor, data in uploads:
            request.uploads.add(tensor=tensor, data=data)
        return request

    def record(self, sequence, ops, **kw):
        request = self.call(**kw).record_sequence
        request.sequence = sequence
        for op in ops:
            request.ops.add().CopyFrom(op)
        return request

    def await_(self, sequence, timeout_ns=1_000_000_000, **kw):
        request = self.call(**kw).eval_await
        request.sequence = sequence
        request.timeout_ns = timeout_ns
        return request

    def bytes(self):
        return self.input.SerializeToString()


def sync_device(*tensors):
    return types.Op(tensor_sync_device=types.OpTensorSyncDevice(tensors=tensors))


def sync_local(*tensors):
    return types.Op(tensor_sync_local=types.OpTensorSyncLocal(tensors=tensors))


def copy(*tensors):
    return types.Op(tensor_copy=types.OpTensorCopy(tensors=tensors))


def mult(*tensors):
    return types.Op(mult=types.OpMult(tensors=tensors))


def dispatch(algorithm, push=None):
    op = types.Op(algo_dispatch=types.OpAlgoDispatch(algorithm=algorithm))
    if push:
        op.algo_dispatch.push_constants.data_type = push[0]
        op.algo_dispatch.push_constants.values = pack(push[0], push[1])
    return op


def barrier(*tensors, src=0x20, dst=0x40, primary=True):
    return types.Op(memory_barrier=types.OpMemoryBarrier(
        tensors=tensors, src_access_mask=src, dst_access_mask=dst, src_stage_mask=0x800,
        dst_stage_mask=0x1000, barrier_on_primary=primary))


def seeds():
    s = Seed()  # the README's example: out = lhs * rhs
    s.tensor([2, 4, 6]); s.tensor([0, 1, 2]); s.tensor([0, 0, 0])
    s.algorithm([1, 2, 3], MULTIPLY)
    s.eval([sync_device(1, 2), dispatch(1), sync_local(3)])
    s.call().read_tensor.tensor = 3
    yield "multiply", s

    s = Seed()  # the same through OpMult, then with GLSL source, rerun with new uploads
    s.tensor([1.5] * 8); s.tensor([2] * 8); s.tensor(size=8)
    s.eval([sync_device(1, 2), mult(1, 2, 3), sync_local(3)])
    s.algorithm([1, 2, 3], MULTIPLY, glsl=True, workgroup=(1, 1, 1))
    s.sequence()
    s.record(1, [sync_device(1, 2), dispatch(1), sync_local(3)])
    s.eval([], sequence=1, uploads=[(1, pack(F32, [3] * 8))])
    s.eval([], sequence=1, uploads=[(2, b"")], fit=True)
    yield "multiply-sequence", s

    s = Seed()  # push and specialisation constants: defaults, then a per-dispatch override
    s.tensor([1, 2, 3, 4]); s.tensor(size=4)
    s.algorithm([1, 2], SCALE_PUSH, spec=(F32, [0.5]), push=(F32, [2, 1]))
    s.eval([sync_device(1), dispatch(1), dispatch(1, (F32, [3, -1])), sync_local(2)])
    yield "push-constants", s

    s = Seed()  # int, uint, bool and double constants and tensors
    s.tensor([1, 2, 3], dtype=U32)
    s.algorithm([1], UINT_INCREMENT, spec=(U32, [5]))
    s.tensor([-1, 0, 7], dtype=I32)
    s.algorithm([2], INT_SPEC_PUSH, spec=(I32, [3]), push=(I32, [2]))
    s.algorithm([2], INT_SPEC_PUSH, spec=(BOOL, [1]), push=(I32, [-4]))
    s.tensor([0.5, 1e300], dtype=F64)
    s.algorithm([3], DOUBLE, push=(F64, [2.5]))
    s.tensor([1, 0, 1], dtype=BOOL)
    s.eval([sync_device(1, 2, 3), dispatch(1), dispatch(2), dispatch(3), dispatch(4),
            sync_local(1, 2, 3, 4)])
    yield "constants-of-every-type", s

    s = Seed()  # copies between tensor types; storage tensors have no host copy
    s.tensor([1, 2, 3, 4], ttype=HOST); s.tensor(size=4, ttype=DEVICE)
    s.tensor(size=4, ttype=STORAGE); s.tensor(size=4, ttype=HOST)
    s.eval([sync_device(1), copy(1, 2, 3), copy(3, 4), barrier(2, 3, dst=0x800),
            sync_local(2, 4)])
    s.call().read_tensor.tensor = 3
    s.call().write_tensor.tensor = 3
    yield "copy", s

    s = Seed()  # async/await, a busy sequence, destroying things while it runs
    s.tensor([1], size=4096, fit=True); s.tensor(size=4096)
    s.algorithm([1, 2], BOUNDED_LOOP, push=(U32, [64]), workgroup=(1024, 1, 1))
    s.sequence(timestamps=8)
    s.record(1, [sync_device(1), dispatch(1), dispatch(1), sync_local(2)])
    s.eval([], sequence=1, async_=True)
    s.eval([], sequence=1, async_=True)
    s.call(fit=True).write_tensor.tensor = 1
    s.call().destroy_tensor.tensor = 2
    s.call().destroy_algorithm.algorithm = 1
    s.await_(1, timeout_ns=0)
    s.await_(1)
    s.await_(1)
    s.eval([dispatch(1)], sequence=1, async_=True)
    s.call().destroy_sequence.sequence = 1
    yield "async-await", s

    s = Seed()  # an evaluation given up by its caller, and one awaited after a short timeout
    s.tensor([1], size=4096, fit=True); s.tensor(size=4096)
    s.algorithm([1, 2], BOUNDED_LOOP, push=(U32, [64]), workgroup=(1024, 2, 2))
    s.eval([dispatch(1), dispatch(1)], cancel=True)
    s.sequence()
    s.eval([dispatch(1), sync_local(2)], sequence=1).timeout_ms = 1
    s.await_(1, timeout_ns=10)
    yield "cancel-and-timeout", s

    s = Seed()  # chunked writes and reads
    s.tensor(size=300, dtype=I32)
    stream = s.call().write_tensor_stream
    stream.chunks.add(tensor=1, offset=0, data=b"\1" * 600)
    stream.chunks.add(offset=600, data=b"\2" * 600)
    s.call().read_tensor_stream.tensor = 1
    s.call().read_tensor_stream.CopyFrom(compute.ReadTensorStreamRequest(tensor=1, chunk_bytes=7))
    stream = s.call().write_tensor_stream
    stream.chunks.add(tensor=1, offset=1190, data=b"\3" * 20)
    yield "streams", s

    s = Seed()  # shared-memory tensors
    s.input.attach_local = True
    s.tensor([1, 2, 3]).shared_memory = True
    s.tensor(size=3, ttype=HOST).shared_memory = True
    s.tensor(size=3)
    s.eval([sync_device(1), copy(1, 2, 3), sync_local(2, 3)])
    s.tensor(size=3, ttype=STORAGE).shared_memory = True
    s.call().map_arena.arena = 1
    s.call().map_arena.arena = 2
    s.call(session=fz.SECOND).attach.SetInParent()
    s.tensor([4, 5], session=fz.SECOND).shared_memory = True
    yield "shared-memory", s

    s = Seed()  # two sessions: each its own objects; the second cannot name the first's
    s.tensor([1, 2]); s.tensor([3, 4])
    s.tensor([5, 6], session=fz.SECOND)
    s.call(session=fz.SECOND_NAMING_MAIN).read_tensor.tensor = 1
    s.call(session=fz.SECOND_NAMING_MAIN).destroy_tensor.tensor = 2
    s.eval([sync_local(1)], session=fz.SECOND_NAMING_MAIN)
    s.eval([sync_local(1)], session=fz.SECOND)
    s.call(session=fz.SECOND).close_session.SetInParent()
    s.call().get_status.SetInParent()
    yield "two-sessions", s

    s = Seed()  # shaders with a specialised local size, shared memory, out-of-bounds access
    s.tensor([1] * 256); s.tensor(size=16)
    s.algorithm([1], SHARED_LOCAL_SIZE, spec=(U32, [64]), workgroup=(4, 1, 1))
    s.algorithm([1, 2], OUT_OF_BOUNDS, push=(U32, [1 << 30]))
    s.algorithm([], EMPTY, workgroup=(3, 2, 1))
    s.tensor([1, 2], dtype=F32); s.tensor([1, 2], dtype=I32); s.tensor([1, 2], dtype=U32)
    s.algorithm([3, 4, 5, 2], FOUR_BINDINGS)
    s.eval([sync_device(1), dispatch(1), dispatch(2), dispatch(3), dispatch(4),
            sync_local(1, 2)])
    yield "shader-interfaces", s

    s = Seed()  # SPIR-V that fails validation: patched words, truncated, random bytes, GLSL
    s.tensor([1, 2, 3]); s.tensor([1, 2, 3]); s.tensor(size=3)
    create = s.algorithm([1, 2, 3], MULTIPLY)
    create.patches.add(index=1, value=0x00010700)
    create = s.algorithm([1, 2, 3], MULTIPLY)
    create.truncate_words = 7
    create = s.algorithm([1, 2, 3], MULTIPLY)
    create.patches.add(index=5, value=0xdeadbeef)
    s.algorithm([1, 2, 3]).request.spirv = b"\x03\x02\x23\x07" + b"\0" * 19
    s.algorithm([1, 2, 3]).request.glsl = "#version 450\nvoid main() { undefined(); }\n"
    s.algorithm([1, 2, 3]).request.glsl = ("#version 450\n#extension GL_EXT_shader_explicit_"
                                           "arithmetic_types_float16 : require\nlayout(local_size"
                                           "_x = 1) in;\nvoid main() { float16_t x = 1.0hf; }\n")
    s.algorithm([1, 2], MULTIPLY)  # binding 2 not bound
    s.algorithm([1, 2, 3], SCALE_PUSH)  # push constants missing
    s.algorithm([1, 2, 3], MULTIPLY, spec=(F64, [1]))  # no such constant
    s.call().compile_shader.glsl = "#version 450\nlayout(local_size_x = 1) in;\nvoid main() {}\n"
    s.call().compile_shader.CopyFrom(compute.CompileShaderRequest(glsl="void main() {", name="x"))
    yield "bad-shaders", s

    s = Seed()  # malformed requests: each field wrong in turn
    s.tensor(size=0)
    s.tensor([1, 2, 3], size=4)
    s.tensor([1], dtype=types.DATA_TYPE_UNSPECIFIED)
    s.tensor([1], ttype=9)
    s.tensor(size=(1 << 64) - 1)
    s.tensor([1, 2, 3]); s.tensor([1, 2]); s.tensor([3, 4, 5])
    s.algorithm([1, 1, 2], MULTIPLY)
    s.algorithm([1, 2, 3], MULTIPLY, workgroup=(1 << 20, 1, 1))
    s.algorithm([1, 2, 1], SCALE_PUSH, push=(F32, [1]))
    s.algorithm([1, 2], SCALE_PUSH, push=(F32, [1, 2]), spec=(I32, [1]))
    s.algorithm([1, 2], SCALE_PUSH, push=(F32, [1, 2]))
    s.eval([dispatch(1, (F32, [1]))])
    s.eval([dispatch(1, (F32, [1, 2, 3]))])
    s.eval([mult(1, 2, 1)]); s.eval([copy(1)]); s.eval([copy(1, 2)])
    s.eval([sync_local(1, 1)]); s.eval([types.Op()])
    s.eval([barrier(1, src=0xffffffff)])
    s.eval([sync_device(7)]); s.eval([dispatch(9)]); s.eval([])
    s.eval([sync_local(1)], sequence=5)
    s.eval([sync_local(1)], async_=True)
    s.eval([sync_local(1)], uploads=[(1, b"\0" * 12), (1, b"\0" * 12)])
    s.eval([sync_local(1)], uploads=[(1, b"\0" * 5)])
    s.sequence(queue_index=3); s.sequence(timestamps=1 << 20)
    s.sequence()
    s.eval([sync_local(1)], sequence=1, record=False)
    s.call().destroy_tensor.tensor = 1
    s.call().destroy_tensor.tensor = 1
    s.eval([], sequence=1)
    s.call().write_tensor.tensor = 2
    s.call().destroy_sequence.sequence = 2
    s.call().read_tensor.session = "not-a-session"
    yield "bad-requests", s

    s = Seed()  # every quota: memory, objects, reply size, ops, timestamps
    s.tensor(size=200_000)
    s.tensor(size=100_000)
    s.tensor(size=50_000)
    s.eval([sync_local(1)])
    s.call().read_tensor.tensor = 1
    s.eval([sync_local(2)]).inline_download_limit = 1024
    s.sequence(timestamps=65)
    s.eval([sync_device(3)] * 33)
    for _ in range(50):
        s.sequence()
    yield "quotas", s

    s = Seed()  # a session closed mid-input, then used
    s.tensor([1, 2])
    s.sequence()
    s.eval([sync_local(1)], sequence=1, async_=True)
    s.call().close_session.SetInParent()
    s.call().read_tensor.tensor = 1
    s.await_(1)
    yield "close-mid-input", s

    s = Seed()  # an unusual session: custom queue families and lease, a long client name
    s.input.open.queue_families.extend([0])
    s.input.open.lease_seconds = 1
    s.input.open.client_name = "fuzz \x01\x7f client"
    s.tensor([1])
    s.sequence(timestamps=4)
    s.eval([sync_device(1), sync_local(1)], sequence=1)
    yield "open-session", s

    s = Seed()  # requests as raw bytes, decoded as gRPC would (no handle numbering)
    raw = s.call().raw
    raw.type = 0
    raw.data = compute.CreateTensorRequest(data_type=F32, size=4).SerializeToString()
    raw = s.call().raw
    raw.type = 11
    raw.data = compute.EvalRequest(ops=[sync_local(1)]).SerializeToString()
    raw = s.call().raw
    raw.type = 6
    raw.data = compute.CreateAlgorithmRequest(spirv=b"\x03\x02\x23\x07").SerializeToString()
    yield "raw-requests", s

    s = Seed()  # pipelined creation: a client arena, then creations with client handles
    s.input.attach_local = True
    client = 1 << 63
    s.call().new_arena.size = 4096
    actions = s.call().apply.actions
    actions.add().create_tensor.CopyFrom(compute.CreateTensorRequest(
        data_type=F32, size=3, handle=client | 1, data=pack(F32, [1, 2, 3])))
    actions.add().create_tensor.CopyFrom(compute.CreateTensorRequest(
        data_type=F32, size=3, handle=client | 2,
        region=compute.SharedRegion(arena=1, offset=64)))
    actions.add().create_tensor.CopyFrom(compute.CreateTensorRequest(
        data_type=F32, size=3, handle=client | 3))
    actions.add().create_sequence.CopyFrom(compute.CreateSequenceRequest(handle=client | 4))
    actions.add().destroy_tensor.tensor = 3
    s.algorithm([1, 2], SCALE_PUSH, spec=(F32, [0.5]), push=(F32, [2, 1]))
    s.eval([sync_device(1, 2), dispatch(1), copy(2, 1), sync_local(1, 2)], sequence=1)
    actions = s.call().apply.actions  # refused: a handle without the client bit, a duplicate
    actions.add().create_tensor.CopyFrom(compute.CreateTensorRequest(
        data_type=F32, size=1, handle=7))
    actions = s.call().apply.actions
    actions.add().create_tensor.CopyFrom(compute.CreateTensorRequest(
        data_type=F32, size=1, handle=client | 1))
    yield "pipelined-creation", s


def regressions():
    """Inputs that once were findings (tests/fuzz/regressions/, replayed by CTest)."""
    s = Seed()  # a non-zero SPIR-V schema word passed validation; lavapipe failed: INTERNAL
    s.tensor([1, 2]); s.tensor([3, 4]); s.tensor(size=2)
    s.algorithm([1, 2, 3], MULTIPLY).patches.add(index=4, value=0xdeadbeef)
    yield "spirv-schema-word", s


def raw_seeds():
    """Whole inputs that are not FuzzInputs: a type byte, then one request's bytes."""
    requests = {
        0: compute.CreateTensorRequest(data_type=F32, size=3, data=pack(F32, [1, 2, 3])),
        6: compute.CreateAlgorithmRequest(glsl="#version 450\nlayout(local_size_x=1) in;\n"
                                               "void main() {}\n"),
        11: compute.EvalRequest(ops=[sync_local(1)], uploads=[types.TensorData(tensor=1)]),
        14: compute.CompileShaderRequest(glsl="#version 450\nvoid main() {}\n"),
    }
    types_count = 19  # Call's request types, RawRequest left out
    for type_, request in requests.items():
        # A first byte that is no valid protobuf tag (field 0, or wire type 6/7), so the bytes
        # do not decode as a FuzzInput, and that selects the request type.
        byte = next(b for b in range(256) if b % types_count == type_ and (b < 8 or b & 7 >= 6))
        yield "raw-%d" % type_, bytes([byte]) + request.SerializeToString()


def dump(paths):
    """Prints fuzzer inputs (corpus files, crash artifacts) in protobuf text format."""
    from google.protobuf import text_format
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        print("# %s (%d bytes)" % (path, len(data)))
        message = fz.FuzzInput()
        try:
            message.ParseFromString(data)
            print(text_format.MessageToString(message, as_utf8=False), end="")
        except Exception:  # not a FuzzInput: a raw request (see RequestHarness::run)
            print("# raw request: type byte %d, then %r" % (data[0], data[1:]) if data else "# empty")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--dump":
        dump(sys.argv[2:])
        return
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    count = 0
    for name, seed in seeds():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(seed.bytes())
        count += 1
    for name, data in raw_seeds():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
        count += 1
    print("make_seeds: wrote %d seeds to %s" % (count, out))
    if len(sys.argv) == 1:
        out = os.path.join(HERE, "regressions")
        os.makedirs(out, exist_ok=True)
        for name, seed in regressions():
            with open(os.path.join(out, name), "wb") as f:
                f.write(seed.bytes())
        print("make_seeds: wrote the regression inputs to %s" % out)


if __name__ == "__main__":
    main()
