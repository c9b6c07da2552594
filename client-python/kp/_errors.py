"""Exceptions raised by the kp client.

Every error the daemon reports becomes a :class:`KpError` subclass chosen by its gRPC status
code. They all derive from :class:`RuntimeError`, so code written for in-process Kompute
(which raised RuntimeError) still catches them.
"""
from __future__ import annotations

from typing import Dict, Optional, Type

import grpc


class KpError(RuntimeError):
    """An error reported by kpd (or by the client on its behalf).

    Attributes:
        code: the gRPC status code (``grpc.StatusCode``), or None for client-side errors.
        details: the daemon's message, which names the offending field and value.
    """

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None):
        super().__init__(message)
        self.code = code
        self.details = message


class InvalidArgumentError(KpError):
    """The request was malformed: a bad size, type, shader, constant or op."""


class NotFoundError(KpError):
    """An unknown handle or session (for example an object of another session)."""


class FailedPreconditionError(KpError):
    """The object is in the wrong state: destroyed, or its sequence is still running."""


class ResourceExhaustedError(KpError):
    """Out of device or host memory, or a daemon limit was reached."""


class DeadlineExceededError(KpError):
    """An evaluation did not finish in time; its sequence keeps running and can be awaited."""


class UnavailableError(KpError):
    """The daemon cannot be reached (not running, wrong address, or it went away)."""


class DeviceLostError(UnavailableError):
    """The session's device was lost, or reset by kpd because an evaluation on it never
    finished (a runaway shader). The session has ended with everything in it: the message says
    why (and whose evaluation it was); open a new ``kp.Manager`` to carry on."""


class UnauthenticatedError(KpError):
    """kpd refused the caller: its bearer token is missing or wrong (see ``kp.Manager(token=...)``
    and $KP_TOKEN)."""


class PermissionDeniedError(KpError):
    """kpd knows the caller, who may not do this (e.g. list the sessions: root and kpd's own
    user only)."""


class InternalError(KpError):
    """An unexpected failure inside the daemon."""


_BY_CODE: Dict[grpc.StatusCode, Type[KpError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.CANCELLED: UnavailableError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
}


_CODE_BY_VALUE = {status.value[0]: status for status in grpc.StatusCode}

# Trailing metadata kpd attaches to an error caused by a lost or reset device (proto/kp/v1/
# compute.proto); the local data socket carries the same value in LocalResponse.error_kind.
ERROR_KIND_KEY = "kp-error"
DEVICE_LOST_KIND = "device-lost"


def _error_kind(error: grpc.RpcError) -> str:
    try:
        metadata = error.trailing_metadata() or ()
    except Exception:  # noqa: BLE001 - not every RpcError is a call
        return ""
    for key, value in metadata:
        if key == ERROR_KIND_KEY:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def from_rpc_error(error: grpc.RpcError, address: str) -> KpError:
    """Turns a failed gRPC call into the matching KpError."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return _error(code, details, address, _error_kind(error))


def from_code(value: int, details: str, address: str, kind: str = "") -> KpError:
    """A KpError from a numeric status code (the local data socket's responses)."""
    return _error(_CODE_BY_VALUE.get(value, grpc.StatusCode.UNKNOWN), details, address, kind)


def _error(code: grpc.StatusCode, details: str, address: str, kind: str = "") -> KpError:
    if kind == DEVICE_LOST_KIND:
        # kpd answered: the device failed, not the connection.
        return DeviceLostError(details or "the device was lost", code)
    cls = _BY_CODE.get(code, KpError)
    if cls is UnavailableError:
        message = f"cannot reach kpd at {address}: {details}"
    else:
        message = details or code.name
    return cls(message, code)
