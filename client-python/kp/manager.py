"""kp.Manager: a session with kpd, and the factory of tensors, algorithms and sequences."""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Sequence as Seq, Union

import numpy as np

from ._address import ENV_ADDRESS, resolve_address
from ._discovery import connect_default
from ._placement import is_fleet, place, split_addresses
from ._security import PemSource, Security
from ._session import Session
from ._types import TensorTypes, data_type_of
from .algorithm import Algorithm
from .sequence import Sequence
from .tensor import Tensor
from .v1 import compute_pb2, types_pb2

log = logging.getLogger("kp")


def _device_properties(device: types_pb2.Device) -> Dict[str, Any]:
    """Kompute's get_device_properties() keys, plus what else the daemon reports."""
    return {
        "device_name": device.name,
        "max_work_group_count": tuple(device.max_work_group_count),
        "max_work_group_invocations": device.max_work_group_invocations,
        "max_work_group_size": tuple(device.max_work_group_size),
        "timestamps_supported": device.timestamps_supported,
        "timestamp_period": device.timestamp_period_ns,
        "device_index": device.index,
        "device_type": device.type,
        "api_version": device.api_version,
        "driver_name": device.driver_name,
        "max_push_constants_size": device.max_push_constants_size,
        "max_storage_buffer_range": device.max_storage_buffer_range,
        "shader_float64": device.shader_float64,
        "queue_families": [
            {
                "index": f.index,
                "queue_count": f.queue_count,
                "compute": f.compute,
                "graphics": f.graphics,
                "transfer": f.transfer,
            }
            for f in device.queue_families
        ],
    }


