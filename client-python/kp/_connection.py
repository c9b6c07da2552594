"""A session with kpd: the channel, the held-open OpenSession stream, and calls that turn
gRPC errors into kp exceptions."""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Iterator, List, Optional

import grpc

from ._errors import DeviceLostError, KpError, NotFoundError, UnavailableError, from_rpc_error
from ._local import LocalChannel, open_local_channel
from ._security import Security
from ._version import __version__
from .v1 import compute_pb2, compute_pb2_grpc

log = logging.getLogger("kp")

# No message size limit on the client: the daemon enforces its own.
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    # Notice a daemon that vanished without closing the connection.
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]

# RPCs that the local data socket carries: LocalRequest field number, LocalResponse field.
_LOCAL_FIELDS = {
    "Eval": (2, "eval"),
    "EvalAsync": (3, "eval_async"),
    "EvalAwait": (4, "eval"),
}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _local_request_bytes(field: int, request: Any) -> bytes:
    """A serialized LocalRequest with `request` in oneof field `field`: the protobuf encoding
    of a length-delimited field, so the request is serialized once and never copied."""
    body = request.SerializeToString()
    return _varint(field << 3 | 2) + _varint(len(body)) + body


# How long opening a session may wait for the daemon to answer.
_CONNECT_TIMEOUT_S = 10.0


class Connection:
    """One session: every request of a Manager goes through here."""

    def __init__(
        self,
        address: str,
        device: int,
        queue_families: List[int],
        security: Optional[Security] = None,
        shared_memory: bool = True,
    ):
        self.address = address
        self.closed_reason: Optional[str] = None
        self._closed = False
        self._lock = threading.Lock()
        self.security = security or Security(address)
        self._metadata = self.security.metadata
        self.channel = self.security.channel(_CHANNEL_OPTIONS)
        self.stub = compute_pb2_grpc.ComputeStub(self.channel)
        request = compute_pb2.OpenSessionRequest(
            device=device,
            queue_families=queue_families,
            client_name=f"python kp {__version__} pid {os.getpid()}",
        )
        self._stream = self.stub.OpenSession(request, timeout=None, metadata=self._metadata)
        try:
            first = self._next_event(_CONNECT_TIMEOUT_S)
        except BaseException:
            self._stream.cancel()
            self.channel.close()
            raise
        opened = first.opened
        self.session = opened.session
        self.device = opened.device
        self.queue_families = list(opened.queue_families)
        self.lease_seconds = opened.lease_seconds
        self.max_message_bytes = opened.max_message_bytes  # 0 from daemons that do not say
        # Same host: the local data socket (shared memory, evaluations without gRPC).
        self.local: Optional[LocalChannel] = (
            open_local_channel(opened.data_socket, self.session) if shared_memory else None
        )
        self._watcher = threading.Thread(
            target=self._watch, name=f"kp-session-{self.session[:8]}", daemon=True
        )
        self._watcher.start()
        log.debug("session %s opened on %s (%s)", self.session, address, self.device.name)

    def _next_event(self, timeout: float) -> compute_pb2.SessionEvent:
        """The stream's first event, or a clear error if the daemon does not answer."""
        result: List[Any] = []
        done = threading.Event()

        def read() -> None:
            try:
                result.append(next(self._stream))
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                result.append(error)
            done.set()

        threading.Thread(target=read, daemon=True).start()
        if not done.wait(timeout):
            raise UnavailableError(
                f"cannot reach kpd at {self.address}: no answer within {timeout:.0f} s"
            )
        value = result[0]
        if isinstance(value, grpc.RpcError):
            raise self._error(value) from None
        if isinstance(value, StopIteration):
            raise UnavailableError(f"kpd at {self.address} closed the session stream at once")
        if isinstance(value, BaseException):
            raise value
        if not value.HasField("opened"):
            raise UnavailableError(f"kpd at {self.address} sent an unexpected first message")
        return value

    def _watch(self) -> None:
        """Reads the stream until it ends: a `closed` event says why the daemon ended it."""
        reason = "the session stream ended"
        try:
            for event in self._stream:
                if event.HasField("closed"):
                    reason = event.closed.reason
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.CANCELLED and self._closed:
                reason = "closed by the client"
            else:
                reason = f"connection to kpd lost ({error.code().name}: {error.details()})"
        self.closed_reason = reason
        if not self._closed:
            log.warning("kpd ended session %s: %s", self.session, reason)

    @property
    def is_open(self) -> bool:
        return not self._closed and self.closed_reason is None

    def _error(self, error: grpc.RpcError) -> KpError:
        """The kp exception for a failed call, with a hint when TLS is the likely cause."""
        kp_error = from_rpc_error(error, self.address)
        if isinstance(kp_error, UnavailableError) and not isinstance(kp_error, DeviceLostError):
            hint = self.security.explain(kp_error.details)
            if hint:
                kp_error = UnavailableError(kp_error.details + hint, kp_error.code)
        return kp_error

    def call(self, method: str, request: Any, **kwargs: Any) -> Any:
        """Calls an RPC of kp.v1.Compute, raising kp exceptions on failure. Evaluations go
        through the local data socket when there is one."""
        if self._closed:
            raise UnavailableError("the Manager was destroyed: create a new kp.Manager")
        if self.local is not None and method in _LOCAL_FIELDS:
            return self._call_local(method, request)
        try:
            return getattr(self.stub, method)(request, metadata=self._metadata, **kwargs)
        except grpc.RpcError as error:
            raise self._session_error(self._error(error)) from None

    def call_stream(self, method: str, request: Any) -> Iterator[Any]:
        """Calls a server-streaming RPC of kp.v1.Compute and yields its messages. A failure,
        at the start or midway (the daemon went away), raises the kp exception, like call()."""
        try:
            yield from self.call(method, request)
        except grpc.RpcError as error:
            raise self._session_error(self._error(error)) from None

    def _call_local(self, method: str, request: Any) -> Any:
        assert self.local is not None
        field, reply = _LOCAL_FIELDS[method]
        try:
            response = self.local.request(_local_request_bytes(field, request))
        except KpError as error:
            raise self._session_error(error) from None
        return getattr(response, reply)

    def _session_error(self, error: KpError) -> KpError:
        """Notes what a failed call says about the session, and adds why the session ended to
        a NOT_FOUND that does not say it already."""
        if isinstance(error, DeviceLostError):
            # The device was lost or reset: kpd ends the session (its stream says so too).
            if self.closed_reason is None:
                self.closed_reason = error.details
        elif isinstance(error, UnavailableError) and self.closed_reason is None:
            # The daemon went away: the session (and everything in it) is gone.
            self.closed_reason = f"connection to kpd lost ({error.details})"
        if (
            isinstance(error, NotFoundError)
            and self.closed_reason
            and self.closed_reason not in error.details
        ):
            return NotFoundError(
                f"{error.details} (the session ended: {self.closed_reason})", error.code
            )
        return error

    def close(self) -> None:
        """Ends the session (frees everything it owns in the daemon). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self.closed_reason is None:
                self.stub.CloseSession(
                    compute_pb2.CloseSessionRequest(session=self.session),
                    timeout=30,
                    metadata=self._metadata,
                )
        except grpc.RpcError as error:
            log.debug("CloseSession failed: %s", error)
        finally:
            if self.local is not None:
                self.local.close()
            self._stream.cancel()
            # Let the watcher leave gRPC before the channel goes: a daemon thread frozen inside
            # gRPC at interpreter exit can deadlock its finalisers.
            if threading.current_thread() is not self._watcher:
                self._watcher.join(timeout=5)
            self.channel.close()
