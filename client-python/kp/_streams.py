"""Host copies too large for one message: chunked WriteTensorStream / ReadTensorStream calls.

A host copy of at most STREAM_THRESHOLD bytes travels inside the message that carries it
(CreateTensor, an evaluation's request or reply); a larger one travels as a stream of chunks of
up to STREAM_CHUNK bytes, less where the daemon's message limit is smaller.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ._session import Session
from ._types import store_wire_bytes, wire_bytes
from .v1 import compute_pb2, types_pb2

# The protocol's threshold (proto/kp/v1/types.proto).
STREAM_THRESHOLD: int = types_pb2.PROTOCOL_STREAM_THRESHOLD_BYTES
# This client's preferred chunk: bench/RESULTS.md has the measurements behind it.
STREAM_CHUNK = 4 << 20
# No chunk is smaller than this, whatever the daemon's message limit.
_MIN_CHUNK = 4096


def chunk_bytes(session: Session) -> int:
    """The chunk size for this daemon: STREAM_CHUNK, with its framing under the daemon's message
    limit (PROTOCOL_MIN_MESSAGE_BYTES for daemons that do not say theirs)."""
    limit = session.max_message_bytes or types_pb2.PROTOCOL_MIN_MESSAGE_BYTES
    return max(_MIN_CHUNK, min(STREAM_CHUNK, limit - types_pb2.PROTOCOL_CHUNK_FRAMING_BYTES))


def _wire_itemsize(host: np.ndarray) -> int:
    """Bytes per element on the wire and the GPU (bool: a uint32)."""
    return 4 if host.dtype == np.bool_ else host.itemsize


def write_stream(session: Session, handle: int, host: np.ndarray) -> None:
    """Replaces the daemon's host copy of tensor `handle` with `host` (a tensor's host array),
    in chunks."""

    def chunks() -> Iterator[compute_pb2.TensorChunk]:
        itemsize = _wire_itemsize(host)
        per_chunk = max(1, chunk_bytes(session) // itemsize)
        for start in range(0, host.size, per_chunk):
            yield compute_pb2.TensorChunk(
                session=session.session if start == 0 else "",
                tensor=handle if start == 0 else 0,
                offset=start * itemsize,
                data=wire_bytes(host[start:start + per_chunk]),
            )

    session.call("WriteTensorStream", chunks())


def read_stream(session: Session, handle: int, host: np.ndarray) -> None:
    """Copies the daemon's host copy of tensor `handle` into `host` (a tensor's host array,
    written in place), in chunks."""
    request = compute_pb2.ReadTensorStreamRequest(
        session=session.session, tensor=handle, chunk_bytes=chunk_bytes(session)
    )
    for chunk in session.call_stream("ReadTensorStream", request):
        itemsize = _wire_itemsize(host)
        start = chunk.offset // itemsize
        store_wire_bytes(host[start:start + len(chunk.data) // itemsize], chunk.data)
