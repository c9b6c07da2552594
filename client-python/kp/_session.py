"""A session with kpd: the channel, the held-open OpenSession stream, and calls that turn
gRPC errors into kp exceptions.

Everything a Manager creates holds the Manager's Session (never the Manager): the session
ends when ``Manager.destroy()`` says so, or once the Manager and every object of it are gone,
or at the interpreter's exit.
"""
from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import threading
import weakref
from typing import Any, Iterator, List, Optional, Tuple

import grpc

from ._discovery import failure_reason, start_hint
from ._errors import DeviceLostError, KpError, NotFoundError, UnavailableError, from_rpc_error
from ._client_arena import ClientArenas
from ._local import LocalChannel, open_local_channel
from ._pipeline import Pending, Pipeline, failed_action
from ._protowire import tag, varint
from ._security import Security
from ._version import __version__
from .v1 import compute_pb2, compute_pb2_grpc, local_pb2

log = logging.getLogger("kp")

# No message size limit on the client: the daemon enforces its own.
_CHANNEL_OPTIONS: List[Tuple[str, object]] = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    # Notice a daemon that vanished without closing the connection.
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]

# The tag of LocalRequest.prelude (a length-delimited field): written in front of a serialized
# request, it adds the prelude without parsing or copying the request.
_PRELUDE_TAG = tag(local_pb2.LocalRequest.PRELUDE_FIELD_NUMBER)

# How a session's end reason starts when the connection to kpd was lost.
_CONNECTION_LOST = "connection to kpd lost"

# How long opening a session may wait for the daemon to answer.
_CONNECT_TIMEOUT_S = 10.0

# Sessions still open; closed at interpreter exit while gRPC still works (a finaliser that
# runs during interpreter teardown could hang in gRPC).
_open_sessions: "weakref.WeakSet[Session]" = weakref.WeakSet()


@atexit.register
def _close_open_sessions() -> None:
    for session in list(_open_sessions):
        try:
            session.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    # Collect gRPC's call objects left in reference cycles now, while gRPC's daemon threads
    # still run: the interpreter's last collection comes after those threads are frozen, and a
    # call's __del__ then waits forever for a lock one of them holds (seen as a client that
    # hung at exit after its work was done: tests/chaos caught its stack).
    gc.collect()


class _Ending:
    """Why the session ended, as its stream's watcher and failed calls learn it. The watcher
    thread holds this, not the Session, so that an unused Session can be collected."""

    def __init__(self) -> None:
        self.reason: Optional[str] = None
        self.closing = False  # close() was called


def _first_event(stream: Any, timeout: float, address: str) -> Any:
    """The stream's first message (or the exception reading it raised), within `timeout`."""
    result: List[Any] = []
    done = threading.Event()

    def read() -> None:
        try:
            result.append(next(stream))
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            result.append(error)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout):
        raise UnavailableError(f"cannot reach kpd at {address}: no answer within {timeout:.0f} s")
    return result[0]


def _watch(stream: Any, ending: _Ending, label: str) -> None:
    """Reads the stream until it ends: a `closed` event says why the daemon ended it."""
    reason = "the session stream ended"
    try:
        for event in stream:
            if event.HasField("closed"):
                reason = event.closed.reason
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.CANCELLED and ending.closing:
            reason = "closed by the client"
        else:
            reason = f"{_CONNECTION_LOST} ({error.code().name}: {error.details()})"
    ending.reason = reason
    if not ending.closing:
        log.warning("kpd ended %s: %s", label, reason)


