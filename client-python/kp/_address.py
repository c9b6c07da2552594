"""Where the client finds kpd."""
from __future__ import annotations

import os
from typing import Optional

ENV_ADDRESS = "KP_ADDRESS"


def default_socket_paths() -> list:
    """The daemon's default sockets, in the order the client tries them."""
    paths = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        paths.append(os.path.join(runtime, "kp", "kpd.sock"))
    paths.append("/run/kp/kpd.sock")
    return paths


def resolve_address(address: Optional[str]) -> str:
    """The gRPC target to connect to.

    The `address` argument wins, then ``$KP_ADDRESS``, then the first default socket that
    exists ($XDG_RUNTIME_DIR/kp/kpd.sock, /run/kp/kpd.sock). A bare path means a Unix socket;
    "host:port" means TCP.
    """
    chosen = address or os.environ.get(ENV_ADDRESS)
    if not chosen:
        candidates = default_socket_paths()
        chosen = next((p for p in candidates if os.path.exists(p)), candidates[-1])
    if chosen.startswith("/") or chosen.startswith("./"):
        return "unix:" + os.path.abspath(chosen)
    return chosen
