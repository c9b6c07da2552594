"""The two pieces of protobuf's wire format that the client writes by hand: a varint and the
tag of a length-delimited field. Writing a wrapper message's field around bytes that are
already serialized saves parsing or copying them into a second message."""
from __future__ import annotations

# Protobuf's wire type of a length-delimited field (a message inside a message).
_LENGTH_DELIMITED = 2


def varint(value: int) -> bytes:
    """`value` as a protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(field_number: int) -> bytes:
    """The tag of length-delimited field `field_number`."""
    return varint(field_number << 3 | _LENGTH_DELIMITED)
