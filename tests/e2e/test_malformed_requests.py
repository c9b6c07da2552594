"""Requests that do not parse, and requests whose values would be echoed at any length into an
error message. A request that does not parse is INVALID_ARGUMENT naming the method and the
message it expected (gRPC alone would answer INTERNAL with no message); an error that echoes a
1 MiB session id or a 100 KB shader name is cut to fit gRPC's metadata limit, so the client
gets its real code (NOT_FOUND, INVALID_ARGUMENT), never RESOURCE_EXHAUSTED from its own
transport. kpd keeps serving throughout."""
from __future__ import annotations

import grpc
import pytest

from conftest import Daemon
from test_hostile_shaders import multiply_works
from kp.v1 import compute_pb2

SERVICE = compute_pb2.DESCRIPTOR.services_by_name["Compute"]
UNARY = [m for m in SERVICE.methods if not m.client_streaming and not m.server_streaming]

# Field 1, length-delimited, announcing 2^35 bytes: no message type parses it.
UNPARSABLE = b"\x0a\x80\x80\x80\x80\x80\x01"
# Field 1 as a varint where every message here has a string or a message: a wire-type clash.
WRONG_WIRE_TYPE = b"\x08\x01\x12\x03abc\x0a"


def raw_call(d: Daemon, method: str, payload: bytes, streaming: bool = False):
    path = f"/kp.v1.Compute/{method}"
    if streaming:
        return list(d.channel.unary_stream(path, request_serializer=None,
                                           response_deserializer=None)(payload, timeout=30))
    return d.channel.unary_unary(path, request_serializer=None,
                                 response_deserializer=None)(payload, timeout=30)


@pytest.mark.parametrize("payload", [UNPARSABLE, WRONG_WIRE_TYPE], ids=["cut", "wire-type"])
@pytest.mark.parametrize("method", [m.name for m in UNARY] + ["OpenSession"])
def test_a_request_that_does_not_parse_is_invalid_argument(daemon, method, payload):
    descriptor = SERVICE.methods_by_name[method]
    if payload is WRONG_WIRE_TYPE and not descriptor.input_type.fields:
        pytest.skip(f"{descriptor.input_type.full_name} has no fields: any field parses")
    with pytest.raises(grpc.RpcError) as failure:
        raw_call(daemon, method, payload, streaming=descriptor.server_streaming)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value
    assert failure.value.details() == (
        f"{method}: the request does not parse as a {descriptor.input_type.full_name} "
        "(a field has the wrong wire type, or the message is cut short)")


def test_echoed_values_are_cut(daemon):
    huge_session = "s" * (1 << 20)
    with pytest.raises(grpc.RpcError) as failure:
        daemon.stub.ReadTensor(compute_pb2.ReadTensorRequest(session=huge_session, tensor=1),
                               timeout=30)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND, failure.value
    assert "(1048576 bytes) does not exist" in failure.value.details()
    assert len(failure.value.details()) < 200

    # A shader that does not compile, under a 100 KB name that each error line repeats.
    long_name = "n" * 100_000
    with pytest.raises(grpc.RpcError) as failure:
        daemon.stub.CompileShader(compute_pb2.CompileShaderRequest(
            glsl="#version 450\nvoid main() { undefined_function(); }\n", name=long_name),
            timeout=60)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value
    assert len(failure.value.details().encode()) <= 2048
    assert failure.value.details().endswith("bytes, cut)"), failure.value.details()[-200:]
    multiply_works(daemon.address)
