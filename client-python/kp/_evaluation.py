"""What an evaluation sends and receives, shared by sequences and anonymous evaluations."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, List

from .tensor import Tensor
from .v1 import compute_pb2, types_pb2

if TYPE_CHECKING:
    from .manager import Manager
    from .operations import OpBase


def create_pending_tensors(ops: Iterable["OpBase"], manager: "Manager") -> None:
    """Creates the tensors of v0.5/0.6 OpTensorCreate ops in the daemon."""
    for op in ops:
        for tensor in op._to_create():
            tensor._create(manager)


def op_protos(ops: Iterable["OpBase"], manager: "Manager") -> list:
    protos: list = []
    for op in ops:
        protos.extend(op._protos(manager))
    return protos


def upload_messages(ops: Iterable["OpBase"]) -> List[types_pb2.TensorData]:
    """The host copy of every tensor an OpTensorSyncDevice of `ops` uploads, once each."""
    uploads: Dict[int, Tensor] = {}
    for op in ops:
        for tensor in op._uploads():
            handle = tensor._require_handle("OpTensorSyncDevice")
            if not tensor._shared:  # shared-memory host copies are read in place
                uploads.setdefault(handle, tensor)
    return [types_pb2.TensorData(tensor=h, data=t._wire()) for h, t in uploads.items()]


def apply_downloads(ops: Iterable["OpBase"], response: compute_pb2.EvalResponse) -> None:
    """Writes the evaluation's downloads into the host copies of the tensors of `ops`."""
    by_handle: Dict[int, Tensor] = {}
    for op in ops:
        for tensor in op._tensors():
            by_handle[tensor._handle] = tensor
    for download in response.downloads:
        tensor = by_handle.get(download.tensor)
        if tensor is not None:
            tensor._store(download.data)


def release(ops: Iterable["OpBase"]) -> None:
    """Frees what dropped ops own in the daemon (v0.5/0.6 ops own their algorithms)."""
    for op in ops:
        op._release()
