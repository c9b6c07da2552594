"""The same-host fast path: the daemon's local data socket (proto/kp/v1/local.proto).

Connections carry length-prefixed LocalRequest/LocalResponse frames (_transport chooses what
goes in them). A pool keeps one connection per concurrent caller, so evaluations from several
threads run at once. Arenas of the session's shared memory arrive as memfds (SCM_RIGHTS) and are
mapped here: shared-memory tensors' host copies are numpy views on them.
"""
from __future__ import annotations

import logging
import mmap
import os
import socket
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import grpc

from ._errors import KpError, UnavailableError, from_code
from .v1 import local_pb2, types_pb2

# Every frame starts with the length of its message, little-endian, in this many bytes.
_HEADER_BYTES: int = types_pb2.PROTOCOL_LOCAL_FRAME_HEADER_BYTES

# Replies up to this size (most: an evaluation's reply carries no tensor bytes here) are read
# with one receive, header and all.
_FIRST_READ = 64 << 10

# How long a reply that kpd gives at once (attach, an arena's descriptor) may take: a daemon
# that accepted the connection but does not answer must not hang the client.
_ANSWER_TIMEOUT_S = 10.0

log = logging.getLogger("kp")


def _spin_budget() -> float:
    """Seconds to poll for a reply before sleeping: waking a sleeping process costs tens of
    microseconds per evaluation. Polling pays only where cores are to spare (not on small
    machines, where it would take CPU from the daemon and its driver). $KP_SPIN_US sets it."""
    value = os.environ.get("KP_SPIN_US")
    if value is not None:
        return max(0, int(value)) / 1e6
    return 0.002 if (os.cpu_count() or 1) >= 8 else 0.0


_SPIN_S = _spin_budget()


class _Link:
    """One connection, attached to the session."""

    def __init__(self, path: str, session: str):
        self.path = path
        self._view = memoryview(bytearray(_FIRST_READ))
        # Bytes [start, end) of _view were received past the last reply read (a request with a
        # prelude is answered twice, and both answers may come in one receive).
        self._ahead = (0, 0)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(_ANSWER_TIMEOUT_S)
            self.sock.connect(path)
            response, _ = self.request(
                local_pb2.LocalRequest(attach=local_pb2.AttachRequest(session=session)),
                timeout=_ANSWER_TIMEOUT_S,
            )
        except BaseException:
            self.sock.close()
            raise
        self.alignment = response.attach.alignment

    def _receive_into(self, view: memoryview, got: int, size: int) -> None:
        """Receives into `view` until it holds `size` bytes (`got` are there already)."""
        while got < size:
            n = self.sock.recv_into(view[got:size], size - got)
            if n == 0:
                raise ConnectionResetError("the daemon closed the local data connection")
            got += n

    def _read_reply(self) -> bytes:
        """The body of the next reply frame: one receive for most replies (after polling for
        it for up to _SPIN_S seconds). Bytes received past it are kept for the next."""
        view = self._view
        start, got = self._ahead
        if start:  # move what is left to the front
            view[:got - start] = view[start:got]
            start, got = 0, got - start
        if got == 0 and _SPIN_S:
            got = self._poll_into(view)
        while got < _HEADER_BYTES:
            n = self.sock.recv_into(view[got:])
            if n == 0:
                raise ConnectionResetError("the daemon closed the local data connection")
            got += n
        end = _HEADER_BYTES + int.from_bytes(view[:_HEADER_BYTES], "little")
        if end <= len(view):
            self._receive_into(view, got, end)
            self._ahead = (end, got) if got > end else (0, 0)
            return bytes(view[_HEADER_BYTES:end])
        self._ahead = (0, 0)  # all received bytes are this frame's: it is larger than _view
        body = memoryview(bytearray(end - _HEADER_BYTES))
        body[:got - _HEADER_BYTES] = view[_HEADER_BYTES:got]
        self._receive_into(body, got - _HEADER_BYTES, len(body))
        return bytes(body)

    def request(
        self,
        message: local_pb2.LocalRequest,
        expect_fd: bool = False,
        timeout: Optional[float] = None,
    ) -> Tuple[local_pb2.LocalResponse, List[int]]:
        """Sends one request; returns the response and the file descriptors that came with it
        (only looked for when `expect_fd`). `timeout`: seconds the reply may take (None: no
        bound, for evaluations, which kpd bounds itself)."""
        return self.request_bytes(message.SerializeToString(), expect_fd, timeout)

    def request_bytes(
        self,
        payload: bytes,
        expect_fd: bool = False,
        timeout: Optional[float] = None,
        prelude_applied: Optional[Callable[[], None]] = None,
    ) -> Tuple[local_pb2.LocalResponse, List[int]]:
        """As request(), with the LocalRequest already serialized. With `prelude_applied` (the
        request has a prelude), the prelude's own response comes first: an error is raised
        from it, else `prelude_applied()` is called before the request's response is read."""
        fds: List[int] = []
        if timeout != self.sock.gettimeout():
            self.sock.settimeout(timeout)  # a system call: only when it changes
        try:
            self.sock.sendall(len(payload).to_bytes(_HEADER_BYTES, "little") + payload)
            if prelude_applied is not None:
                self._check(self._read_reply(), [])
                prelude_applied()
            if expect_fd:
                header, fds, _, _ = socket.recv_fds(self.sock, _HEADER_BYTES, 1)
                if not header:
                    raise ConnectionResetError("the daemon closed the local data connection")
                view = self._view
                view[:len(header)] = header
                self._receive_into(view, len(header), _HEADER_BYTES)
                size = int.from_bytes(view[:_HEADER_BYTES], "little")
                buffer = memoryview(bytearray(size))
                self._receive_into(buffer, 0, size)
                body = bytes(buffer)
            else:
                body = self._read_reply()
        except OSError as error:
            raise UnavailableError(
                f"cannot reach kpd at unix:{self.path} (local data socket): {error}",
                grpc.StatusCode.UNAVAILABLE,
            ) from None
        return self._check(body, fds), list(fds)

    def _check(self, body: bytes, fds: List[int]) -> local_pb2.LocalResponse:
        """The response in `body`; its error raised as a KpError (closing `fds`)."""
        response = local_pb2.LocalResponse.FromString(body)
        if response.code != 0:
            for fd in fds:
                os.close(fd)
            error = from_code(
                response.code, response.message, f"unix:{self.path}", response.error_kind
            )
            # 1 + the index of the prelude's action that failed; 0: the error is not an action's
            error.failed_action = response.failed_action  # type: ignore[attr-defined]
            raise error
        return response

    def _poll_into(self, view: memoryview) -> int:
        """Polls for the start of the reply for up to _SPIN_S seconds; the bytes received."""
        end = time.perf_counter() + _SPIN_S
        while True:
            try:
                n = self.sock.recv_into(view, 0, socket.MSG_DONTWAIT)
                if n == 0:
                    raise ConnectionResetError("the daemon closed the local data connection")
                return n
            except BlockingIOError:
                if time.perf_counter() >= end:
                    return 0

    def close(self) -> None:
        self.sock.close()


