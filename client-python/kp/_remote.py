"""What tensors, algorithms and sequences share: a handle in a session with kpd."""
from __future__ import annotations

from typing import Any, Optional

from ._errors import FailedPreconditionError, KpError
from ._session import Session


class RemoteObject:
    """An object kpd holds for a session, named by a handle (0: not created yet)."""

    _kind = "object"  # used in error messages
    _destroy_rpc = ""  # the RPC that frees it
    _not_created_hint = ""

    _session: Optional[Session]  # None before creation and after destroy()
    _handle: int
    _destroyed: bool
    # Why kpd refused the creation that the pipeline sent later (see kp._pipeline), if it did.
    _creation_error: Optional[KpError] = None

    def _creation_failed(self, error: KpError) -> None:
        self._creation_error = error

    def _destroy_request(self, session: str) -> Any:
        raise NotImplementedError

    def is_init(self) -> bool:
        """True while the object exists in the daemon."""
        return (
            bool(self._handle)
            and self._creation_error is None
            and not self._destroyed
            and self._session is not None
            and self._session.is_open
        )

    def destroy(self) -> None:
        """Frees the object in the daemon. Idempotent."""
        if self._destroyed:
            return
        self._destroyed = True
        session, self._session = self._session, None
        if not self._handle or self._creation_error is not None:
            return
        if session is not None and session.is_open:
            if session.pipeline is not None and session.pipeline.cancel(self):
                return  # its creation was never sent: there is nothing to free in kpd
            session.call(self._destroy_rpc, self._destroy_request(session.session))

    def _require_handle(self, what: str) -> int:
        """The handle, or a FailedPreconditionError naming `what` if there is none."""
        if self._destroyed:
            raise FailedPreconditionError(f"{what}: the {self._kind} was destroyed")
        if self._creation_error is not None:
            error = self._creation_error
            raise type(error)(f"{what}: {error.details}", error.code)
        if not self._handle:
            raise FailedPreconditionError(f"{what}: {self._not_created_hint}")
        return self._handle
