"""Pipelined creation: a session's tensors, algorithms and sequences are named by handles this
process chooses, and their creation requests wait here for the next call to kpd, which carries
them (as the prelude of a local data socket request, or an Apply call before a gRPC one).
Creating an object costs no round trip of its own.

A creation kpd refuses fails the call that carried it, with an error named after the call that
made the object ("kp.Manager.tensor(3 x eFloat, device) (sent with the next call to kpd):
..."); that call's own request is not sent.
The object then reports ``is_init() == False`` and any later use raises the same error; the
creations queued after it stay queued for the next call.

Ordering: kpd applies actions in the order they were queued. While one thread's call carries
actions to kpd, other threads' calls wait until kpd says it applied them (on the local data
socket, the first of that call's two responses, sent before the call's own work; over gRPC, the
Apply's answer), so that no request can overtake the creation of an object it names. Only
creations in flight hold others up, for as long as kpd takes to make them.
"""
from __future__ import annotations

import os
import random
import threading
from typing import Any, Callable, List, Optional

import grpc

from ._errors import KpError
from ._protowire import apply_request

# Handles chosen by clients have the top bit set (kpd's own never do: proto CreateTensorRequest).
CLIENT_HANDLE_BIT = 1 << 63


class Pending:
    """One queued creation: the object it makes, a function returning its serialized Action
    (called when it is sent, so that creating builds no message), and one returning how the
    error names the creating call."""

    __slots__ = ("owner", "build", "what")

    def __init__(self, owner: Any, build: Callable[[], bytes], what: Callable[[], str]):
        self.owner = owner
        self.build = build
        self.what = what


class Pipeline:
    """The creations of one session not yet sent to kpd."""

    def __init__(self) -> None:
        self._random = random.Random(os.urandom(16))
        self._lock = threading.Lock()
        # Notified when a call carrying actions got its answer (waited on in take()).
        self._changed = threading.Condition(self._lock)
        self._queued: List[Pending] = []
        self._in_flight = 0  # calls carrying actions, not answered yet

    def new_handle(self) -> int:
        """A handle for a new object: random, with the client bit set."""
        return CLIENT_HANDLE_BIT | self._random.getrandbits(63)

    def add(self, pending: Pending) -> None:
        with self._lock:  # the lock itself: a Condition's own __enter__ is Python code
            self._queued.append(pending)

    def cancel(self, owner: Any) -> bool:
        """Forgets `owner`'s creation if it was not sent yet (the object was destroyed before
        anything needed it); True if it was queued."""
        with self._lock:
            for i, pending in enumerate(self._queued):
                if pending.owner is owner:
                    del self._queued[i]
                    return True
        return False

    def take(self) -> Optional[List[Pending]]:
        """The queued creations, to send with the caller's request (None if there are none),
        once no other call's are in flight. The caller must then call done() or failed()."""
        if not self._queued and not self._in_flight:
            return None  # the common case, on every call: no lock (a Condition's is Python)
        with self._changed:
            while self._in_flight:
                self._changed.wait()
            if not self._queued:
                return None
            taken, self._queued = self._queued, []
            self._in_flight += 1
            return taken

    @staticmethod
    def request(session_id: str, taken: List[Pending]) -> bytes:
        """The serialized ApplyRequest carrying `taken`."""
        return apply_request(session_id, [p.build() for p in taken])

    def done(self, taken: Optional[List[Pending]]) -> None:
        """The call that carried `taken` got its answer (every action was applied, or the call
        failed for a reason of its own after they were)."""
        if taken is None:
            return
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def failed(self, taken: List[Pending], applied: int, error: KpError) -> KpError:
        """The action at index `applied` of `taken` failed with `error`: marks its object, puts
        the actions after it back in the queue, and returns the error to raise (named after the
        object's creating call)."""
        pending = taken[applied]
        named = _renamed(error, pending.what())
        pending.owner._creation_failed(named)
        with self._changed:
            self._queued[:0] = taken[applied + 1:]
            self._in_flight -= 1
            self._changed.notify_all()
        return named

    def requeue(self, taken: Optional[List[Pending]]) -> None:
        """The call could not be sent (nothing was applied): its actions go back in front."""
        if taken is None:
            return
        with self._changed:
            self._queued[:0] = taken
            self._in_flight -= 1
            self._changed.notify_all()


def _renamed(error: KpError, what: str) -> KpError:
    """`error` (kpd's "actions[i] (create_tensor): why") as the error of `what`."""
    details = error.details
    if details.startswith("actions["):
        _, _, details = details.partition("): ")
    return type(error)(f"{what} (sent with the next call to kpd): {details}", error.code)


FAILED_ACTION_KEY = "kp-failed-action"


def failed_action(error: grpc.RpcError) -> Optional[int]:
    """The index of the Apply action that `error` is about (its "kp-failed-action" trailing
    metadata), or None when the error is not an action's."""
    try:
        metadata = error.trailing_metadata() or ()
    except Exception:  # noqa: BLE001 - not every RpcError is a call
        return None
    for key, value in metadata:
        if key == FAILED_ACTION_KEY:
            try:
                return int(value.decode() if isinstance(value, bytes) else value)
            except ValueError:
                return None
    return None
