"""The ops a Sequence records (Kompute's kp.Op* classes). They are collected in this process
and sent to the daemon with the evaluation that runs them."""
from __future__ import annotations

from typing import Any, List, Optional

from ._constants import as_constants_array, constants_proto
from ._session import Session
from .algorithm import Algorithm
from ._types import TensorTypes
from .tensor import Tensor
from .v1 import types_pb2


def _tensor_list(tensors: Any, what: str) -> List[Tensor]:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{what}: expected a list of kp.Tensor, got a single kp.Tensor")
    result = list(tensors)
    for i, tensor in enumerate(result):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{what}[{i}]: expected kp.Tensor, got {type(tensor).__name__}")
    return result


def _handles(tensors: List[Tensor], what: str) -> List[int]:
    return [t._require_handle(f"{what}.tensors[{i}]") for i, t in enumerate(tensors)]


class OpBase:
    """Base of every op: what it sends to the daemon and which host copies it moves.

    An evaluation calls, for each of its ops: ``_prepare`` (every time), ``_protos`` (when it
    sends the ops), ``_uploads`` and ``_tensors`` (for the host copies to send and to update);
    ``_release`` once the op is no longer recorded.
    """

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        """The kp.v1 ops this op evaluates as (resolving objects in the daemon if needed)."""
        raise NotImplementedError

    def _tensors(self) -> List[Tensor]:
        """Every tensor the op uses."""
        return []

    def _uploads(self) -> List[Tensor]:
        """Tensors whose host copy the evaluation sends (OpTensorSyncDevice)."""
        return []

    def _prepare(self, session: Session) -> None:
        """Makes what the op needs in the daemon before an evaluation of it is built."""

    def _release(self) -> None:
        """Frees what the op owns in the daemon, once it is no longer recorded anywhere."""


class OpTensorSyncDevice(OpBase):
    """Uploads each tensor's host copy to the GPU (storage tensors, which have none, are
    skipped, as in Kompute v0.9)."""

    def __init__(self, tensors: List[Tensor]):
        self.tensors = _tensor_list(tensors, "OpTensorSyncDevice")

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        sync = types_pb2.OpTensorSyncDevice(tensors=_handles(self.tensors, "OpTensorSyncDevice"))
        return [types_pb2.Op(tensor_sync_device=sync)]

    def _tensors(self) -> List[Tensor]:
        return self.tensors

    def _uploads(self) -> List[Tensor]:
        # Storage tensors have no host copy: the sync skips them, as Kompute v0.9's does.
        return [t for t in self.tensors if t.tensor_type() != TensorTypes.storage]


class OpTensorSyncLocal(OpBase):
    """Downloads each tensor from the GPU into its host copy (storage tensors are skipped)."""

    def __init__(self, tensors: List[Tensor]):
        self.tensors = _tensor_list(tensors, "OpTensorSyncLocal")

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        sync = types_pb2.OpTensorSyncLocal(tensors=_handles(self.tensors, "OpTensorSyncLocal"))
        return [types_pb2.Op(tensor_sync_local=sync)]

    def _tensors(self) -> List[Tensor]:
        return self.tensors


class OpTensorCopy(OpBase):
    """Copies tensors[0] into tensors[1:] on the GPU (and, as in Kompute, their host copies)."""

    def __init__(self, tensors: List[Tensor]):
        self.tensors = _tensor_list(tensors, "OpTensorCopy")

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        copy = types_pb2.OpTensorCopy(tensors=_handles(self.tensors, "OpTensorCopy"))
        return [types_pb2.Op(tensor_copy=copy)]

    def _tensors(self) -> List[Tensor]:
        return self.tensors

    def _uploads(self) -> List[Tensor]:
        # As in Kompute, the destinations' host copies become the source's host copy as this
        # process holds it: the daemon gets it first (in shared memory it reads it in place).
        source = self.tensors[0]
        return [source] if source.tensor_type() != TensorTypes.storage else []


class OpAlgoDispatch(OpBase):
    """Dispatches an algorithm with its push constants as they are when the op is made.

    `push_consts`, if given, are pushed instead (same byte size; a list is float32, a numpy
    array keeps its dtype) and, as in Kompute, become the algorithm's push constants for the
    dispatches made after this one.
    """

    def __init__(self, algorithm: Algorithm, push_consts: Any = None):
        if not isinstance(algorithm, Algorithm):
            raise TypeError(
                f"OpAlgoDispatch: expected kp.Algorithm, got {type(algorithm).__name__}"
            )
        self.algorithm = algorithm
        self.push_consts = push_consts
        self._push = (
            constants_proto(push_consts, "push_consts")
            if push_consts is not None and len(push_consts) > 0
            else None
        )
        if self._push is not None:
            if as_constants_array(push_consts, "push_consts").nbytes == algorithm._push_size:
                algorithm._record_push = self._push  # (a wrong size fails at eval, naming it)
        else:
            self._push = algorithm._record_push

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        dispatch = types_pb2.OpAlgoDispatch(
            algorithm=self.algorithm._require_handle("OpAlgoDispatch.algorithm")
        )
        if self._push is not None:
            dispatch.push_constants.CopyFrom(self._push)
        return [types_pb2.Op(algo_dispatch=dispatch)]

    def _tensors(self) -> List[Tensor]:
        return self.algorithm.get_tensors()


class OpMult(OpBase):
    """tensors[2] = tensors[0] * tensors[1] with the daemon's built-in multiply shader.

    `algorithm` is accepted for Kompute compatibility (``kp.OpMult(tensors, mgr.algorithm())``);
    the daemon uses its own shader, and the algorithm's tensors become these tensors.
    """

    def __init__(self, tensors: List[Tensor], algorithm: Optional[Algorithm] = None):
        self.tensors = _tensor_list(tensors, "OpMult")
        if algorithm is not None and not algorithm._handle:
            algorithm._tensors = list(self.tensors)

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        return [types_pb2.Op(mult=types_pb2.OpMult(tensors=_handles(self.tensors, "OpMult")))]

    def _tensors(self) -> List[Tensor]:
        return self.tensors


class OpMemoryBarrier(OpBase):
    """An explicit buffer memory barrier (Vulkan access and stage masks as ints)."""

    def __init__(
        self,
        tensors: List[Tensor],
        src_access_mask: int,
        dst_access_mask: int,
        src_stage_mask: int,
        dst_stage_mask: int,
        barrier_on_primary: bool = True,
    ):
        self.tensors = _tensor_list(tensors, "OpMemoryBarrier")
        self.masks = tuple(
            int(m) for m in (src_access_mask, dst_access_mask, src_stage_mask, dst_stage_mask)
        )
        self.barrier_on_primary = bool(barrier_on_primary)

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        barrier = types_pb2.OpMemoryBarrier(
            tensors=_handles(self.tensors, "OpMemoryBarrier"),
            src_access_mask=self.masks[0],
            dst_access_mask=self.masks[1],
            src_stage_mask=self.masks[2],
            dst_stage_mask=self.masks[3],
            barrier_on_primary=self.barrier_on_primary,
        )
        return [types_pb2.Op(memory_barrier=barrier)]

    def _tensors(self) -> List[Tensor]:
        return self.tensors
