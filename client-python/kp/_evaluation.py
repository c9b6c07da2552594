"""kp's evaluations: what one sends, how, and what its reply brings back.

Host copies travel in one of three ways: not at all (shared memory on the daemon's host),
inside the evaluation's request and reply (up to STREAM_THRESHOLD bytes each), or as chunked
WriteTensorStream/ReadTensorStream calls around it (larger ones, in chunks of up to
STREAM_CHUNK bytes).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from . import _transport
from ._session import Session
from ._streams import STREAM_CHUNK, STREAM_THRESHOLD, read_stream, write_stream
from .operations import OpBase
from .tensor import Tensor
from .v1 import compute_pb2, types_pb2

# The data plane's sizes and stream calls, importable from here with the Evaluation.
__all__ = [
    "STREAM_CHUNK",
    "STREAM_THRESHOLD",
    "Evaluation",
    "encode",
    "read_stream",
    "release",
    "upload_messages",
    "write_stream",
]

# EvalAwait without a timeout waits in slices of this many nanoseconds, so that the daemon's
# own wait limit is never hit and a vanished daemon is noticed.
_AWAIT_SLICE_NS = 10_000_000_000


def encode(ops: Iterable[OpBase], session: Session) -> List[types_pb2.Op]:
    """The kp.v1 ops that `ops` evaluate as (creating the objects they need in the daemon)."""
    protos: List[types_pb2.Op] = []
    for op in ops:
        protos.extend(op._protos(session))
    return protos


_Upload = Tuple[int, Tensor]  # a tensor's handle and the tensor


def _uploads(ops: Iterable[OpBase]) -> Tuple[List[_Upload], List[_Upload]]:
    """The (handle, tensor) of every tensor an OpTensorSyncDevice of `ops` uploads, once each,
    as (those that travel inside the request, those streamed before it). Shared-memory tensors
    are left out: the daemon reads them in place."""
    seen = set()
    inline: List[_Upload] = []
    streamed: List[_Upload] = []
    for op in ops:
        for tensor in op._uploads():
            handle = tensor._require_handle("OpTensorSyncDevice")
            if tensor._shared or handle in seen:
                continue
            seen.add(handle)
            if tensor._array.nbytes <= STREAM_THRESHOLD:
                inline.append((handle, tensor))
            else:
                streamed.append((handle, tensor))
    return inline, streamed


def upload_messages(ops: Iterable[OpBase]) -> List[types_pb2.TensorData]:
    """The uploads that an evaluation of `ops` carries inside its request, as messages."""
    return [
        types_pb2.TensorData(tensor=handle, data=tensor._wire())
        for handle, tensor in _uploads(ops)[0]
    ]


def release(ops: Iterable[OpBase]) -> None:
    """Frees what dropped ops own in the daemon (v0.5/0.6 ops own their algorithms)."""
    for op in ops:
        op._release()


class Evaluation:
    """The evaluations of one sequence, or one-off evaluations (sequence 0).

    Builds an evaluation's request (the ops when they are to be recorded, the uploads of its
    OpTensorSyncDevice ops, larger ones streamed first, the inline download limit), sends it
    through the session's transport (Eval, EvalAsync, EvalAwait) and applies the reply (the
    downloads of its OpTensorSyncLocal and OpTensorCopy ops, larger ones read as streams).
    Holds no state between evaluations: the caller (a Sequence) keeps the ops and its lock.
    """

    __slots__ = ("_session", "_sequence")

    def __init__(self, session: Session, sequence: int = 0):
        self._session = session
        self._sequence = sequence

    def request(self, ops: Sequence[OpBase], record: bool) -> compute_pb2.EvalRequest:
        """The EvalRequest that evaluates `ops`, sending them too when `record`; streams the
        uploads too large for it, so it is ready to send."""
        for op in ops:
            op._prepare(self._session)
        return self._request(ops, encode(ops, self._session) if record else None)

    def _request(
        self, ops: Sequence[OpBase], protos: Optional[List[types_pb2.Op]]
    ) -> compute_pb2.EvalRequest:
        """The EvalRequest of `ops` (prepared already), with `protos` as the ops to record
        (None: run the recorded ones); streams the large uploads."""
        session = self._session
        request = compute_pb2.EvalRequest(session=session.session, sequence=self._sequence)
        if protos is not None:
            request.record = True
            request.ops.extend(protos)
        inline, streamed = _uploads(ops)
        for handle, tensor in inline:
            request.uploads.add(tensor=handle, data=tensor._wire())
        request.inline_download_limit = STREAM_THRESHOLD
        for handle, tensor in streamed:
            write_stream(session, handle, tensor._array)
        return request

    def eval(self, request: compute_pb2.EvalRequest) -> compute_pb2.EvalResponse:
        """Sends Eval and waits for its reply."""
        return _transport.call(self._session, "Eval", request)

    def eval_async(self, request: compute_pb2.EvalRequest) -> None:
        """Sends EvalAsync: the evaluation runs, eval_await() collects it."""
        _transport.call(self._session, "EvalAsync", request)

    def eval_await(self, timeout_ns: Optional[int]) -> Optional[compute_pb2.EvalResponse]:
        """Waits for the sequence's running evaluation: its reply once it finished, or None if
        `timeout_ns` passed first (None: waits until it finishes)."""
        while True:
            slice_ns = _AWAIT_SLICE_NS if timeout_ns is None else int(timeout_ns)
            response = _transport.call(
                self._session,
                "EvalAwait",
                compute_pb2.EvalAwaitRequest(
                    session=self._session.session,
                    sequence=self._sequence,
                    timeout_ns=slice_ns,
                    inline_download_limit=STREAM_THRESHOLD,
                ),
            )
            if response.finished:
                return response
            if timeout_ns is not None:
                return None

    def apply(self, ops: Iterable[OpBase], response: compute_pb2.EvalResponse) -> List[int]:
        """Writes the reply's downloads into the host copies of the tensors of `ops`, reading
        the large ones as streams; returns the reply's timestamps."""
        if response.downloads or response.pending_downloads:
            by_handle: Dict[int, Tensor] = {}
            for op in ops:
                for tensor in op._tensors():
                    by_handle[tensor._handle] = tensor
            for download in response.downloads:
                target = by_handle.get(download.tensor)
                if target is not None:
                    target._store(download.data)
            for handle in response.pending_downloads:
                target = by_handle.get(handle)
                if target is not None:
                    read_stream(self._session, handle, target._array)
        return list(response.timestamps)

    def once(self, ops: Sequence[OpBase]) -> None:
        """Evaluates `ops` once on a temporary sequence (this must be an Evaluation of sequence
        0) and waits, applying its downloads; then frees what the ops own."""
        try:
            for op in ops:
                op._prepare(self._session)
            protos = encode(ops, self._session)
            if not protos:
                return
            self.apply(ops, self.eval(self._request(ops, protos)))
        finally:
            release(ops)
