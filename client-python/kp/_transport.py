"""How evaluation calls (Eval, EvalAsync, EvalAwait) reach kpd: as frames on the local data
socket when the session has one, else as gRPC calls.

On the local socket a request travels as a LocalRequest whose oneof holds it. That wrapper is
written here as the protobuf encoding of one length-delimited field (its tag, the request's
length, the request), so that the request is serialized once and never parsed or copied into a
second message; the field numbers come from the generated local_pb2.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Tuple

from ._protowire import tag as _tag, varint as _varint
from ._session import Session
from ._streams import STREAM_THRESHOLD
from .v1 import compute_pb2, local_pb2, types_pb2

# RPC name -> (the tag of its LocalRequest field, the LocalResponse field of its reply).
_LOCAL: Dict[str, Tuple[bytes, str]] = {
    "Eval": (_tag(local_pb2.LocalRequest.EVAL_FIELD_NUMBER), "eval"),
    "EvalAsync": (_tag(local_pb2.LocalRequest.EVAL_ASYNC_FIELD_NUMBER), "eval_async"),
    "EvalAwait": (_tag(local_pb2.LocalRequest.EVAL_AWAIT_FIELD_NUMBER), "eval"),
}


def call(session: Session, method: str, request: Any) -> Any:
    """Calls evaluation RPC `method` ("Eval", "EvalAsync" or "EvalAwait") with `request` the
    session's way and returns its reply, raising kp exceptions as Session.call() does."""
    if session.local is None:
        return session.call(method, request)
    tag, reply = _LOCAL[method]
    body = request.SerializeToString()
    response = session.call_local(tag + _varint(len(body)) + body)
    return getattr(response, reply)


def eval_once(session: Session, ops: Iterable[types_pb2.Op]) -> None:
    """Evaluates `ops` once on a temporary sequence (EvalRequest.sequence 0) and waits. Nothing
    travels with it (no uploads) and it downloads nothing: for the initial data of new tensors
    (an Evaluation evaluates recorded ops, with their uploads and downloads)."""
    request = compute_pb2.EvalRequest(
        session=session.session,
        sequence=0,
        record=True,
        ops=ops,
        inline_download_limit=STREAM_THRESHOLD,
    )
    call(session, "Eval", request)
