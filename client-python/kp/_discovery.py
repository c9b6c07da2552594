"""Finding kpd with no address given: the user's socket, the system's socket, else a private
kpd started for this process (zero-config local use); and connection failures told in words.

``kp.Manager()`` with no ``address`` and no ``$KP_ADDRESS`` tries, in order,
``$XDG_RUNTIME_DIR/kp/kpd.sock`` and ``/run/kp/kpd.sock`` (the system service's socket, made
by systemd's kpd.socket). If none answers and a ``kpd`` binary is installed (``$KP_KPD``, else
on ``$PATH``, else /usr/bin/kpd), it starts a private kpd on a socket in a temporary folder only
this user can enter, logs one warning line saying so, and stops it when the process exits
(``$KP_AUTOSTART=0`` turns this off). When nothing works, the error says what was tried and how
to start kpd.
"""
from __future__ import annotations

import atexit
import ctypes
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, List, Optional, Tuple, TypeVar

from ._address import default_socket_paths
from ._errors import UnavailableError

log = logging.getLogger("kp")

ENV_AUTOSTART = "KP_AUTOSTART"
ENV_KPD = "KP_KPD"
_START_TIMEOUT_S = 30.0

T = TypeVar("T")


def failure_reason(address: str, details: str) -> str:
    """Why connecting to `address` failed, in words, from gRPC's `details`."""
    lowered = (details or "").lower()
    path = address[len("unix:"):] if address.startswith("unix:") else ""
    if path and ("no such file" in lowered or "enoent" in lowered):
        return f"there is no socket at {path}"
    if "connection refused" in lowered or "econnrefused" in lowered:
        return "nothing is listening there (kpd is not running)"
    if path and ("permission denied" in lowered or "eacces" in lowered):
        try:
            import grp

            group = grp.getgrgid(os.stat(path).st_gid).gr_name
        except (OSError, KeyError):
            group = "its group"
        return (f"no permission to use {path}: kpd lets in the members of {group} (ask for "
                f"`usermod -aG {group} $USER`, then log in again)")
    return details or "no answer"


def start_hint(address: str) -> str:
    """How to start a kpd that `address` would reach."""
    if address.startswith("unix:"):
        return f"start one with `kpd --listen {address}` (or: systemctl enable --now kpd.socket)"
    return "start kpd there, or check the address"


def _kpd_binary() -> Optional[str]:
    chosen = os.environ.get(ENV_KPD)
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    found = shutil.which("kpd")
    if found:
        return found
    return "/usr/bin/kpd" if os.access("/usr/bin/kpd", os.X_OK) else None


def _die_with_parent() -> None:
    """In the private kpd's process: end it if this process dies first (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class PrivateDaemon:
    """A kpd of this process's own, on a socket in a folder only this user can enter; stopped
    at exit."""

    def __init__(self, binary: str):
        self.folder = tempfile.mkdtemp(prefix="kp-private-")
        os.chmod(self.folder, stat.S_IRWXU)
        self.path = os.path.join(self.folder, "kpd.sock")
        self.address = "unix:" + self.path
        self.log_path = os.path.join(self.folder, "kpd.log")
        self.announced = False  # the one line that says it was started
        with open(self.log_path, "w") as out:
            self.process = subprocess.Popen(
                [binary, "--listen", self.address, "--log-level", "warn"], stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log()[-600:].strip()
                self.stop()
                raise UnavailableError(f"the private kpd ({binary}) did not start: {tail}")
            time.sleep(0.02)

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(self.path)
                return True
            except OSError:
                return False

    def log(self) -> str:
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> None:
        """Ends the sessions still open, then the daemon; removes its folder. Idempotent."""
        from ._session import _close_open_sessions  # the sessions first: they talk to it

        if self.process.poll() is None:
            _close_open_sessions()
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_private: Optional[PrivateDaemon] = None
_private_lock = threading.Lock()


def private_daemon() -> Optional[PrivateDaemon]:
    """This process's private kpd, started on first use; None when none may be started."""
    global _private
    with _private_lock:
        if _private is not None and _private.process.poll() is None:
            return _private
        if os.environ.get(ENV_AUTOSTART, "1") == "0":
            return None
        binary = _kpd_binary()
        if binary is None:
            return None
        _private = PrivateDaemon(binary)
        return _private


def _announce(line: str) -> None:
    """A warning on the "kp" logger; on stderr too when the program configured no logging
    (kp's logger has only its NullHandler then), so that the line is seen."""
    log.warning("%s", line)
    configured = logging.getLogger().handlers or any(
        not isinstance(h, logging.NullHandler) for h in log.handlers)
    if not configured:
        print(line, file=sys.stderr)


def connect_default(connect: Callable[[str], T]) -> T:
    """`connect(address)` on the first default socket that answers, else on a private kpd;
    UnavailableError saying what was tried and how to start kpd when nothing works."""
    tried: List[Tuple[str, str]] = []
    for path in default_socket_paths():
        if not os.path.exists(path):
            tried.append((path, "no socket"))
            continue
        try:
            return connect("unix:" + path)
        except UnavailableError as error:
            tried.append((path, str(error).split(": ", 1)[-1]))
    attempts = "; ".join(f"{path} ({why})" for path, why in tried)
    daemon = private_daemon()
    if daemon is not None:
        if not daemon.announced:
            daemon.announced = True
            _announce(f"kp: no kpd answered ({attempts}): started a private kpd (pid "
                      f"{daemon.process.pid}) on {daemon.address} for this process, stopped "
                      f"when it exits (KP_AUTOSTART=0 turns this off)")
        return connect(daemon.address)
    why_not = ("KP_AUTOSTART=0 forbids starting one"
               if os.environ.get(ENV_AUTOSTART, "1") == "0"
               else "no kpd binary is installed to start one")
    raise UnavailableError(
        f"no kpd answered: tried {attempts}, and {why_not}; start kpd (`sudo systemctl "
        f"enable --now kpd.socket` with the kpd package, or `kpd --listen unix:/tmp/kpd.sock` "
        f"and KP_ADDRESS=unix:/tmp/kpd.sock)")
