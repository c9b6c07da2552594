"""Kompute's v0.5/0.6 Python API on the same objects: named sequences with begin/record/end,
the Manager's eval_* family, and the ops that era had (OpTensorCreate, algorithms from a
shader given as SPIR-V, GLSL text or a file, OpAlgoLhsRhsOut)."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence as Seq

import numpy as np

from ._errors import FailedPreconditionError, InvalidArgumentError
from .algorithm import Algorithm
from .operations import (
    OpBase,
    OpMult,
    OpTensorCopy,
    OpTensorSyncDevice,
    OpTensorSyncLocal,
    _tensor_list,
)
from .tensor import Tensor
from .v1 import types_pb2

if TYPE_CHECKING:
    from .manager import Manager
    from .sequence import Sequence

log = logging.getLogger("kp")

UINT64_MAX = 2**64 - 1


# ---- ops of the v0.5/0.6 era ----


class OpTensorCreate(OpBase):
    """Creates tensors made with ``kp.Tensor(data)`` in the daemon, with their host data."""

    def __init__(self, tensors: List[Tensor]):
        self.tensors = _tensor_list(tensors, "OpTensorCreate")

    def _to_create(self) -> List[Tensor]:
        for i, tensor in enumerate(self.tensors):
            if tensor._handle:
                raise FailedPreconditionError(
                    f"OpTensorCreate: tensors[{i}] was already created on the GPU"
                )
        return self.tensors

    def _protos(self, manager: "Manager") -> List[types_pb2.Op]:
        return []

    def _tensors(self) -> List[Tensor]:
        return self.tensors


def read_shader_file(path: str) -> Any:
    """A shader file's contents: bytes for SPIR-V (.spv or binary), text for GLSL."""
    with open(path, "rb") as f:
        data = f.read()
    from .algorithm import is_spirv

    return data if is_spirv(data) else data.decode("utf-8")


class _OpAlgoShader(OpBase):
    """A dispatch of a shader over tensors, v0.5/0.6 style: specialisation constant i is the
    size of tensor i, and the default workgroup is (size of tensors[0], 1, 1). The op owns its
    algorithm, created in the daemon at the first evaluation and freed with the op."""

    def __init__(self, tensors: List[Tensor], shader: Any, work_group: Seq[int], what: str):
        self.tensors = _tensor_list(tensors, what)
        if not self.tensors:
            raise InvalidArgumentError(f"{what}: needs at least one tensor")
        self.shader = shader
        self.work_group = tuple(work_group) if work_group is not None else (0, 0, 0)
        self.what = what
        self._algorithm: Optional[Algorithm] = None

    def _dispatch(self, manager: "Manager") -> types_pb2.Op:
        if self._algorithm is None or not self._algorithm.is_init():
            sizes = np.array([t.size() for t in self.tensors], dtype=np.uint32)
            self._algorithm = Algorithm(
                manager, self.tensors, self.shader, self.work_group, sizes, None
            )
        dispatch = types_pb2.OpAlgoDispatch(algorithm=self._algorithm._handle)
        return types_pb2.Op(algo_dispatch=dispatch)

    def _protos(self, manager: "Manager") -> List[types_pb2.Op]:
        return [self._dispatch(manager)]

    def _tensors(self) -> List[Tensor]:
        return self.tensors

    def _release(self) -> None:
        if self._algorithm is not None:
            self._algorithm.destroy()
            self._algorithm = None


class _OpAlgoLhsRhsOut(_OpAlgoShader):
    """Kompute's OpAlgoLhsRhsOut: a shader over (lhs, rhs, out) of one size whose output is
    downloaded into `out`'s host copy in the same evaluation (no separate sync-local)."""

    def __init__(self, tensors: List[Tensor], shader: Any):
        super().__init__(tensors, shader, (0, 0, 0), "OpAlgoLhsRhsOut")
        if len(self.tensors) != 3:
            raise InvalidArgumentError(
                f"OpAlgoLhsRhsOut: needs 3 tensors (lhs, rhs, out), got {len(self.tensors)}"
            )
        if len({t.size() for t in self.tensors}) != 1:
            raise InvalidArgumentError("OpAlgoLhsRhsOut: lhs, rhs and out must have one size")
        if shader is None:
            raise InvalidArgumentError("OpAlgoLhsRhsOut: a shader (SPIR-V or GLSL) is required")

    def _protos(self, manager: "Manager") -> List[types_pb2.Op]:
        out = self.tensors[2]._require_handle("OpAlgoLhsRhsOut.tensors[2]")
        return [
            self._dispatch(manager),
            types_pb2.Op(tensor_sync_local=types_pb2.OpTensorSyncLocal(tensors=[out])),
        ]


# op name -> (factory(tensors, *args) -> OpBase)
def _algo_file(tensors: List[Tensor], file_path: str, work_group: Seq[int] = (0, 0, 0)) -> OpBase:
    return _OpAlgoShader(tensors, read_shader_file(file_path), work_group, "OpAlgoBase(file)")


