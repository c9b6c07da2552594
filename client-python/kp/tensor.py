"""kp.Tensor: a typed GPU buffer held by kpd, with its host copy in this process."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Tuple, Union

import numpy as np

from ._errors import FailedPreconditionError
from ._remote import RemoteObject
from ._types import (
    TensorDataTypes,
    TensorTypes,
    data_type_of,
    data_type_proto,
    store_wire_bytes,
    tensor_type_proto,
    wire_bytes,
)
from .v1 import compute_pb2

if TYPE_CHECKING:
    from .manager import Manager

log = logging.getLogger("kp")


# Initial data up to this size travels inside CreateTensor; larger tensors are written in
# place (shared memory) or streamed, then uploaded by a sync-device evaluation.
_INLINE_CREATE_BYTES = 1 << 20


class Tensor(RemoteObject):
    """A tensor: GPU memory in the daemon plus a host copy (a numpy array) in this process.

    The host copy is what ``OpTensorSyncDevice`` uploads and where ``OpTensorSyncLocal``
    downloads to; both travel inside the evaluation's single round trip.

    Two ways to make one, as in Kompute's two API generations:

    * v0.8/0.9: ``mgr.tensor(data)`` / ``mgr.tensor_t(array)``. ``data()`` returns a writable
      numpy array that *is* the host copy: write to it, and the next sync-device uploads it.
    * v0.5/0.6: ``kp.Tensor(data, tensor_type)`` makes a float32 tensor that exists only in
      this process until ``mgr.build_tensor``/``eval_tensor_create*`` creates it. Its
      ``data()`` returns a list copy, and ``t[i]``/``t[i] = v``/``set_data`` edit the host copy.
    """

    _kind = "tensor"
    _destroy_rpc = "DestroyTensor"
    _not_created_hint = (
        "the tensor was not created on the GPU yet "
        "(use mgr.tensor, mgr.build_tensor or an eval_tensor_create op)"
    )

    def __init__(self, data: Any = None, tensor_type: TensorTypes = TensorTypes.device):
        """A v0.5/0.6 tensor: float32, flattened, not created on the GPU yet."""
        array = np.array([] if data is None else data, dtype=np.float32).ravel()
        self._setup(array, TensorTypes(tensor_type), legacy=True)

    @classmethod
    def _created(
        cls, manager: "Manager", array: np.ndarray, tensor_type: TensorTypes
    ) -> "Tensor":
        """A v0.8/0.9 tensor, created on the GPU at once (mgr.tensor / mgr.tensor_t)."""
        tensor = cls.__new__(cls)
        tensor._setup(array, TensorTypes(tensor_type), legacy=False)
        tensor._create(manager)
        return tensor

    def _setup(self, array: np.ndarray, tensor_type: TensorTypes, legacy: bool) -> None:
        self._array = array
        self._data_type = data_type_of(array.dtype, "data")
        self._tensor_type = tensor_type
        self._legacy = legacy
        self._manager: Optional["Manager"] = None
        self._handle = 0
        self._destroyed = False
        self._shared = False  # the host copy is a view on the session's shared memory

    def _create(self, manager: "Manager") -> None:
        """Creates the tensor in the daemon with the current host copy as its contents.

        On the daemon's host, the host copy moves into the session's shared memory (bool
        tensors excepted: their host array has another layout than the GPU's).
        """
        if self._handle:
            raise FailedPreconditionError("the tensor was already created")
        if self._destroyed:
            raise FailedPreconditionError("the tensor was destroyed")
        conn = manager._conn
        shared = (
            conn.local is not None
            and self._data_type != TensorDataTypes.eBool
            and self._tensor_type != TensorTypes.storage
            and self._array.size > 0
        )
        # Small initial data travels in the request; large data is written in place (shared
        # memory) or streamed after. Zeros need no data at all: new tensors start zeroed.
        zeros = not np.any(self._array)
        inline = zeros or self._array.nbytes <= _INLINE_CREATE_BYTES
        response = conn.call(
            "CreateTensor",
            compute_pb2.CreateTensorRequest(
                session=conn.session,
                data_type=data_type_proto(self._data_type),
                tensor_type=tensor_type_proto(self._tensor_type),
                size=self._array.size,
                data=wire_bytes(self._array) if inline and not zeros else b"",
                shared_memory=shared,
            ),
        )
        self._manager = manager
        self._handle = response.tensor
        if not shared and not inline:
            self._stream_initial_data(manager)
        if shared:
            assert conn.local is not None
            arena = conn.local.arena(response.region.arena)
            view = np.frombuffer(
                arena, dtype=self._array.dtype, count=self._array.size,
                offset=response.region.offset,
            )
            if not inline:
                view[...] = self._array
            self._array = view
            self._shared = True
            if not inline:
                from .operations import OpTensorSyncDevice

                manager._eval_ops([OpTensorSyncDevice([self])])

    def _stream_initial_data(self, manager: "Manager") -> None:
        """Initial data too large for one message: streamed into the host copy and synced;
        a storage tensor, which has no host copy, gets it through a temporary tensor."""
        from ._evaluation import write_stream
        from .operations import OpTensorCopy, OpTensorSyncDevice

        conn = manager._conn
        if self._tensor_type != TensorTypes.storage:
            write_stream(conn, self._handle, self)
            manager._eval_ops([OpTensorSyncDevice([self])])
            return
        carrier = Tensor._created(manager, self._array, TensorTypes.device)
        try:
            manager._eval_ops([OpTensorCopy([carrier, self])])
        finally:
            carrier.destroy()

    # ---- identity and state ----

    def size(self) -> int:
        """Number of elements."""
        return int(self._array.size)

    def __len__(self) -> int:
        return int(self._array.size)

    def tensor_type(self) -> TensorTypes:
        """The kp.TensorTypes of the tensor."""
        return self._tensor_type

    def data_type(self) -> TensorDataTypes:
        """The element type (kp.TensorDataTypes: eFloat, eInt, eUnsignedInt, eDouble, eBool)."""
        return self._data_type

    def destroy(self) -> None:
        """Frees the tensor's GPU memory. Idempotent. The host copy stays readable (a
        shared-memory host copy becomes a private copy first: its pages go back to the daemon,
        so earlier views from data() must not be used after destroy())."""
        if self._shared:
            self._array = self._array.copy()
            self._shared = False
        super().destroy()

    def _destroy_request(self, session: str) -> compute_pb2.DestroyTensorRequest:
        return compute_pb2.DestroyTensorRequest(session=session, tensor=self._handle)

    # ---- host data ----

    def data(self) -> Union[np.ndarray, List[Any]]:
        """The host copy.

        v0.8/0.9 tensors: a writable numpy array viewing the host copy (no copy is made); it
        shows downloaded values after an OpTensorSyncLocal, and writes to it are uploaded by
        the next OpTensorSyncDevice. v0.5/0.6 tensors: a list copy, as Kompute returned.
        """
        if self._legacy:
            return self._array.tolist()
        return np.asarray(self)

    @property
    def __array_interface__(self) -> dict:
        return self._array.__array_interface__

    def numpy(self) -> np.ndarray:
        """The host copy as a numpy array (a copy for v0.5/0.6 tensors, a view otherwise)."""
        return self._array.copy() if self._legacy else np.asarray(self)

    def set_data(self, data: Any) -> None:
        """Replaces the host copy with `data` (same number of elements)."""
        values = np.asarray(data).ravel()
        if values.size != self._array.size:
            raise ValueError(
                f"set_data: {values.size} values given for a tensor of {self._array.size} elements"
            )
        self._array[...] = values.astype(self._array.dtype, copy=False)

    def __getitem__(self, index: Any) -> Any:
        value = self._array[index]
        return value.item() if isinstance(value, np.generic) else value

    def __setitem__(self, index: Any, value: Any) -> None:
        self._array[index] = value

    def __iter__(self) -> Iterator[Any]:
        return iter(self._array.tolist())

    def __contains__(self, value: Any) -> bool:
        return bool(np.any(self._array == value))

    def __reversed__(self) -> List[Any]:
        return self._array.tolist()[::-1]

    def __repr__(self) -> str:
        state = "created" if self.is_init() else ("destroyed" if self._destroyed else "local")
        return (
            f"kp.Tensor({self._array.tolist() if self.size() <= 8 else '...'}, "
            f"{self._tensor_type.name}, {self._data_type.name}, {state})"
        )

    def map_data_from_host(self) -> None:
        """v0.5/0.6: reads the host copy held by the daemon into this tensor (ReadTensor)."""
        from ._evaluation import read_stream

        handle = self._require_handle("map_data_from_host")
        assert self._manager is not None
        read_stream(self._manager._conn, handle, self)

    def map_data_into_host(self) -> None:
        """v0.5/0.6: writes this tensor's host copy into the daemon's (WriteTensor)."""
        from ._evaluation import write_stream

        handle = self._require_handle("map_data_into_host")
        assert self._manager is not None
        write_stream(self._manager._conn, handle, self)

    def _wire(self) -> bytes:
        return wire_bytes(self._array)

    def _wire_size(self) -> int:
        """Bytes per element on the wire and the GPU (bool: a uint32)."""
        return 4 if self._data_type == TensorDataTypes.eBool else self._array.itemsize

    def _wire_chunks(self, chunk_bytes: int) -> Iterator[Tuple[int, bytes]]:
        """(byte offset, bytes) pieces of the host copy, at most `chunk_bytes` each."""
        per_chunk = max(1, chunk_bytes // self._wire_size())
        for start in range(0, self._array.size, per_chunk):
            yield start * self._wire_size(), wire_bytes(self._array[start:start + per_chunk])

    def _store_chunk(self, offset: int, data: bytes) -> None:
        start = offset // self._wire_size()
        store_wire_bytes(self._array[start:start + len(data) // self._wire_size()], data)

    def _store(self, data: bytes) -> None:
        store_wire_bytes(self._array, data)