class Manager:
    """A session with the kpd daemon, as Kompute's ``kp.Manager``: the factory of tensors,
    algorithms and sequences (the v0.8/0.9 API; ``kp.Manager`` adds the v0.5/0.6 one).

    Everything the Manager creates lives in the daemon until ``destroy()`` (or the end of a
    ``with`` block, or once the Manager and everything it made are gone, or this process):
    then the daemon frees it all.
    """

    def __init__(
        self,
        device: Optional[int] = None,
        family_queue_indices: Seq[int] = (),
        desired_extensions: Seq[str] = (),
        *,
        address: Union[str, Seq[str], None] = None,
        device_type: Optional[str] = None,
        memory_bytes: int = 0,
        shared_memory: Optional[bool] = None,
        token: Optional[str] = None,
        tls_ca: PemSource = None,
        tls_cert: PemSource = None,
        tls_key: PemSource = None,
    ):
        """Opens a session with kpd.

        Args:
            device: index of the GPU (see ``list_devices()``). Default: 0, or, when the
                session is placed among several daemons, whichever device fits best.
            family_queue_indices: Vulkan queue family per queue (a sequence's
                ``queue_index`` picks one); empty for the device's default compute queue.
            desired_extensions: accepted for compatibility; the daemon enables the extensions
                it needs itself.
            address: where kpd listens: "unix:/path", "/path", "host:port" or
                "tls:host:port". Default: ``$KP_ADDRESS``, else the first local socket that
                answers ($XDG_RUNTIME_DIR/kp/kpd.sock, /run/kp/kpd.sock), else a private kpd
                started for this process if one is installed (``$KP_AUTOSTART=0``: never;
                see ``kp._discovery``). Several daemons — a list, "a,b,c", or
                "dns:NAME:PORT" for every address NAME resolves to — place the session on the
                daemon and device with the most headroom (see ``kp._placement``); it stays
                there.
            device_type: when placing among several daemons, only devices of this type
                ("discrete_gpu", "integrated_gpu", "virtual_gpu", "cpu").
            memory_bytes: when placing among several daemons, only devices with at least
                this much device memory free.
            shared_memory: on the daemon's host, keep tensors' host copies in memory shared
                with the daemon and evaluate over its local data socket, so no tensor bytes
                cross a socket. Default: on when available, unless ``$KP_SHARED_MEMORY=0``.
            token: the bearer token of a kpd started with ``--token-file``; sent with every
                call. Default: ``$KP_TOKEN``, else the contents of the file ``$KP_TOKEN_FILE``.
            tls_ca: the CA certificate that signed kpd's certificate (a PEM file path, or PEM
                bytes). Giving it selects TLS for a "host:port" address. Default:
                ``$KP_TLS_CA``, else the system's CAs.
            tls_cert, tls_key: the client certificate and its private key, for a kpd that
                requires client certificates (``--tls-client-ca``). Default: ``$KP_TLS_CERT``,
                ``$KP_TLS_KEY``.
        """
        if desired_extensions:
            log.debug(
                "desired_extensions %s: the daemon chooses extensions", list(desired_extensions)
            )
        if shared_memory is None:
            shared_memory = os.environ.get("KP_SHARED_MEMORY", "1") != "0"
        families = [int(f) for f in family_queue_indices]

        index = None if device is None else int(device)

        def security_of(target: str) -> Security:
            return Security(target, token, tls_ca, tls_cert, tls_key)

        def open_session(target: str, on_device: Optional[int] = index) -> Session:
            return Session(target, on_device or 0, families, security_of(target),
                           shared_memory=bool(shared_memory))

        if address is not None and not isinstance(address, str):
            address = list(address)
            if not address:
                raise ValueError("address: an empty list names no daemon")
            if len(address) == 1:
                address = address[0]
        named = address if address is not None else os.environ.get(ENV_ADDRESS)
        # The session with kpd, which every object made here holds too.
        if not named:
            self._conn = connect_default(open_session)  # zero-config: see kp._discovery
        elif is_fleet(named):
            targets = [resolve_address(a) for a in split_addresses(named)]
            self._conn = place(targets, security_of, open_session, index, device_type,
                               int(memory_bytes))
        else:
            self._conn = open_session(resolve_address(named))

    # ---- lifetime ----

    def __enter__(self) -> "Manager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.destroy()

    def destroy(self) -> None:
        """Ends the session: the daemon frees every tensor, algorithm and sequence of it, and
        they report ``is_init() == False``. Idempotent."""
        session = getattr(self, "_conn", None)
        if session is not None:
            session.close()

    @property
    def address(self) -> str:
        """The daemon's address this Manager is connected to."""
        return self._conn.address

    @property
    def shared_memory(self) -> bool:
        """True when tensors live in memory shared with the daemon (same host)."""
        return self._conn.local is not None

    # ---- devices ----

    def list_devices(self) -> List[Dict[str, Any]]:
        """Every device of the daemon, as get_device_properties() dicts."""
        response = self._conn.call("ListDevices", compute_pb2.ListDevicesRequest())
        return [_device_properties(d) for d in response.devices]

    def get_device_properties(self) -> Dict[str, Any]:
        """This session's device: Kompute's keys (device_name, max_work_group_count,
        max_work_group_invocations, max_work_group_size, timestamps_supported) plus
        timestamp_period (ns per tick) and more."""
        return _device_properties(self._conn.device)

    # ---- object factories ----

    def tensor(self, data: Any, tensor_type: TensorTypes = TensorTypes.device) -> Tensor:
        """A float32 tensor with `data` (any shape; flattened), created on the GPU."""
        return self._created(Tensor(np.array(data, dtype=np.float32).ravel(), tensor_type))

    def tensor_t(self, data: np.ndarray, tensor_type: TensorTypes = TensorTypes.device) -> Tensor:
        """A tensor of `data`'s dtype (float32, int32, uint32, float64 or bool; flattened).
        Other dtypes raise TypeError (numpy's default int64 included: pass dtype=np.int32)."""
        if not isinstance(data, np.ndarray):
            raise TypeError(
                f"tensor_t: expected a numpy array, got {type(data).__name__} "
                "(use mgr.tensor for lists of floats)"
            )
        data_type_of(data.dtype, "tensor_t")
        return self._created(Tensor(np.array(data).ravel(), tensor_type))

    def _created(self, tensor: Tensor) -> Tensor:
        """`tensor`, created on the GPU in this Manager's session."""
        tensor._create(self._conn)
        return tensor

    def algorithm(
        self,
        tensors: Optional[List[Tensor]] = None,
        spirv: Any = b"",
        workgroup: Optional[Seq[int]] = None,
        spec_consts: Any = None,
        push_consts: Any = None,
    ) -> Algorithm:
        """A compute algorithm.

        Args:
            tensors: bound at set 0, bindings 0..n-1, each at most once.
            spirv: SPIR-V bytes, or GLSL source (str) that the daemon compiles.
            workgroup: workgroups (x, y, z); 0s mean (size of tensors[0], 1, 1).
            spec_consts: specialisation constants (constant_id i = element i).
            push_consts: default push constants; overrides must keep their byte size.

        Constants given as a numpy array keep its dtype (float32, int32, uint32 or float64);
        lists are float32, as in Kompute. With no tensors and no shader, the algorithm is
        empty (for ``kp.OpMult(tensors, mgr.algorithm())``).
        """
        return Algorithm(
            self._conn, list(tensors or []), spirv, workgroup, spec_consts, push_consts
        )

    def sequence(self, queue_index: int = 0, total_timestamps: int = 0) -> Sequence:
        """A sequence on queue `queue_index` (an index into family_queue_indices), recording
        up to `total_timestamps` timestamps per evaluation."""
        return Sequence(self._conn, queue_index, total_timestamps)
