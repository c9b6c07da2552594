"""The pieces of protobuf's wire format that the client writes by hand: varints, tags, and the
two messages on its hottest paths. Writing a wrapper message's field around bytes that are
already serialized saves parsing or copying them into a second message; writing a pipelined
tensor creation directly costs a fraction of building and serializing protobuf objects
(tests/e2e/test_protowire.py checks every encoding against protobuf's own)."""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

from .v1 import compute_pb2

# Protobuf's wire types.
_VARINT = 0
_LENGTH_DELIMITED = 2

_SMALL = [bytes((value,)) for value in range(128)]


def varint(value: int) -> bytes:
    """`value` (0 <= value < 2^64) as a protobuf base-128 varint."""
    if value < 128:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(field_number: int, wire_type: int = _LENGTH_DELIMITED) -> bytes:
    """The tag of field `field_number` (length-delimited unless `wire_type` says otherwise)."""
    return varint(field_number << 3 | wire_type)


def field(tag_bytes: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    return tag_bytes + varint(len(payload)) + payload


_Tensor = compute_pb2.CreateTensorRequest
_DATA_TYPE = tag(_Tensor.DATA_TYPE_FIELD_NUMBER, _VARINT)
_TENSOR_TYPE = tag(_Tensor.TENSOR_TYPE_FIELD_NUMBER, _VARINT)
_SIZE = tag(_Tensor.SIZE_FIELD_NUMBER, _VARINT)
_DATA = tag(_Tensor.DATA_FIELD_NUMBER)
_HANDLE = tag(_Tensor.HANDLE_FIELD_NUMBER, _VARINT)
_REGION = tag(_Tensor.REGION_FIELD_NUMBER)
_ARENA = tag(compute_pb2.SharedRegion.ARENA_FIELD_NUMBER, _VARINT)
_OFFSET = tag(compute_pb2.SharedRegion.OFFSET_FIELD_NUMBER, _VARINT)
_CREATE_TENSOR = tag(compute_pb2.Action.CREATE_TENSOR_FIELD_NUMBER)
_SESSION = tag(compute_pb2.ApplyRequest.SESSION_FIELD_NUMBER)
_ACTIONS = tag(compute_pb2.ApplyRequest.ACTIONS_FIELD_NUMBER)


def create_tensor_action(data_type: int, tensor_type: int, size: int, handle: int, data: bytes,
                         place: Optional[Tuple[int, int]]) -> bytes:
    """A serialized Action holding CreateTensorRequest{data_type, tensor_type, size, handle,
    data, region = place (arena, offset) if given}; fields at their default are left out, as
    protobuf does."""
    body = b"".join((
        _DATA_TYPE + varint(data_type) if data_type else b"",
        _TENSOR_TYPE + varint(tensor_type) if tensor_type else b"",
        _SIZE + varint(size) if size else b"",
        field(_DATA, data) if data else b"",
        _HANDLE + varint(handle) if handle else b"",
        field(_REGION, (_ARENA + varint(place[0]) if place[0] else b"")
              + (_OFFSET + varint(place[1]) if place[1] else b"")) if place else b"",
    ))
    return field(_CREATE_TENSOR, body)


def apply_request(session: str, actions: Iterable[bytes]) -> bytes:
    """A serialized ApplyRequest of `session` (may be empty) and serialized Actions."""
    head = field(_SESSION, session.encode()) if session else b""
    return head + b"".join(field(_ACTIONS, action) for action in actions)
