"""kp.Manager with the v0.5/0.6 API: build_tensor, named sequences, and the eval_* family.

Each ``eval_<op>`` method evaluates one op on a named sequence and waits; ``eval_<op>_def``
does so on an anonymous sequence (freed afterwards); ``eval_async_<op>`` and
``eval_async_<op>_def`` submit instead of waiting (``eval_await(name)`` and
``eval_await_def()`` wait). The ops: tensor_create, tensor_copy, tensor_sync_device,
tensor_sync_local, algo_mult, algo_file, algo_str, algo_data, algo_lro.
"""
from __future__ import annotations

import itertools
from functools import cached_property
from typing import Any, Dict, Iterator, List, Optional, Sequence as Seq

from .._errors import InvalidArgumentError
from .._evaluation import Evaluation
from .._types import TensorTypes
from ..manager import Manager
from ..operations import OpBase, OpMult, OpTensorCopy, OpTensorSyncDevice, OpTensorSyncLocal
from ..tensor import Tensor
from .operations import DEFAULT_WORKGROUP, OpAlgoBase, OpAlgoLhsRhsOut, OpTensorCreate
from .sequence import UINT64_MAX, LegacySequence, ManagedSequence
from .tensor import LegacyTensor


class LegacyManager(Manager):
    """A session with the kpd daemon, as Kompute's ``kp.Manager``, with both of its Python API
    generations: v0.8/0.9 (``tensor``, ``tensor_t``, ``algorithm``, ``sequence``) and v0.5/0.6
    (``build_tensor``, ``create_sequence``, the ``eval_*`` family). ``__init__`` documents the
    arguments.

    Everything the Manager creates lives in the daemon until ``destroy()`` (or the end of a
    ``with`` block, or once the Manager and everything it made are gone, or this process):
    then the daemon frees it all.
    """

    # The v0.5/0.6 state, made at its first use (the constructor is Manager's).

    @cached_property
    def _named(self) -> Dict[str, ManagedSequence]:
        """The sequences of create_sequence, by name."""
        return {}

    @cached_property
    def _default_names(self) -> Iterator[str]:
        """Names for create_sequence's unnamed sequences: DEFAULT1, DEFAULT2, ..."""
        return (f"DEFAULT{n}" for n in itertools.count(1))

    @cached_property
    def _pending_async_def(self) -> List[ManagedSequence]:
        """The sequences of eval_async_*_def evaluations not awaited yet, oldest first."""
        return []

    @cached_property
    def _once(self) -> Evaluation:
        """The evaluations of eval_<op>_def."""
        return Evaluation(self._conn)

    def sequence(self, queue_index: int = 0, total_timestamps: int = 0) -> LegacySequence:
        """A sequence on queue `queue_index` (an index into family_queue_indices), recording
        up to `total_timestamps` timestamps per evaluation."""
        return LegacySequence(self._conn, queue_index, total_timestamps)

    def build_tensor(self, data: Any, tensor_type: Any = None, **kwargs: Any) -> Tensor:
        """Creates a float32 tensor on the GPU with `data` (v0.5/0.6; ``tensorType=`` too)."""
        if tensor_type is None:
            tensor_type = kwargs.pop("tensorType", TensorTypes.device)
        if kwargs:
            raise TypeError(f"build_tensor: unexpected arguments {sorted(kwargs)}")
        return self._created(LegacyTensor(data, tensor_type))

    # ---- named sequences ----

    def create_sequence(
        self, name: str = "", queue_index: int = 0, **kwargs: Any
    ) -> ManagedSequence:
        """Creates a named sequence (v0.5/0.6). An empty name gets "DEFAULT<n>".

        A name that already exists returns that sequence (as get_create_sequence does) rather
        than a second, unreachable one; a different queue_index for it raises ValueError.
        ``queueIndex=`` is accepted as in Kompute.
        """
        queue_index = int(kwargs.pop("queueIndex", queue_index))
        if kwargs:
            raise TypeError(f"create_sequence: unexpected arguments {sorted(kwargs)}")
        if not name:
            name = next(self._default_names)
        existing = self._named.get(name)
        if existing is not None and existing.is_init():
            if existing._queue_index != queue_index:
                raise ValueError(
                    f"create_sequence: sequence {name!r} exists on queue {existing._queue_index},"
                    f" not {queue_index}"
                )
            return existing
        sequence = ManagedSequence(self._conn, queue_index)
        self._named[name] = sequence
        return sequence

    def get_create_sequence(self, name: str) -> ManagedSequence:
        """The named sequence, created on queue 0 if it does not exist yet."""
        return self.create_sequence(name)

    def eval_await(
        self,
        sequence_name: Optional[str] = None,
        wait_ns: int = UINT64_MAX,
        *,
        sequenceName: Optional[str] = None,  # noqa: N803 (Kompute v0.5/0.6's keyword)
        waitFor: Optional[int] = None,  # noqa: N803 (Kompute v0.5/0.6's keyword)
    ) -> bool:
        """Awaits the named sequence's asynchronous evaluation. True once it finished.
        Kompute v0.5/0.6's keywords ``sequenceName=`` and ``waitFor=`` are accepted."""
        sequence_name = sequenceName if sequenceName is not None else sequence_name
        wait_ns = waitFor if waitFor is not None else wait_ns
        if sequence_name is None:
            raise TypeError("eval_await: missing the sequence name (sequenceName)")
        sequence = self._named.get(sequence_name)
        if sequence is None:
            raise InvalidArgumentError(f"eval_await: no sequence named {sequence_name!r}")
        return sequence.eval_await(wait_ns)

    def eval_await_def(
        self,
        wait_ns: int = UINT64_MAX,
        *,
        waitFor: Optional[int] = None,  # noqa: N803 (Kompute v0.5/0.6's keyword)
    ) -> bool:
        """Awaits the eval_async_*_def evaluations, oldest first, and frees their sequences.
        True once all finished; on a timeout the unfinished ones stay awaitable. Kompute
        v0.5/0.6's keyword ``waitFor=`` is accepted."""
        wait_ns = waitFor if waitFor is not None else wait_ns
        while self._pending_async_def:
            sequence = self._pending_async_def[0]
            if not sequence.eval_await(wait_ns):
                return False
            self._pending_async_def.pop(0)
            sequence.destroy()
        return True

    def _run_named(self, sequence_name: str, op: OpBase, wait: bool) -> None:
        """Records `op` alone on the named sequence, then evaluates it (or submits it)."""
        sequence = self.get_create_sequence(sequence_name)
        sequence.begin()
        sequence._record_legacy(op)
        sequence.end()
        if wait:
            sequence.eval()
        else:
            sequence.eval_async()

    def _run_anonymous(self, op: OpBase, wait: bool) -> None:
        """Evaluates `op` once (or submits it on a sequence that eval_await_def frees)."""
        if wait:
            self._once.once([op])
            return
        sequence = ManagedSequence(self._conn)
        sequence.record(op)
        sequence.eval_async()
        self._pending_async_def.append(sequence)

    # ---- eval_<op>: on a named sequence, waiting ----

    def eval_tensor_create(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Creates tensors made with kp.Tensor in the daemon, on the named sequence."""
        self._run_named(sequence_name, OpTensorCreate(tensors), wait=True)

    def eval_tensor_copy(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Copies tensors[0] into tensors[1:], on the named sequence."""
        self._run_named(sequence_name, OpTensorCopy(tensors), wait=True)

    def eval_tensor_sync_device(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Uploads the tensors' host copies, on the named sequence."""
        self._run_named(sequence_name, OpTensorSyncDevice(tensors), wait=True)

    def eval_tensor_sync_local(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Downloads the tensors into their host copies, on the named sequence."""
        self._run_named(sequence_name, OpTensorSyncLocal(tensors), wait=True)

    def eval_algo_mult(self, tensors: List[Tensor], sequence_name: str) -> None:
        """tensors[2] = tensors[0] * tensors[1] (OpMult), on the named sequence."""
        self._run_named(sequence_name, OpMult(tensors), wait=True)

    def eval_algo_file(
        self,
        tensors: List[Tensor],
        sequence_name: str,
        file_path: str,
        work_group: Seq[int] = DEFAULT_WORKGROUP,
    ) -> None:
        """Runs a shader read from a file (.spv or GLSL) over tensors, on the named sequence."""
        self._run_named(
            sequence_name, OpAlgoBase.from_file(tensors, file_path, work_group), wait=True
        )

    def eval_algo_str(
        self,
        tensors: List[Tensor],
        sequence_name: str,
        shader: str,
        work_group: Seq[int] = DEFAULT_WORKGROUP,
    ) -> None:
        """Runs a GLSL shader (source text) over tensors, on the named sequence."""
        self._run_named(sequence_name, OpAlgoBase.from_str(tensors, shader, work_group), wait=True)

    def eval_algo_data(
        self,
        tensors: List[Tensor],
        sequence_name: str,
        data: Any,
        work_group: Seq[int] = DEFAULT_WORKGROUP,
    ) -> None:
        """Runs a shader given as SPIR-V bytes (or GLSL) over tensors, on the named sequence."""
        self._run_named(sequence_name, OpAlgoBase.from_data(tensors, data, work_group), wait=True)

    def eval_algo_lro(
        self, tensors: List[Tensor], sequence_name: str, shader: Any = None
    ) -> None:
        """OpAlgoLhsRhsOut: `shader` over (lhs, rhs, out), `out` downloaded, on the named
        sequence."""
        self._run_named(sequence_name, OpAlgoLhsRhsOut(tensors, shader), wait=True)

    # ---- eval_<op>_def: on an anonymous sequence, waiting ----

    def eval_tensor_create_def(self, tensors: List[Tensor]) -> None:
        """Creates tensors made with kp.Tensor in the daemon."""
        self._run_anonymous(OpTensorCreate(tensors), wait=True)

    def eval_tensor_copy_def(self, tensors: List[Tensor]) -> None:
        """Copies tensors[0] into tensors[1:]."""
        self._run_anonymous(OpTensorCopy(tensors), wait=True)

    def eval_tensor_sync_device_def(self, tensors: List[Tensor]) -> None:
        """Uploads the tensors' host copies."""
        self._run_anonymous(OpTensorSyncDevice(tensors), wait=True)

    def eval_tensor_sync_local_def(self, tensors: List[Tensor]) -> None:
        """Downloads the tensors into their host copies."""
        self._run_anonymous(OpTensorSyncLocal(tensors), wait=True)

    def eval_algo_mult_def(self, tensors: List[Tensor]) -> None:
        """tensors[2] = tensors[0] * tensors[1] (OpMult)."""
        self._run_anonymous(OpMult(tensors), wait=True)

    def eval_algo_file_def(
        self, tensors: List[Tensor], file_path: str, work_group: Seq[int] = DEFAULT_WORKGROUP
    ) -> None:
        """Runs a shader read from a file (.spv or GLSL) over tensors."""
        self._run_anonymous(OpAlgoBase.from_file(tensors, file_path, work_group), wait=True)

    def eval_algo_str_def(
        self, tensors: List[Tensor], shader: str, work_group: Seq[int] = DEFAULT_WORKGROUP
    ) -> None:
        """Runs a GLSL shader (source text) over tensors."""
        self._run_anonymous(OpAlgoBase.from_str(tensors, shader, work_group), wait=True)

    def eval_algo_data_def(
        self, tensors: List[Tensor], data: Any, work_group: Seq[int] = DEFAULT_WORKGROUP
    ) -> None:
        """Runs a shader given as SPIR-V bytes (or GLSL) over tensors."""
        self._run_anonymous(OpAlgoBase.from_data(tensors, data, work_group), wait=True)

    def eval_algo_lro_def(self, tensors: List[Tensor], shader: Any = None) -> None:
        """OpAlgoLhsRhsOut: `shader` over (lhs, rhs, out), `out` downloaded."""
        self._run_anonymous(OpAlgoLhsRhsOut(tensors, shader), wait=True)

    # ---- eval_async_<op>: on a named sequence; eval_await(name) waits ----

    def eval_async_tensor_create(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Submits the creation of tensors made with kp.Tensor, on the named sequence."""
        self._run_named(sequence_name, OpTensorCreate(tensors), wait=False)

    def eval_async_tensor_copy(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Submits a copy of tensors[0] into tensors[1:], on the named sequence."""
        self._run_named(sequence_name, OpTensorCopy(tensors), wait=False)

    def eval_async_tensor_sync_device(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Submits an upload of the tensors' host copies, on the named sequence."""
        self._run_named(sequence_name, OpTensorSyncDevice(tensors), wait=False)

    def eval_async_tensor_sync_local(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Submits a download of the tensors into their host copies, on the named sequence."""
        self._run_named(sequence_name, OpTensorSyncLocal(tensors), wait=False)

    def eval_async_algo_mult(self, tensors: List[Tensor], sequence_name: str) -> None:
        """Submits tensors[2] = tensors[0] * tensors[1] (OpMult), on the named sequence."""
        self._run_named(sequence_name, OpMult(tensors), wait=False)

    def eval_async_algo_file(
        self,
        tensors: List[Tensor],
        sequence_name: str,
        file_path: str,
        work_group: Seq[int] = DEFAULT_WORKGROUP,
    ) -> None:
        """Submits a shader read from a file (.spv or GLSL), on the named sequence."""
        self._run_named(
            sequence_name, OpAlgoBase.from_file(tensors, file_path, work_group), wait=False
        )

    def eval_async_algo_str(
        self,
        tensors: List[Tensor],
        sequence_name: str,
        shader: str,
        work_group: Seq[int] = DEFAULT_WORKGROUP,
    ) -> None:
        """Submits a GLSL shader (source text) over tensors, on the named sequence."""
        self._run_named(
            sequence_name, OpAlgoBase.from_str(tensors, shader, work_group), wait=False
        )

    def eval_async_algo_data(
        self,
        tensors: List[Tensor],
        sequence_name: str,
        data: Any,
        work_group: Seq[int] = DEFAULT_WORKGROUP,
    ) -> None:
        """Submits a shader given as SPIR-V bytes (or GLSL), on the named sequence."""
        self._run_named(
            sequence_name, OpAlgoBase.from_data(tensors, data, work_group), wait=False
        )

    def eval_async_algo_lro(
        self, tensors: List[Tensor], sequence_name: str, shader: Any = None
    ) -> None:
        """Submits OpAlgoLhsRhsOut (`shader` over lhs, rhs, out), on the named sequence."""
        self._run_named(sequence_name, OpAlgoLhsRhsOut(tensors, shader), wait=False)

    # ---- eval_async_<op>_def: on an anonymous sequence; eval_await_def() waits ----

    def eval_async_tensor_create_def(self, tensors: List[Tensor]) -> None:
        """Submits the creation of tensors made with kp.Tensor."""
        self._run_anonymous(OpTensorCreate(tensors), wait=False)

    def eval_async_tensor_copy_def(self, tensors: List[Tensor]) -> None:
        """Submits a copy of tensors[0] into tensors[1:]."""
        self._run_anonymous(OpTensorCopy(tensors), wait=False)

    def eval_async_tensor_sync_device_def(self, tensors: List[Tensor]) -> None:
        """Submits an upload of the tensors' host copies."""
        self._run_anonymous(OpTensorSyncDevice(tensors), wait=False)

    def eval_async_tensor_sync_local_def(self, tensors: List[Tensor]) -> None:
        """Submits a download of the tensors into their host copies."""
        self._run_anonymous(OpTensorSyncLocal(tensors), wait=False)

    def eval_async_algo_mult_def(self, tensors: List[Tensor]) -> None:
        """Submits tensors[2] = tensors[0] * tensors[1] (OpMult)."""
        self._run_anonymous(OpMult(tensors), wait=False)

    def eval_async_algo_file_def(
        self, tensors: List[Tensor], file_path: str, work_group: Seq[int] = DEFAULT_WORKGROUP
    ) -> None:
        """Submits a shader read from a file (.spv or GLSL) over tensors."""
        self._run_anonymous(OpAlgoBase.from_file(tensors, file_path, work_group), wait=False)

    def eval_async_algo_str_def(
        self, tensors: List[Tensor], shader: str, work_group: Seq[int] = DEFAULT_WORKGROUP
    ) -> None:
        """Submits a GLSL shader (source text) over tensors."""
        self._run_anonymous(OpAlgoBase.from_str(tensors, shader, work_group), wait=False)

    def eval_async_algo_data_def(
        self, tensors: List[Tensor], data: Any, work_group: Seq[int] = DEFAULT_WORKGROUP
    ) -> None:
        """Submits a shader given as SPIR-V bytes (or GLSL) over tensors."""
        self._run_anonymous(OpAlgoBase.from_data(tensors, data, work_group), wait=False)

    def eval_async_algo_lro_def(self, tensors: List[Tensor], shader: Any = None) -> None:
        """Submits OpAlgoLhsRhsOut (`shader` over lhs, rhs, out)."""
        self._run_anonymous(OpAlgoLhsRhsOut(tensors, shader), wait=False)