def _algo_data(tensors: List[Tensor], data: Any, work_group: Seq[int] = (0, 0, 0)) -> OpBase:
    return _OpAlgoShader(tensors, data, work_group, "OpAlgoBase(data)")


def _algo_str(tensors: List[Tensor], shader: Any, work_group: Seq[int] = (0, 0, 0)) -> OpBase:
    if isinstance(shader, (list, tuple)):  # v0.5 passed GLSL as a list of characters
        shader = "".join(shader)
    return _OpAlgoShader(tensors, shader, work_group, "OpAlgoBase(str)")


def _algo_lro(tensors: List[Tensor], shader: Any = None) -> OpBase:
    return _OpAlgoLhsRhsOut(tensors, shader)


OP_FACTORIES: Dict[str, Callable[..., OpBase]] = {
    "tensor_create": OpTensorCreate,
    "tensor_copy": OpTensorCopy,
    "tensor_sync_device": OpTensorSyncDevice,
    "tensor_sync_local": OpTensorSyncLocal,
    "algo_mult": lambda tensors: OpMult(tensors),
    "algo_file": _algo_file,
    "algo_str": _algo_str,
    "algo_data": _algo_data,
    "algo_lro": _algo_lro,
}


# ---- Sequence: begin / record_* / end, and bool results ----


class LegacySequenceMixin:
    """The v0.5/0.6 methods of kp.Sequence."""

    _legacy: bool
    _legacy_recording: bool

    def _legacy_init(self) -> None:
        self._legacy = False  # set for sequences made by create_sequence
        self._legacy_recording = False

    def begin(self) -> bool:
        """Starts recording, dropping the ops recorded before. False if running or recording."""
        seq: "Sequence" = self  # type: ignore[assignment]
        if seq._running:
            log.error("begin: the sequence is running; await it first")
            return False
        if self._legacy_recording:
            log.warning("begin: the sequence is already recording")
            return False
        with seq._lock:
            seq._drop_ops()
            seq._recording = True
            seq._sent = False
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

    def _legacy_record(self, op: OpBase) -> bool:
        seq: "Sequence" = self  # type: ignore[assignment]
        if not self._legacy_recording:
            log.error("record: call begin() before recording ops")
            return False
        with seq._lock:
            seq._ops.append(op)
            seq._sent = False
        return True

    def _legacy_eval(self) -> bool:
        seq: "Sequence" = self  # type: ignore[assignment]
        if self._legacy_recording:
            log.error("eval: the sequence is still recording; call end() first")
            return False
        seq._evaluate(None)
        return True

    def _legacy_eval_async(self) -> bool:
        seq: "Sequence" = self  # type: ignore[assignment]
        if self._legacy_recording or seq._running:
            log.error("eval_async: the sequence is recording or already running")
            return False
        seq._submit(None)
        return True

    def _legacy_eval_await(self, wait_ns: Optional[int]) -> bool:
        seq: "Sequence" = self  # type: ignore[assignment]
        if wait_ns is not None and wait_ns >= UINT64_MAX:
            wait_ns = None
        return seq._await(wait_ns)

    def record_tensor_create(self, tensors: List[Tensor]) -> bool:
        return self._legacy_record(OpTensorCreate(tensors))

    def record_tensor_copy(self, tensors: List[Tensor]) -> bool:
        return self._legacy_record(OpTensorCopy(tensors))

    def record_tensor_sync_device(self, tensors: List[Tensor]) -> bool:
        return self._legacy_record(OpTensorSyncDevice(tensors))

    def record_tensor_sync_local(self, tensors: List[Tensor]) -> bool:
        return self._legacy_record(OpTensorSyncLocal(tensors))

    def record_algo_mult(self, tensors: List[Tensor]) -> bool:
        return self._legacy_record(OpMult(tensors))

    def record_algo_file(
        self, tensors: List[Tensor], file_path: str, work_group: Seq[int] = (0, 0, 0)
    ) -> bool:
        """Records a shader read from a file (.spv SPIR-V or .comp GLSL source)."""
        return self._legacy_record(_algo_file(tensors, file_path, work_group))

    def record_algo_data(
        self, tensors: List[Tensor], data: Any, work_group: Seq[int] = (0, 0, 0)
    ) -> bool:
        """Records a shader given as SPIR-V bytes (or GLSL text as bytes/str)."""
        return self._legacy_record(_algo_data(tensors, data, work_group))

    def record_algo_str(
        self, tensors: List[Tensor], shader: str, work_group: Seq[int] = (0, 0, 0)
    ) -> bool:
        """Records a shader given as GLSL source, compiled by the daemon."""
        return self._legacy_record(_algo_str(tensors, shader, work_group))

    def record_algo_lro(self, tensors: List[Tensor], shader: Any = None) -> bool:
        """Records OpAlgoLhsRhsOut: `shader` over (lhs, rhs, out), `out` downloaded after."""
        return self._legacy_record(_algo_lro(tensors, shader))


# ---- Manager: named sequences and the eval_* family ----


