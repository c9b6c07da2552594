"""kp.Sequence with the v0.5/0.6 API: begin / record_* / end, and sequences whose evaluations
report True or False (those of ``mgr.create_sequence`` and ``mgr.eval_async_*_def``)."""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Sequence as Seq

from .._session import Session
from ..operations import OpBase, OpMult, OpTensorCopy, OpTensorSyncDevice, OpTensorSyncLocal
from ..sequence import Sequence
from ..tensor import Tensor
from .operations import DEFAULT_WORKGROUP, OpAlgoBase, OpAlgoLhsRhsOut, OpTensorCreate

log = logging.getLogger("kp")

# Kompute v0.5/0.6's "wait forever" (UINT64_MAX nanoseconds).
UINT64_MAX = 2**64 - 1


class LegacySequence(Sequence):
    """A sequence of ops, recorded once and evaluated many times (Kompute's kp.Sequence).

    ``record(op)`` calls collect ops in this process; the first ``record`` after an
    evaluation starts a new list (``seq.record(a).eval().record(b).eval()`` runs a, then b).
    Each evaluation is one request to the daemon carrying the ops (only when they changed) and
    the host copies of the tensors that its OpTensorSyncDevice ops upload; the reply carries
    the host copies its OpTensorSyncLocal ops download, written into those tensors' ``data()``.

    The v0.5/0.6 way to record works too: ``begin()``, ``record_<op>(tensors, ...)``,
    ``end()``. Sequences of ``mgr.create_sequence`` report their evaluations as True/False.
    """

    def __init__(self, session: Session, queue_index: int = 0, total_timestamps: int = 0):
        super().__init__(session, queue_index, total_timestamps)
        self._legacy_recording = False  # between begin() and end()

    def eval_await(
        self, timeout_ns: Optional[int] = None, *, wait_ns: Optional[int] = None
    ) -> Sequence:
        """Waits for the evaluation started by eval_async and applies its downloads.

        Without a timeout, waits until it finishes. With `timeout_ns` (v0.5/0.6 name:
        `wait_ns`), returns after at most that many nanoseconds; if the evaluation is still
        running then, the wait ends as in Kompute (``is_running()`` is False) and the next use
        of the sequence waits for it. Returns the sequence (v0.5/0.6 sequences: True if it
        finished, else False).
        """
        return super().eval_await(wait_ns if wait_ns is not None else timeout_ns)

    def init(self) -> None:
        """Kompute v0.5/0.6's explicit initialisation: sequences here are ready once created,
        so this does nothing."""

    # ---- begin / record_* / end ----

    def begin(self) -> bool:
        """Starts recording, dropping the ops recorded before. False if running or recording."""
        if self._running:
            log.error("begin: the sequence is running; await it first")
            return False
        if self._legacy_recording:
            log.warning("begin: the sequence is already recording")
            return False
        with self._lock:
            self._drop_ops()
            self._recording = True
            self._sent = False
            self._legacy_recording = True
        return True

    def end(self) -> bool:
        """Stops recording. False if the sequence was not recording."""
        if not self._legacy_recording:
            log.warning("end: the sequence is not recording")
            return False
        self._legacy_recording = False
        return True

    def is_rec(self) -> bool:
        """True between begin() and end()."""
        return self._legacy_recording

    def _record_legacy(self, op: OpBase) -> bool:
        """Records `op` between begin() and end(); False (and an error logged) elsewhere."""
        if not self._legacy_recording:
            log.error("record: call begin() before recording ops")
            return False
        self._append(op)
        return True

    def record_tensor_create(self, tensors: List[Tensor]) -> bool:
        """Records OpTensorCreate: creates tensors made with kp.Tensor in the daemon."""
        return self._record_legacy(OpTensorCreate(tensors))

    def record_tensor_copy(self, tensors: List[Tensor]) -> bool:
        """Records OpTensorCopy: tensors[0] into tensors[1:]."""
        return self._record_legacy(OpTensorCopy(tensors))

    def record_tensor_sync_device(self, tensors: List[Tensor]) -> bool:
        """Records OpTensorSyncDevice: uploads the tensors' host copies."""
        return self._record_legacy(OpTensorSyncDevice(tensors))

    def record_tensor_sync_local(self, tensors: List[Tensor]) -> bool:
        """Records OpTensorSyncLocal: downloads the tensors into their host copies."""
        return self._record_legacy(OpTensorSyncLocal(tensors))

    def record_algo_mult(self, tensors: List[Tensor]) -> bool:
        """Records OpMult: tensors[2] = tensors[0] * tensors[1]."""
        return self._record_legacy(OpMult(tensors))

    def record_algo_file(
        self, tensors: List[Tensor], file_path: str, work_group: Seq[int] = DEFAULT_WORKGROUP
    ) -> bool:
        """Records a shader read from a file (.spv SPIR-V or .comp GLSL source)."""
        return self._record_legacy(OpAlgoBase.from_file(tensors, file_path, work_group))

    def record_algo_data(
        self,
        tensors: List[Tensor],
        data: Any = None,
        work_group: Seq[int] = DEFAULT_WORKGROUP,
        **kwargs: Any,
    ) -> bool:
        """Records a shader given as SPIR-V bytes (or GLSL text as bytes/str). Kompute
        v0.5/0.6's keyword for `data` is ``bytes=``."""
        if "bytes" in kwargs:
            data = kwargs.pop("bytes")
        if kwargs:
            raise TypeError(f"record_algo_data: unexpected keyword(s) {sorted(kwargs)}")
        if data is None:
            raise TypeError("record_algo_data: missing the shader (bytes)")
        return self._record_legacy(OpAlgoBase.from_data(tensors, data, work_group))

    def record_algo_str(
        self, tensors: List[Tensor], shader: str, work_group: Seq[int] = DEFAULT_WORKGROUP
    ) -> bool:
        """Records a shader given as GLSL source, compiled by the daemon."""
        return self._record_legacy(OpAlgoBase.from_str(tensors, shader, work_group))

    def record_algo_lro(self, tensors: List[Tensor], shader: Any = None) -> bool:
        """Records OpAlgoLhsRhsOut: `shader` over (lhs, rhs, out), `out` downloaded after."""
        return self._record_legacy(OpAlgoLhsRhsOut(tensors, shader))


