"""kp.Sequence: a recorded list of ops in kpd, evaluated in one round trip each time."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, List, Optional

from ._errors import DeadlineExceededError, FailedPreconditionError
from ._evaluation import (
    STREAM_THRESHOLD,
    apply_downloads,
    create_pending_tensors,
    op_protos,
    release,
    stream_uploads,
    upload_messages,
)
from ._legacy import LegacySequenceMixin
from ._remote import RemoteObject
from .operations import OpBase
from .v1 import compute_pb2

if TYPE_CHECKING:
    from .manager import Manager

log = logging.getLogger("kp")

# EvalAwait without a timeout waits in slices of this many nanoseconds, so that the daemon's
# own wait limit is never hit and a vanished daemon is noticed.
_AWAIT_SLICE_NS = 10_000_000_000


class Sequence(RemoteObject, LegacySequenceMixin):
    """A sequence of ops, recorded once and evaluated many times (Kompute's kp.Sequence).

    ``record(op)`` calls collect ops in this process; the first ``record`` after an
    evaluation starts a new list (``seq.record(a).eval().record(b).eval()`` runs a, then b).
    Each evaluation is one request to the daemon carrying the ops (only when they changed) and
    the host copies of the tensors that its OpTensorSyncDevice ops upload; the reply carries
    the host copies its OpTensorSyncLocal ops download, written into those tensors' ``data()``.
    """

    _kind = "sequence"
    _destroy_rpc = "DestroySequence"

    def __init__(self, manager: "Manager", queue_index: int = 0, total_timestamps: int = 0):
        self._manager: Optional["Manager"] = manager
        self._queue_index = int(queue_index)
        self._total_timestamps = int(total_timestamps)
        response = manager._conn.call(
            "CreateSequence",
            compute_pb2.CreateSequenceRequest(
                session=manager._conn.session,
                queue_index=self._queue_index,
                total_timestamps=self._total_timestamps,
            ),
        )
        self._handle = response.sequence
        self._lock = threading.RLock()
        self._ops: List[OpBase] = []
        self._recording = False
        self._sent = False  # the daemon holds the current op list
        self._running = False
        self._timestamps: List[int] = []
        self._destroyed = False
        self._legacy_init()

    # ---- recording ----

    def record(self, op: OpBase) -> "Sequence":
        """Records an op; returns the sequence for chaining."""
        if not isinstance(op, OpBase):
            raise TypeError(f"record: expected a kp.Op*, got {type(op).__name__}")
        with self._lock:
            self._require_usable("record")
            self._require_idle("record")
            if not self._recording:
                self._drop_ops()
                self._recording = True
            self._ops.append(op)
            self._sent = False
        return self

    def clear(self) -> None:
        """Removes every recorded op; evaluating then runs nothing."""
        with self._lock:
            self._require_idle("clear")
            self._drop_ops()
            self._recording = False
            self._sent = False

    def rerecord(self) -> None:
        """Records the current ops again (the daemon re-records its command buffer)."""
        with self._lock:
            self._require_idle("rerecord")
            self._recording = False
            self._sent = False

    # ---- evaluation ----

    def _drop_ops(self) -> None:
        release(self._ops)
        self._ops = []

    def eval(self, op: Optional[OpBase] = None) -> "Sequence":
        """Evaluates the recorded ops and waits; with `op`, clears and evaluates only `op`.

        (A sequence from the v0.5/0.6 ``create_sequence`` returns True/False instead.)
        """
        if self._legacy and op is None:
            return self._legacy_eval()
        self._evaluate(op)
        return self

    def _evaluate(self, op: Optional[OpBase]) -> None:
        with self._lock:
            if op is not None:
                self.clear()
                self.record(op)
            request = self._eval_request("eval")
            try:
                response = self._call("Eval", request)
            except DeadlineExceededError:
                # The daemon keeps running it: it can be awaited like an eval_async.
                self._recording, self._sent, self._running = False, True, True
                raise
            self._finish(response)

    def eval_async(self, op: Optional[OpBase] = None) -> "Sequence":
        """Submits the recorded ops (or only `op`) and returns at once; see eval_await."""
        if self._legacy and op is None:
            return self._legacy_eval_async()
        self._submit(op)
        return self

    def _submit(self, op: Optional[OpBase]) -> None:
        with self._lock:
            if op is not None:
                self.clear()
                self.record(op)
            request = self._eval_request("eval_async")
            self._call("EvalAsync", request)
            self._recording = False
            self._sent = True
            self._running = True

    def eval_await(self, timeout_ns: Optional[int] = None, *, wait_ns: Optional[int] = None):
        """Waits for the evaluation started by eval_async and applies its downloads.

        Without a timeout, waits until it finishes. With `timeout_ns` (v0.5/0.6 name:
        `wait_ns`), returns after at most that many nanoseconds; if the evaluation is still
        running, ``is_running()`` stays True and the sequence can be awaited again.
        Returns the sequence (v0.5/0.6 sequences: True if it finished, else False).
        """
        if wait_ns is not None:
            timeout_ns = wait_ns
        if self._legacy:
            return self._legacy_eval_await(timeout_ns)
        self._await(timeout_ns)
        return self

    def _await(self, timeout_ns: Optional[int]) -> bool:
        with self._lock:
            if not self._running:
                log.debug("eval_await: sequence is not running")
                return False
            while True:
                slice_ns = _AWAIT_SLICE_NS if timeout_ns is None else int(timeout_ns)
                response = self._call(
                    "EvalAwait",
                    compute_pb2.EvalAwaitRequest(
                        session=self._session(),
                        sequence=self._handle,
                        timeout_ns=slice_ns,
                        inline_download_limit=STREAM_THRESHOLD,
                    ),
                )
                if response.finished:
                    self._running = False
                    self._finish(response)
                    return True
                if timeout_ns is not None:
                    return False

    def _eval_request(self, what: str) -> compute_pb2.EvalRequest:
        self._require_usable(what)
        self._require_idle(what)
        manager = self._manager
        assert manager is not None
        create_pending_tensors(self._ops, manager)
        request = compute_pb2.EvalRequest(session=self._session(), sequence=self._handle)
        if not self._sent:
            request.record = True
            request.ops.extend(op_protos(self._ops, manager))
        request.uploads.extend(upload_messages(self._ops))
        request.inline_download_limit = STREAM_THRESHOLD
        stream_uploads(self._ops, manager._conn)
        return request

    def _finish(self, response: compute_pb2.EvalResponse) -> None:
        """Applies an evaluation's downloads and timestamps."""
        self._recording = False
        self._sent = True
        assert self._manager is not None
        apply_downloads(self._ops, response, self._manager._conn)
        self._timestamps = list(response.timestamps)

    def _call(self, method: str, request: object) -> object:
        assert self._manager is not None
        return self._manager._conn.call(method, request)

    def _session(self) -> str:
        assert self._manager is not None
        return self._manager._conn.session

    # ---- state ----

    def get_timestamps(self) -> List[int]:
        """Device timestamps (ticks; see the device's timestamp_period) of the last
        evaluation: one before the first op and one after each op."""
        if self._total_timestamps == 0:
            raise FailedPreconditionError(
                "timestamps are not enabled: create the sequence with total_timestamps > 0"
            )
        return list(self._timestamps)

    def is_running(self) -> bool:
        """True from eval_async until eval_await has collected the result."""
        return self._running

    def is_recording(self) -> bool:
        """True from the first record() after an evaluation until the next evaluation."""
        return self._recording

    def destroy(self) -> None:
        """Frees the sequence in the daemon (after its running evaluation). Idempotent."""
        with self._lock:
            ops, self._ops = self._ops, []
            super().destroy()
            release(ops)
            self._running = False

    def _destroy_request(self, session: str) -> compute_pb2.DestroySequenceRequest:
        return compute_pb2.DestroySequenceRequest(session=session, sequence=self._handle)

    def _require_usable(self, what: str) -> None:
        if self._destroyed or self._manager is None:
            raise FailedPreconditionError(f"{what}: the sequence was destroyed")

    def _require_idle(self, what: str) -> None:
        if self._running:
            raise FailedPreconditionError(
                f"{what}: the sequence is running; call eval_await() first"
            )