class LegacyManagerMixin:
    """The v0.5/0.6 methods of kp.Manager."""

    def _legacy_manager_init(self) -> None:
        self._named: Dict[str, "Sequence"] = {}
        self._default_counter = 0
        self._pending_async_def: List["Sequence"] = []

    def build_tensor(self, data: Any, tensor_type: Any = None, **kwargs: Any) -> Tensor:
        """Creates a float32 tensor on the GPU with `data` (v0.5/0.6; ``tensorType=`` too)."""
        from ._types import TensorTypes

        if tensor_type is None:
            tensor_type = kwargs.pop("tensorType", TensorTypes.device)
        if kwargs:
            raise TypeError(f"build_tensor: unexpected arguments {sorted(kwargs)}")
        tensor = Tensor(data, tensor_type)
        tensor._create(self)  # type: ignore[arg-type]
        return tensor

    def create_sequence(self, name: str = "", queue_index: int = 0, **kwargs: Any) -> "Sequence":
        """Creates a named sequence (v0.5/0.6). An empty name gets "DEFAULT<n>".

        A name that already exists returns that sequence (as get_create_sequence does) rather
        than a second, unreachable one; a different queue_index for it raises ValueError.
        ``queueIndex=`` is accepted as in Kompute.
        """
        from .sequence import Sequence

        queue_index = int(kwargs.pop("queueIndex", queue_index))
        if kwargs:
            raise TypeError(f"create_sequence: unexpected arguments {sorted(kwargs)}")
        if not name:
            self._default_counter += 1
            name = f"DEFAULT{self._default_counter}"
        existing = self._named.get(name)
        if existing is not None and existing.is_init():
            if existing._queue_index != queue_index:
                raise ValueError(
                    f"create_sequence: sequence {name!r} exists on queue {existing._queue_index},"
                    f" not {queue_index}"
                )
            return existing
        sequence = Sequence(self, queue_index)  # type: ignore[arg-type]
        sequence._legacy = True
        self._named[name] = sequence
        return sequence

    def get_create_sequence(self, name: str) -> "Sequence":
        """The named sequence, created on queue 0 if it does not exist yet."""
        return self.create_sequence(name)

    def _run_named(self, sequence_name: str, op: OpBase, wait: bool) -> None:
        sequence = self.get_create_sequence(sequence_name)
        sequence.begin()
        sequence._legacy_record(op)
        sequence.end()
        if wait:
            sequence._legacy_eval()
        else:
            sequence._legacy_eval_async()

    def _run_anonymous(self, op: OpBase, wait: bool) -> None:
        from .sequence import Sequence

        if wait:
            self._eval_ops([op])  # type: ignore[attr-defined]
            return
        sequence = Sequence(self)  # type: ignore[arg-type]
        sequence._legacy = True
        sequence.record(op)
        sequence._legacy_eval_async()
        self._pending_async_def.append(sequence)

    def eval_await(self, sequence_name: str, wait_ns: int = UINT64_MAX) -> bool:
        """Awaits the named sequence's asynchronous evaluation. True once it finished."""
        sequence = self._named.get(sequence_name)
        if sequence is None:
            raise InvalidArgumentError(f"eval_await: no sequence named {sequence_name!r}")
        return sequence._legacy_eval_await(wait_ns)

    def eval_await_def(self, wait_ns: int = UINT64_MAX) -> bool:
        """Awaits the eval_async_*_def evaluations, oldest first, and frees their sequences.
        True once all finished; on a timeout the unfinished ones stay awaitable."""
        while self._pending_async_def:
            sequence = self._pending_async_def[0]
            if not sequence._legacy_eval_await(wait_ns):
                return False
            self._pending_async_def.pop(0)
            sequence.destroy()
        return True


def _install_eval_methods() -> None:
    """Adds the 36 eval_<op>[_def] / eval_async_<op>[_def] methods to LegacyManagerMixin."""

    def make(op_name: str, factory: Callable[..., OpBase], named: bool, wait: bool) -> Callable:
        if named:

            def method(self: Any, tensors: List[Tensor], sequence_name: str, *args: Any) -> None:
                self._run_named(sequence_name, factory(tensors, *args), wait)

        else:

            def method(self: Any, tensors: List[Tensor], *args: Any) -> None:  # type: ignore[misc]
                self._run_anonymous(factory(tensors, *args), wait)

        prefix = "eval" if wait else "eval_async"
        method.__name__ = f"{prefix}_{op_name}{'' if named else '_def'}"
        target = "the named sequence" if named else "an anonymous sequence (freed afterwards)"
        method.__doc__ = (
            f"v0.5/0.6: {'evaluates' if wait else 'submits'} op {op_name} on {target}. "
            f"Arguments: tensors{', sequence name' if named else ''}, then the op's own."
        )
        return method

    for op_name, factory in OP_FACTORIES.items():
        for named in (True, False):
            for wait in (True, False):
                method = make(op_name, factory, named, wait)
                setattr(LegacyManagerMixin, method.__name__, method)


_install_eval_methods()
