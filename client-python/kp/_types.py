"""Enumerations and numpy dtype mapping shared by the client."""
from __future__ import annotations

import enum
from typing import Dict

import numpy as np

from .v1 import types_pb2


class TensorTypes(enum.IntEnum):
    """Where a tensor's memory lives (Kompute's ``kp.TensorTypes``).

    ``device``: device-local memory plus a host-visible staging copy (the default).
    ``host``: host-visible memory that shaders use directly.
    ``storage``: device-local only; it has no host copy, and sync ops skip it (as Kompute v0.9).
    ``staging``: the v0.5/0.6 name of ``host``.
    """

    device = 0
    host = 1
    storage = 2
    staging = 1  # v0.5/0.6 name; an alias of host


class TensorDataTypes(enum.IntEnum):
    """Element types, named as Kompute's C++ ``Tensor::TensorDataTypes``."""

    eBool = 0
    eInt = 1
    eUnsignedInt = 2
    eFloat = 3
    eDouble = 4


_DTYPE_TO_DATA_TYPE: Dict[np.dtype, TensorDataTypes] = {
    np.dtype(np.float32): TensorDataTypes.eFloat,
    np.dtype(np.int32): TensorDataTypes.eInt,
    np.dtype(np.uint32): TensorDataTypes.eUnsignedInt,
    np.dtype(np.float64): TensorDataTypes.eDouble,
    np.dtype(np.bool_): TensorDataTypes.eBool,
}

DATA_TYPE_TO_DTYPE: Dict[TensorDataTypes, np.dtype] = {v: k for k, v in _DTYPE_TO_DATA_TYPE.items()}

_DATA_TYPE_TO_PROTO = {
    TensorDataTypes.eFloat: types_pb2.DATA_TYPE_FLOAT32,
    TensorDataTypes.eInt: types_pb2.DATA_TYPE_INT32,
    TensorDataTypes.eUnsignedInt: types_pb2.DATA_TYPE_UINT32,
    TensorDataTypes.eDouble: types_pb2.DATA_TYPE_FLOAT64,
    TensorDataTypes.eBool: types_pb2.DATA_TYPE_BOOL,
}

_TENSOR_TYPE_TO_PROTO = {
    TensorTypes.device: types_pb2.TENSOR_TYPE_DEVICE,
    TensorTypes.host: types_pb2.TENSOR_TYPE_HOST,
    TensorTypes.storage: types_pb2.TENSOR_TYPE_STORAGE,
}

SUPPORTED_DTYPES = "float32, int32, uint32, float64 or bool"


class UnsupportedDataTypeError(TypeError, RuntimeError):
    """A numpy dtype kp has no tensor type for. Kompute raised RuntimeError ("no valid dtype
    supported") here, so this is both a TypeError and a RuntimeError."""


def data_type_of(dtype: np.dtype, what: str) -> TensorDataTypes:
    """The TensorDataTypes of a numpy dtype; UnsupportedDataTypeError naming `what` for
    other dtypes."""
    try:
        return _DTYPE_TO_DATA_TYPE[np.dtype(dtype)]
    except KeyError:
        raise UnsupportedDataTypeError(
            f"{what}: numpy dtype {np.dtype(dtype).name} is not supported; "
            f"use {SUPPORTED_DTYPES}"
        ) from None


def data_type_proto(data_type: TensorDataTypes) -> int:
    return _DATA_TYPE_TO_PROTO[data_type]


def tensor_type_proto(tensor_type: TensorTypes) -> int:
    try:
        return _TENSOR_TYPE_TO_PROTO[TensorTypes(tensor_type)]
    except (KeyError, ValueError):
        raise ValueError(f"tensor_type: {tensor_type!r} is not a kp.TensorTypes value") from None


def wire_bytes(array: np.ndarray) -> bytes:
    """A tensor's host array as the bytes the daemon expects (bool as uint32 0/1)."""
    if array.dtype == np.bool_:
        return array.astype(np.uint32).tobytes()
    return np.ascontiguousarray(array).tobytes()


def store_wire_bytes(array: np.ndarray, data: bytes) -> None:
    """Writes bytes received from the daemon into a tensor's host array, in place."""
    if array.dtype == np.bool_:
        array[...] = np.frombuffer(data, dtype=np.uint32) != 0
    else:
        array[...] = np.frombuffer(data, dtype=array.dtype)
