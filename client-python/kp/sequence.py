"""kp.Sequence: a recorded list of ops in kpd, evaluated in one round trip each time."""
from __future__ import annotations

import logging
import threading
from typing import List, Optional

from ._errors import DeadlineExceededError, FailedPreconditionError
from ._evaluation import Evaluation, release
from ._pipeline import Pending
from ._remote import RemoteObject
from ._session import Session
from .operations import OpBase
from .v1 import compute_pb2

log = logging.getLogger("kp")


class Sequence(RemoteObject):
    """A sequence of ops, recorded once and evaluated many times (Kompute's kp.Sequence).

    Made by ``mgr.sequence()``. ``record(op)`` calls collect ops in this process; the first
    ``record`` after an evaluation starts a new list (``seq.record(a).eval().record(b).eval()``
    runs a, then b). Each evaluation is one request to the daemon carrying the ops (only when
    they changed) and the host copies of the tensors that its OpTensorSyncDevice ops upload;
    the reply carries the host copies its OpTensorSyncLocal ops download, written into those
    tensors' ``data()``.
    """

    _kind = "sequence"
    _destroy_rpc = "DestroySequence"

    def __init__(self, session: Session, queue_index: int = 0, total_timestamps: int = 0):
        self._session: Optional[Session] = session
        self._queue_index = int(queue_index)
        self._total_timestamps = int(total_timestamps)
        request = compute_pb2.CreateSequenceRequest(
            session=session.session,
            queue_index=self._queue_index,
            total_timestamps=self._total_timestamps,
        )
        if session.pipeline is None:
            self._handle = session.call("CreateSequence", request).sequence
        else:  # pipelined: see kp._pipeline
            self._handle = request.handle = session.pipeline.new_handle()
            session.defer(Pending(
                self,
                lambda: compute_pb2.Action(create_sequence=request).SerializeToString(),
                lambda: f"kp.Manager.sequence(queue_index={self._queue_index}, "
                        f"total_timestamps={self._total_timestamps})",
            ))
        self._evaluation = Evaluation(session, self._handle)
        self._lock = threading.RLock()
        self._ops: List[OpBase] = []
        self._recording = False
        self._sent = False  # the daemon holds the current op list
        self._running = False
        # An evaluation whose eval_await timed out: Kompute then reports the sequence not
        # running, so kpd's evaluation (which keeps running) is waited for, and applied, before
        # the sequence is used again (see _settle).
        self._abandoned = False
        self._cleared = False  # clear() was called since the last record(): see clear()
        self._timestamps: List[int] = []
        self._destroyed = False

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
                self._cleared = False
            self._append(op)
        return self

    def clear(self) -> None:
        """Ends recording, as Kompute's clear(): the next record() starts a new op list, while
        an eval() before it still runs the ops recorded so far (Kompute's command buffer kept
        them), and rerecord() records an empty list."""
        with self._lock:
            self._require_idle("clear")
            self._recording = False
            self._cleared = True

    def rerecord(self) -> None:
        """Records the current ops again (the daemon re-records its command buffer); after
        clear(), an empty list."""
        with self._lock:
            self._require_idle("rerecord")
            if self._cleared:
                self._drop_ops()
                self._cleared = False
            self._recording = False
            self._sent = False

    def _append(self, op: OpBase) -> None:
        """Adds `op` to the recorded ops (to be sent with the next evaluation)."""
        with self._lock:
            self._ops.append(op)
            self._sent = False

    def _drop_ops(self) -> None:
        release(self._ops)
        self._ops = []

    # ---- evaluation ----

    def eval(self, op: Optional[OpBase] = None) -> "Sequence":
        """Evaluates the recorded ops and waits; with `op`, clears and evaluates only `op`."""
        self._evaluate(op)
        return self

    def _evaluate(self, op: Optional[OpBase]) -> None:
        with self._lock:
            if op is not None:
                self.clear()
                self.record(op)
            request = self._eval_request("eval")
            try:
                response = self._evaluation.eval(request)
            except DeadlineExceededError:
                # The daemon keeps running it: it can be awaited like an eval_async.
                self._recording, self._sent, self._running = False, True, True
                raise
            self._finish(response)

    def eval_async(self, op: Optional[OpBase] = None) -> "Sequence":
        """Submits the recorded ops (or only `op`) and returns at once; see eval_await."""
        self._submit(op)
        return self

    def _submit(self, op: Optional[OpBase]) -> None:
        with self._lock:
            if op is not None:
                self.clear()
                self.record(op)
            request = self._eval_request("eval_async")
            self._evaluation.eval_async(request)
            self._recording = False
            self._sent = True
            self._running = True

    def eval_await(self, timeout_ns: Optional[int] = None) -> "Sequence":
        """Waits for the evaluation started by eval_async and applies its downloads.

        Without a timeout, waits until it finishes. With `timeout_ns`, returns after at most
        that many nanoseconds; if the evaluation is still running then, the wait ends as in
        Kompute: a warning is logged and ``is_running()`` is False. The daemon keeps the work
        running; the next use of the sequence (eval, eval_async, record, clear) first waits for
        it and applies its results, so it can never overlap the next evaluation. Returns the
        sequence.
        """
        self._await(timeout_ns)
        return self

    def _await(self, timeout_ns: Optional[int]) -> bool:
        """Waits as eval_await(); True once the evaluation finished and was applied."""
        with self._lock:
            if not self._running:
                log.debug("eval_await: sequence is not running")
                return False
            response = self._evaluation.eval_await(timeout_ns)
            self._running = False
            if response is None:
                log.warning("eval_await: the evaluation did not finish within %d ns; it goes "
                            "on, and the next use of the sequence waits for it", timeout_ns)
                self._abandoned = True
                return False
            self._finish(response)
            return True

    def _settle(self) -> None:
        """Waits for (and applies) an evaluation whose await timed out, if there is one."""
        if self._abandoned:
            self._abandoned = False
            response = self._evaluation.eval_await(None)
            if response is not None:
                self._finish(response)

    def _eval_request(self, what: str) -> compute_pb2.EvalRequest:
        """The request evaluating the recorded ops (with them, when the daemon does not hold
        them yet); its large uploads are streamed already. `what` names the caller in errors."""
        self._require_usable(what)
        self._require_idle(what)
        return self._evaluation.request(self._ops, record=not self._sent)

    def _finish(self, response: compute_pb2.EvalResponse) -> None:
        """Applies an evaluation's downloads and timestamps."""
        self._recording = False
        self._sent = True
        self._timestamps = self._evaluation.apply(self._ops, response)

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
        """True from eval_async until eval_await has collected the result or timed out."""
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
            self._abandoned = False

    def _destroy_request(self, session: str) -> compute_pb2.DestroySequenceRequest:
        return compute_pb2.DestroySequenceRequest(session=session, sequence=self._handle)

    def _require_usable(self, what: str) -> None:
        if self._destroyed or self._session is None:
            raise FailedPreconditionError(f"{what}: the sequence was destroyed")

    def _require_idle(self, what: str) -> None:
        self._settle()
        if self._running:
            raise FailedPreconditionError(
                f"{what}: the sequence is running; call eval_await() first"
            )