class Session:
    """One session with kpd: every request of a Manager and of its objects goes through here.

    Attributes:
        address: the daemon's address.
        session: the session id the daemon chose (a secret: it names the session in requests).
        label: "session #<serial>", how kpd's log and this client's name the session.
        device: the session's device (kp.v1 Device).
        queue_families: the queue family of each of the session's queues.
        lease_seconds: how long the daemon keeps the session without hearing from it.
        max_message_bytes: the daemon's message limit (0 from daemons that do not say).
        local: the local data socket's channel on the daemon's host, else None.
        pipeline: creations not sent yet (None when the daemon cannot take them: see
            kp._pipeline).
        arenas: where small shared-memory tensors' host copies go (with `local` and
            `pipeline`), else None.
    """

    _closed = True  # until opened

    def __init__(
        self,
        address: str,
        device: int,
        queue_families: List[int],
        security: Optional[Security] = None,
        shared_memory: bool = True,
    ):
        self.address = address
        self._ending = _Ending()
        self._lock = threading.Lock()
        self.security = security or Security(address)
        self._metadata = self.security.metadata
        self.channel = self.security.channel(_CHANNEL_OPTIONS)
        self.stub = compute_pb2_grpc.ComputeStub(self.channel)
        # Apply with the request serialized already (kp._protowire writes it).
        self._apply = self.channel.unary_unary(
            "/kp.v1.Compute/Apply",
            request_serializer=None,
            response_deserializer=compute_pb2.ApplyResponse.FromString,
        )
        request = compute_pb2.OpenSessionRequest(
            device=device,
            queue_families=queue_families,
            client_name=f"python kp {__version__} pid {os.getpid()}",
        )
        self._stream = self.stub.OpenSession(request, timeout=None, metadata=self._metadata)
        try:
            opened = self._opened(_first_event(self._stream, _CONNECT_TIMEOUT_S, address))
        except BaseException:
            self._stream.cancel()
            self.channel.close()
            raise
        self.session: str = opened.session
        # How logs name the session (kpd's too): its public serial, never the secret id.
        self.label: str = f"session #{opened.serial}"
        self.device = opened.device
        self.queue_families = list(opened.queue_families)
        self.lease_seconds = opened.lease_seconds
        self.max_message_bytes: int = opened.max_message_bytes
        # Same host: the local data socket (shared memory, evaluations without gRPC).
        self.local: Optional[LocalChannel] = (
            open_local_channel(opened.data_socket, self.session) if shared_memory else None
        )
        self.pipeline: Optional[Pipeline] = Pipeline() if opened.pipelining else None
        self.arenas: Optional[ClientArenas] = (
            ClientArenas(self.local.new_arena)
            if self.local is not None and self.pipeline is not None
            else None
        )
        self._watcher = threading.Thread(
            target=_watch,
            args=(self._stream, self._ending, self.label),
            name=f"kp-session-{opened.serial}",
            daemon=True,
        )
        self._watcher.start()
        self._closed = False
        _open_sessions.add(self)
        log.debug("%s opened on %s (%s)", self.label, address, self.device.name)

    def _opened(self, first: Any) -> Any:
        """The SessionOpened event of the stream's first message, or a clear error."""
        if isinstance(first, grpc.RpcError):
            error = self._error(first)
            if isinstance(error, UnavailableError) and not isinstance(error, DeviceLostError):
                # Not reached: say why in words, and how to start kpd (no gRPC internals).
                reason = failure_reason(self.address, first.details() or "")
                raise UnavailableError(
                    f"cannot reach kpd at {self.address}: {reason}"
                    f"{self.security.explain(first.details() or '')}; "
                    f"{start_hint(self.address)}", error.code) from None
            raise error from None
        if isinstance(first, StopIteration):
            raise UnavailableError(f"kpd at {self.address} closed the session stream at once")
        if isinstance(first, BaseException):
            raise first
        if not first.HasField("opened"):
            raise UnavailableError(f"kpd at {self.address} sent an unexpected first message")
        return first.opened

    def __del__(self) -> None:
        if sys.is_finalizing():
            return  # _close_open_sessions already ran at exit
        try:
            self.close()
        except Exception:  # noqa: BLE001 - best effort at garbage collection
            pass

    @property
    def closed_reason(self) -> Optional[str]:
        """Why the session ended (the daemon's reason, a lost connection, a lost device), or
        None while it lasts."""
        return self._ending.reason

    @closed_reason.setter
    def closed_reason(self, reason: Optional[str]) -> None:
        self._ending.reason = reason

    @property
    def is_open(self) -> bool:
        """True until the session was closed or ended."""
        return not self._closed and self._ending.reason is None

    def _error(self, error: grpc.RpcError) -> KpError:
        """The kp exception for a failed call, with a hint when TLS is the likely cause."""
        kp_error = from_rpc_error(error, self.address)
        if isinstance(kp_error, UnavailableError) and not isinstance(kp_error, DeviceLostError):
            hint = self.security.explain(kp_error.details)
            if hint:
                kp_error = UnavailableError(kp_error.details + hint, kp_error.code)
        return kp_error

    def _require_open(self) -> None:
        if self._closed:
            raise UnavailableError("the Manager was destroyed: create a new kp.Manager")

    def require_usable(self) -> None:
        """Raises what a request would meet now if the session is known to have ended:
        UnavailableError once the Manager was destroyed or the connection to kpd was lost,
        NotFoundError (with kpd's reason) once kpd ended it."""
        self._require_open()
        reason = self.closed_reason
        if reason is not None and reason.startswith(_CONNECTION_LOST):
            raise UnavailableError(f"cannot reach kpd at {self.address}: {reason}")
        if reason is not None:
            raise NotFoundError(f"{self.label} does not exist any more (the session "
                                f"ended: {self.closed_reason})", grpc.StatusCode.NOT_FOUND)

    def defer(self, pending: Pending) -> None:
        """Queues a creation in the pipeline (see kp._pipeline) of a usable session."""
        self.require_usable()
        assert self.pipeline is not None
        self.pipeline.add(pending)

    def call(self, method: str, request: Any, **kwargs: Any) -> Any:
        """Calls an RPC of kp.v1.Compute over gRPC, raising kp exceptions on failure. The
        creations waiting in the pipeline go first (an Apply call)."""
        self._require_open()
        if self.pipeline is not None:
            self.flush()
        try:
            return getattr(self.stub, method)(request, metadata=self._metadata, **kwargs)
        except grpc.RpcError as error:
            raise self.session_error(self._error(error)) from None

    def flush(self) -> None:
        """Sends the creations waiting in the pipeline now, in one Apply call (if there are any).
        Every call does this first; tests that hold the GPU on purpose do it before (a device
        tensor's creation uploads its initial data, which waits behind the GPU's queue)."""
        if self.pipeline is None:
            return
        taken = self.pipeline.take()
        if taken is None:
            return
        try:
            self._apply(self.pipeline.request(self.session, taken), metadata=self._metadata)
        except grpc.RpcError as error:
            kp_error = self.session_error(self._error(error))
            index = failed_action(error)
            if index is not None and index < len(taken):
                raise self.pipeline.failed(taken, index, kp_error) from None
            self.pipeline.requeue(taken)
            raise kp_error from None
        except BaseException:
            self.pipeline.requeue(taken)
            raise
        self.pipeline.done(taken)

    def call_stream(self, method: str, request: Any) -> Iterator[Any]:
        """Calls a server-streaming RPC of kp.v1.Compute and yields its messages. A failure,
        at the start or midway (the daemon went away), raises the kp exception, like call()."""
        try:
            yield from self.call(method, request)
        except grpc.RpcError as error:
            raise self.session_error(self._error(error)) from None

    def call_local(self, payload: bytes) -> local_pb2.LocalResponse:
        """Sends a serialized LocalRequest over the local data socket (the session must have
        one) and returns the response, raising kp exceptions as call() does. The creations
        waiting in the pipeline travel with it (its prelude)."""
        self._require_open()
        assert self.local is not None
        pipeline = self.pipeline
        taken = pipeline.take() if pipeline is not None else None
        if taken is None or pipeline is None:
            try:
                return self.local.request(payload)
            except KpError as error:
                raise self.session_error(error) from None
        prelude = pipeline.request("", taken)
        payload = _PRELUDE_TAG + varint(len(prelude)) + prelude + payload
        applied = False

        def prelude_applied() -> None:  # kpd made the objects: other calls may name them
            nonlocal applied
            applied = True
            pipeline.done(taken)

        try:
            return self.local.request(payload, prelude_applied)
        except KpError as error:
            error = self.session_error(error)
            if applied:
                raise error from None  # the request's own error
            index = getattr(error, "failed_action", 0) - 1
            if 0 <= index < len(taken):
                raise pipeline.failed(taken, index, error) from None
            pipeline.requeue(taken)  # not known to have arrived
            raise error from None
        except BaseException:
            if not applied:
                pipeline.requeue(taken)
            raise

    def session_error(self, error: KpError) -> KpError:
        """Notes what a failed call says about the session, and adds why the session ended to
        a NOT_FOUND that does not say it already: the error to raise."""
        if isinstance(error, DeviceLostError):
            # The device was lost or reset: kpd ends the session (its stream says so too).
            if self.closed_reason is None:
                self.closed_reason = error.details
        elif isinstance(error, UnavailableError) and self.closed_reason is None:
            # The daemon went away: the session (and everything in it) is gone.
            self.closed_reason = f"{_CONNECTION_LOST} ({error.details})"
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
            self._ending.closing = True
        _open_sessions.discard(self)
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
