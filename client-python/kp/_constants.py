"""Specialisation and push constants: Python values -> kp.v1 Constants."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._types import data_type_of, data_type_proto, wire_bytes
from .v1 import types_pb2

_CONSTANT_DTYPES = (np.float32, np.int32, np.uint32, np.float64)


def as_constants_array(values: Any, what: str) -> np.ndarray:
    """Constants as a typed 1-d array.

    A numpy array keeps its dtype (float32, int32, uint32 or float64), so int push constants
    stay ints. A list or tuple is float32, as in Kompute's Python API.
    """
    if values is None:
        return np.zeros(0, dtype=np.float32)
    if isinstance(values, np.ndarray):
        if values.dtype not in [np.dtype(t) for t in _CONSTANT_DTYPES]:
            raise TypeError(
                f"{what}: numpy dtype {values.dtype.name} is not supported; "
                "use float32, int32, uint32 or float64"
            )
        return np.ascontiguousarray(values.ravel())
    if isinstance(values, (list, tuple)):
        return np.asarray(values, dtype=np.float32).ravel()
    raise TypeError(f"{what}: expected a list or a numpy array, got {type(values).__name__}")


def constants_proto(values: Any, what: str) -> types_pb2.Constants:
    array = as_constants_array(values, what)
    if array.size == 0:
        return types_pb2.Constants()
    return types_pb2.Constants(
        data_type=data_type_proto(data_type_of(array.dtype, what)), values=wire_bytes(array)
    )