class ManagedSequence(LegacySequence):
    """A sequence of the v0.5/0.6 API, made and held by the Manager (``create_sequence``, and
    the anonymous ones of ``eval_async_*_def``): ``eval()``, ``eval_async()`` and
    ``eval_await()`` report True or False, as in Kompute v0.5/0.6, rather than return the
    sequence."""

    def eval(self, op: Optional[OpBase] = None) -> Any:
        """Evaluates the recorded ops and waits: True, or False (an error logged) while the
        sequence is still recording (call end() first). With `op`, clears, evaluates only
        `op` and returns the sequence, as v0.8/0.9 sequences do."""
        if op is not None:
            return super().eval(op)
        if self._legacy_recording:
            log.error("eval: the sequence is still recording; call end() first")
            return False
        self._evaluate(None)
        return True

    def eval_async(self, op: Optional[OpBase] = None) -> Any:
        """Submits the recorded ops and returns at once: True, or False (an error logged) if
        the sequence is recording or already running. With `op`, submits only `op` and
        returns the sequence, as v0.8/0.9 sequences do."""
        if op is not None:
            return super().eval_async(op)
        if self._legacy_recording or self._running:
            log.error("eval_async: the sequence is recording or already running")
            return False
        self._submit(None)
        return True

    def eval_await(  # type: ignore[override]  # v0.5/0.6 results are bools
        self, timeout_ns: Optional[int] = None, *, wait_ns: Optional[int] = None
    ) -> bool:
        """Waits for the evaluation started by eval_async and applies its downloads: True
        once it finished; False if nothing was running, or if `timeout_ns` (v0.5/0.6 name:
        `wait_ns`; UINT64_MAX: no limit) nanoseconds passed first, in which case the wait ends
        as in Kompute (``is_running()`` is False) and the next use of the sequence waits for
        the evaluation, which kpd keeps running."""
        if wait_ns is not None:
            timeout_ns = wait_ns
        if timeout_ns is not None and timeout_ns >= UINT64_MAX:
            timeout_ns = None
        return self._await(timeout_ns)
