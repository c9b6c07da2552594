"""kp.Tensor: a typed GPU buffer held by kpd, with its host copy in this process."""
from __future__ import annotations

from typing import Any, Iterator, List, Optional, Tuple, Union

import numpy as np

from ._errors import FailedPreconditionError
from ._pipeline import Pending
from ._protowire import create_tensor_action
from ._remote import RemoteObject
from ._session import Session
from ._streams import STREAM_THRESHOLD, read_stream, write_stream
from ._transport import eval_once
from ._types import (
    TensorDataTypes,
    TensorTypes,
    data_type_of,
    data_type_proto,
    store_wire_bytes,
    tensor_type_proto,
    wire_bytes,
)
from .v1 import compute_pb2, types_pb2


# Largest host copy placed in a client arena (larger ones get pages of their own from kpd, which
# the GPU can copy straight from). Only device tensors are placed: a host tensor's host copy is
# the memory its shaders read, which needs pages of its own to be imported by the GPU.
_PLACED_LIMIT = 64 << 10


class Tensor(RemoteObject):
    """A tensor: GPU memory in the daemon plus a host copy (a numpy array) in this process.

    Made by ``mgr.tensor(data)`` / ``mgr.tensor_t(array)``. The host copy is what
    ``OpTensorSyncDevice`` uploads and where ``OpTensorSyncLocal`` downloads to; both travel
    inside the evaluation's single round trip. ``data()`` returns a writable numpy array that
    *is* the host copy: write to it, and the next sync-device uploads it.
    """

    # On the local fast path the host copy is the daemon's, in shared memory (v0.8/0.9:
    # Kompute's data() was the tensor's mapped memory too). LegacyTensor turns this off.
    _host_copy_in_shared_memory = True

    _kind = "tensor"
    _destroy_rpc = "DestroyTensor"
    _not_created_hint = "the tensor was not created on the GPU yet (use mgr.tensor)"

    def __init__(self, array: np.ndarray, tensor_type: TensorTypes = TensorTypes.device):
        """The host side of a tensor whose host copy is `array` (kept, not copied), not
        created on the GPU yet: ``mgr.tensor`` and ``mgr.tensor_t`` make tensors and create
        them."""
        self._array = array
        self._data_type = data_type_of(array.dtype, "data")
        self._tensor_type = TensorTypes(tensor_type)
        self._session: Optional[Session] = None
        self._handle = 0
        self._destroyed = False
        self._shared = False  # the host copy is a view on the session's shared memory
        self._placed: Optional[Tuple[int, int]] = None  # (arena, offset) in a client arena

    def _create(self, session: Session) -> None:
        """Creates the tensor in the daemon with the current host copy as its contents.

        On the daemon's host, the host copy moves into the session's shared memory (bool
        tensors excepted: their host array has another layout than the GPU's).
        """
        if self._handle:
            raise FailedPreconditionError("the tensor was already created")
        if self._destroyed:
            raise FailedPreconditionError("the tensor was destroyed")
        shared = (
            self._host_copy_in_shared_memory
            and session.local is not None
            and self._data_type != TensorDataTypes.eBool
            and self._tensor_type != TensorTypes.storage
            and self._array.size > 0
        )
        if session.pipeline is not None and self._array.size > 0:
            session.require_usable()
            place = (
                session.arenas.carve(self._array.nbytes)
                if shared and session.arenas is not None and self._array.nbytes <= _PLACED_LIMIT
                and self._tensor_type == TensorTypes.device
                else None
            )
            if place is not None:
                self._create_placed(session, *place)
                return
            if not shared and self._array.nbytes <= STREAM_THRESHOLD:
                self._create_pipelined(session)
                return
        # Small initial data travels in the request; large data is written in place (shared
        # memory) or streamed after. Zeros need no data at all: new tensors start zeroed.
        zeros = not np.any(self._array)
        inline = zeros or self._array.nbytes <= STREAM_THRESHOLD
        response = session.call(
            "CreateTensor",
            compute_pb2.CreateTensorRequest(
                session=session.session,
                data_type=data_type_proto(self._data_type),
                tensor_type=tensor_type_proto(self._tensor_type),
                size=self._array.size,
                data=wire_bytes(self._array) if inline and not zeros else b"",
                shared_memory=shared,
            ),
        )
        self._session = session
        self._handle = response.tensor
        if not shared and not inline:
            self._stream_initial_data(session)
        if shared:
            assert session.local is not None
            arena = session.local.arena(response.region.arena)
            view = np.frombuffer(
                arena, dtype=self._array.dtype, count=self._array.size,
                offset=response.region.offset,
            )
            if not inline:
                view[...] = self._array
            self._array = view
            self._shared = True
            if not inline:
                eval_once(session, [self._sync_device_op()])

    def _create_placed(self, session: Session, arena: int, offset: int, mapped: Any) -> None:
        """Creates the tensor with its host copy at `offset` of client arena `arena` (mapped
        as `mapped`): the data is copied there now, and the creation waits in the pipeline."""
        source = self._array  # contiguous, and never bool here
        view = np.frombuffer(mapped, dtype=source.dtype, count=source.size, offset=offset)
        view[...] = source
        self._array = view
        self._shared = True
        self._placed = (arena, offset)
        self._queue_creation(session, source.tobytes())

    def _create_pipelined(self, session: Session) -> None:
        """Creates the tensor with its initial data in the request (zeros need no bytes); the
        creation waits in the pipeline."""
        self._queue_creation(session, wire_bytes(self._array) if self._array.any() else b"")

    def _queue_creation(self, session: Session, initial: bytes) -> None:
        """Names the tensor with a handle of this client's and queues its creation with GPU
        contents `initial`: the data as it is now (later writes to the host copy are what
        OpTensorSyncDevice is for). See kp._pipeline; the caller checked that the session is
        usable."""
        pipeline = session.pipeline
        assert pipeline is not None
        self._session = session
        self._handle = handle = pipeline.new_handle()
        pipeline.add(Pending(self, lambda: self._create_action(handle, initial), self._what))

    def _create_action(self, handle: int, initial: bytes) -> bytes:
        """The serialized Action creating this tensor as `handle` with GPU contents
        `initial` (and its host copy where it was placed)."""
        return create_tensor_action(data_type_proto(self._data_type),
                                    tensor_type_proto(self._tensor_type), self._array.size,
                                    handle, initial, self._placed)

    def _what(self) -> str:
        """How errors name the call that made this tensor."""
        return (f"kp.Manager.tensor({self._array.size} x {self._data_type.name}, "
                f"{self._tensor_type.name})")

    def _stream_initial_data(self, session: Session) -> None:
        """Initial data too large for one message: streamed into the host copy and synced;
        a storage tensor, which has no host copy, gets it through a temporary tensor."""
        if self._tensor_type != TensorTypes.storage:
            write_stream(session, self._handle, self._array)
            eval_once(session, [self._sync_device_op()])
            return
        carrier = Tensor(self._array, TensorTypes.device)
        carrier._create(session)
        try:
            copy = types_pb2.OpTensorCopy(tensors=[carrier._handle, self._handle])
            eval_once(session, [types_pb2.Op(tensor_copy=copy)])
        finally:
            carrier.destroy()

    def _sync_device_op(self) -> types_pb2.Op:
        sync = types_pb2.OpTensorSyncDevice(tensors=[self._handle])
        return types_pb2.Op(tensor_sync_device=sync)

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
        session = self._session
        if self._shared:
            self._array = self._array.copy()
            self._shared = False
        super().destroy()
        placed, self._placed = self._placed, None
        if placed is not None and session is not None and session.arenas is not None:
            session.arenas.release(placed[0], placed[1], self._array.nbytes)

    def _destroy_request(self, session: str) -> compute_pb2.DestroyTensorRequest:
        return compute_pb2.DestroyTensorRequest(session=session, tensor=self._handle)

    # ---- host data ----

    def data(self) -> Union[np.ndarray, List[Any]]:
        """The host copy: a writable numpy array viewing it (no copy is made). It shows
        downloaded values after an OpTensorSyncLocal, and writes to it are uploaded by the next
        OpTensorSyncDevice."""
        return np.asarray(self)

    @property
    def __array_interface__(self) -> dict:
        return self._array.__array_interface__

    def numpy(self) -> np.ndarray:
        """The host copy as a numpy array (a view, as data())."""
        return np.asarray(self)

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
        """Reads the host copy held by the daemon into this tensor's (Kompute v0.5/0.6's name;
        a ReadTensorStream, no evaluation)."""
        handle = self._require_handle("map_data_from_host")
        assert self._session is not None
        read_stream(self._session, handle, self._array)

    def map_data_into_host(self) -> None:
        """Writes this tensor's host copy into the daemon's (Kompute v0.5/0.6's name; a
        WriteTensorStream, no evaluation)."""
        handle = self._require_handle("map_data_into_host")
        assert self._session is not None
        write_stream(self._session, handle, self._array)

    def _wire(self) -> bytes:
        """The host copy as the bytes the daemon expects."""
        return wire_bytes(self._array)

    def _store(self, data: bytes) -> None:
        """Writes bytes received from the daemon into the host copy."""
        store_wire_bytes(self._array, data)