class LocalChannel:
    """The pool of local connections of one session, and its mapped arenas."""

    def __init__(self, path: str, session: str):
        self.path = path
        self.session = session
        self._lock = threading.Lock()
        self._idle: List[_Link] = []
        self._arenas: Dict[int, mmap.mmap] = {}
        first = _Link(path, session)  # fails early if the socket cannot be used
        self.alignment = first.alignment
        self._idle.append(first)

    def request(
        self, payload: bytes, prelude_applied: Optional[Callable[[], None]] = None
    ) -> local_pb2.LocalResponse:
        """Sends a serialized LocalRequest on an idle connection of the pool (see
        _Link.request_bytes for `prelude_applied`)."""
        link = self._acquire()
        try:
            response, fds = link.request_bytes(payload, prelude_applied=prelude_applied)
        except KpError as error:
            if isinstance(error, UnavailableError):
                link.close()
                link = None
            raise
        finally:
            if link is not None:
                self._release(link)
        for fd in fds:
            os.close(fd)
        return response

    def arena(self, arena_id: int) -> mmap.mmap:
        """The mapping of a shared-memory arena, fetched from the daemon the first time."""
        with self._lock:
            mapped = self._arenas.get(arena_id)
        if mapped is not None:
            return mapped
        request = local_pb2.LocalRequest(map_arena=local_pb2.MapArenaRequest(arena=arena_id))
        return self._map(request, f"arena {arena_id}")[1]

    def new_arena(self, size: int) -> Tuple[int, mmap.mmap]:
        """A new client arena of at least `size` bytes: its id and mapping."""
        request = local_pb2.LocalRequest(new_arena=local_pb2.NewArenaRequest(size=size))
        return self._map(request, "a new arena")

    def _map(self, request: local_pb2.LocalRequest, what: str) -> Tuple[int, mmap.mmap]:
        """Sends a request answered with an arena's memfd; maps it."""
        link = self._acquire()
        try:
            response, fds = link.request(request, expect_fd=True, timeout=_ANSWER_TIMEOUT_S)
        finally:
            self._release(link)
        if len(fds) != 1:
            raise UnavailableError(f"kpd sent no file descriptor for {what}")
        try:
            mapped = mmap.mmap(fds[0], response.map_arena.size, mmap.MAP_SHARED,
                               mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fds[0])
        arena_id = response.map_arena.arena
        with self._lock:
            return arena_id, self._arenas.setdefault(arena_id, mapped)

    def _acquire(self) -> _Link:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Link(self.path, self.session)

    def _release(self, link: _Link) -> None:
        with self._lock:
            self._idle.append(link)

    def close(self) -> None:
        with self._lock:
            links, self._idle = self._idle, []
        for link in links:
            link.close()
        # Arena mappings stay valid for arrays still viewing them; they go with those arrays.


def open_local_channel(data_socket: str, session: str) -> Optional[LocalChannel]:
    """The local channel, or None when the data socket cannot be used from here."""
    if not data_socket or not hasattr(socket, "recv_fds"):
        return None
    try:
        return LocalChannel(data_socket, session)
    except (OSError, KpError) as error:
        log.warning("kp: no shared memory with kpd (%s): tensors and evaluations travel over "
                    "gRPC", error)
        return None
