"""What an evaluation sends and receives, shared by sequences and anonymous evaluations.

Host copies travel in one of three ways: not at all (shared memory on the daemon's host),
inside the evaluation's request and reply (up to STREAM_THRESHOLD bytes), or as chunked
WriteTensorStream/ReadTensorStream calls around it (larger tensors, no size limit).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, Iterator, List

from .tensor import Tensor
from .v1 import compute_pb2, types_pb2

if TYPE_CHECKING:
    from ._connection import Connection
    from .manager import Manager
    from .operations import OpBase

# Host copies above this size travel as streams of chunks of up to STREAM_CHUNK bytes, less
# when the daemon's message limit is smaller (bench/RESULTS.md has the measurements).
STREAM_THRESHOLD = 1 << 20
STREAM_CHUNK = 4 << 20
_CHUNK_FRAMING = 1024


def chunk_bytes(conn: "Connection") -> int:
    """The chunk size for this daemon: STREAM_CHUNK, under its message limit."""
    limit = conn.max_message_bytes or (1 << 20)
    return max(4096, min(STREAM_CHUNK, limit - _CHUNK_FRAMING))


def create_pending_tensors(ops: Iterable["OpBase"], manager: "Manager") -> None:
    """Creates the tensors of v0.5/0.6 OpTensorCreate ops in the daemon."""
    for op in ops:
        for tensor in op._to_create():
            tensor._create(manager)


def op_protos(ops: Iterable["OpBase"], manager: "Manager") -> list:
    protos: list = []
    for op in ops:
        protos.extend(op._protos(manager))
    return protos


def _uploaded(ops: Iterable["OpBase"]) -> Dict[int, Tensor]:
    """Every tensor an OpTensorSyncDevice of `ops` uploads, once each, except shared-memory
    tensors (the daemon reads those in place)."""
    uploads: Dict[int, Tensor] = {}
    for op in ops:
        for tensor in op._uploads():
            handle = tensor._require_handle("OpTensorSyncDevice")
            if not tensor._shared:
                uploads.setdefault(handle, tensor)
    return uploads


def upload_messages(ops: Iterable["OpBase"]) -> List[types_pb2.TensorData]:
    """The uploads that travel inside the evaluation request."""
    return [
        types_pb2.TensorData(tensor=h, data=t._wire())
        for h, t in _uploaded(ops).items()
        if t._array.nbytes <= STREAM_THRESHOLD
    ]


def stream_uploads(ops: Iterable["OpBase"], conn: "Connection") -> None:
    """Writes the large uploads of `ops` into the daemon's host copies, before evaluating."""
    for handle, tensor in _uploaded(ops).items():
        if tensor._array.nbytes > STREAM_THRESHOLD:
            write_stream(conn, handle, tensor)


def write_stream(conn: "Connection", handle: int, tensor: Tensor) -> None:
    """Replaces the daemon's host copy of `tensor` with this process's, in chunks."""

    def chunks() -> Iterator[compute_pb2.TensorChunk]:
        first = True
        for offset, data in tensor._wire_chunks(chunk_bytes(conn)):
            yield compute_pb2.TensorChunk(
                session=conn.session if first else "",
                tensor=handle if first else 0,
                offset=offset,
                data=data,
            )
            first = False

    conn.call("WriteTensorStream", chunks())


def read_stream(conn: "Connection", handle: int, tensor: Tensor) -> None:
    """Copies the daemon's host copy of `tensor` into this process's, in chunks."""
    request = compute_pb2.ReadTensorStreamRequest(
        session=conn.session, tensor=handle, chunk_bytes=chunk_bytes(conn)
    )
    for chunk in conn.call_stream("ReadTensorStream", request):
        tensor._store_chunk(chunk.offset, chunk.data)


def apply_downloads(
    ops: Iterable["OpBase"], response: compute_pb2.EvalResponse, conn: "Connection"
) -> None:
    """Writes the evaluation's downloads into the host copies of the tensors of `ops`,
    reading the large ones as streams."""
    by_handle: Dict[int, Tensor] = {}
    for op in ops:
        for tensor in op._tensors():
            by_handle[tensor._handle] = tensor
    for download in response.downloads:
        tensor = by_handle.get(download.tensor)
        if tensor is not None:
            tensor._store(download.data)
    for handle in response.pending_downloads:
        tensor = by_handle.get(handle)
        if tensor is not None:
            read_stream(conn, handle, tensor)


def release(ops: Iterable["OpBase"]) -> None:
    """Frees what dropped ops own in the daemon (v0.5/0.6 ops own their algorithms)."""
    for op in ops:
        op._release()
