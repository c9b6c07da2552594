"""Placing a new session on one of several daemons (a fleet).

A Manager given several addresses — ``address=["host-a:7070", "host-b:7070"]``, a
comma-separated string, ``$KP_ADDRESS`` of that form, or ``dns:NAME:PORT`` (every address the
name resolves to, such as a Kubernetes headless Service) — asks each daemon for its load
(``GetLoad``, at once, each bounded by a short timeout), keeps the devices that can take the
session (the daemon reachable and not shutting down, a session free, the device available, of
the asked type, with the asked device memory free), and opens the session on one of them,
chosen at random in proportion to its headroom, so that clients starting together spread
instead of all picking the same idlest device. Past 16 daemons, a random 16 are asked. A daemon that refuses the session
(RESOURCE_EXHAUSTED, UNAVAILABLE) is skipped for the next candidate.

Sessions are sticky: a session stays where it was placed (its tensors live there) and is never
moved. If that daemon dies, its calls fail with UnavailableError naming it; the program opens a
new Manager, which is placed among the daemons still answering.
"""
from __future__ import annotations

import random
import socket
import threading
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import grpc

from ._errors import KpError, ResourceExhaustedError, UnavailableError
from ._security import Security
from .v1 import compute_pb2, compute_pb2_grpc

DNS_PREFIX = "dns:"
# How long one daemon may take to report its load before it is skipped.
LOAD_TIMEOUT_S = 2.0
# The most daemons asked for their load per new session: a larger fleet is sampled at random
# (choosing the best of a random few spreads load nearly as well as asking everyone).
MAX_ASKED = 16

Addresses = Union[str, Sequence[str]]


def split_addresses(address: Addresses) -> List[str]:
    """The daemons an address names: a list, "a,b,c", or one address (``dns:`` expanded)."""
    entries = [address] if isinstance(address, str) else list(address)
    parts = [p.strip() for entry in entries for p in str(entry).split(",") if p.strip()]
    expanded: List[str] = []
    for part in parts:
        for target in expand_dns(part) if part.startswith(DNS_PREFIX) else [part]:
            if target not in expanded:
                expanded.append(target)
    return expanded


def is_fleet(address: Optional[Addresses]) -> bool:
    """True when `address` names several daemons, or a DNS name that may resolve to several."""
    if address is None:
        return False
    if not isinstance(address, str):
        return len(list(address)) > 1
    return "," in address or address.startswith(DNS_PREFIX)


def expand_dns(entry: str) -> List[str]:
    """``dns:NAME:PORT`` (or ``dns:///NAME:PORT``) -> "ip:port" for every address of NAME."""
    rest = entry[len(DNS_PREFIX):].lstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"address: {entry!r} is not dns:NAME:PORT")
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UnavailableError(f"cannot resolve {host} ({entry}): {error.strerror}") from None
    targets = []
    for family, _, _, _, sockaddr in infos:
        ip = sockaddr[0]
        target = f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}"
        if target not in targets:
            targets.append(target)
    return targets


class Candidate(NamedTuple):
    """A device of a daemon that could take the session, and its headroom."""

    address: str
    device: int
    headroom: float


def load_of(address: str, security: Security,
            timeout: float = LOAD_TIMEOUT_S) -> compute_pb2.GetLoadResponse:
    """The daemon's GetLoad answer; KpError when it cannot give one in `timeout`."""
    # A connection of its own: gRPC shares one per address among a process's channels, and a
    # dead daemon's, still held by a lost session's objects, would make this wait out its
    # reconnection back-off instead of failing at once.
    channel = security.channel([("grpc.use_local_subchannel_pool", 1)])
    try:
        stub = compute_pb2_grpc.ComputeStub(channel)
        return stub.GetLoad(compute_pb2.GetLoadRequest(), timeout=timeout,
                            metadata=security.metadata)
    except grpc.RpcError as error:
        raise UnavailableError(f"{error.code().name}: {error.details()}", error.code()) from None
    finally:
        channel.close()


def headroom(device: compute_pb2.DeviceLoad) -> float:
    """How much more a device can take: its free memory shared among its sessions plus the new
    one, less for the part of the time it is busy."""
    return device.memory_free_bytes / (device.sessions + 1) * (1.0 - 0.5 * device.busy_fraction)


def candidates_of(address: str, load: compute_pb2.GetLoadResponse, device: Optional[int],
                  device_type: Optional[str], memory_bytes: int) -> Tuple[List[Candidate], str]:
    """The devices of one daemon that fit the request, and why none does (for messages)."""
    if load.draining:
        return [], "shutting down"
    if load.sessions_free == 0:
        return [], "no session free (--max-sessions)"
    fits, reasons = [], []
    for d in load.devices:
        if device is not None and d.device != device:
            continue
        if not d.available:
            reasons.append(f"device {d.device} unavailable")
        elif device_type and d.type != device_type:
            reasons.append(f"device {d.device} is {d.type}")
        elif d.memory_free_bytes < memory_bytes:
            reasons.append(f"device {d.device} has {d.memory_free_bytes} bytes free")
        else:
            fits.append(Candidate(address, d.device, max(headroom(d), 1.0)))
    if not fits and not reasons:
        reasons.append(f"no device {device}" if device is not None else "no device")
    return fits, "; ".join(reasons)


def weighted_order(candidates: List[Candidate], rng: random.Random) -> List[Candidate]:
    """Candidates in a random order where each comes next with probability proportional to
    its headroom."""
    left, ordered = list(candidates), []
    while left:
        pick = rng.uniform(0, sum(c.headroom for c in left))
        for i, c in enumerate(left):
            pick -= c.headroom
            if pick <= 0 or i == len(left) - 1:
                ordered.append(left.pop(i))
                break
    return ordered


def place(addresses: List[str], security_of: Callable[[str], Security],
          open_session: Callable[[str, int], object], device: Optional[int] = None,
          device_type: Optional[str] = None, memory_bytes: int = 0,
          rng: Optional[random.Random] = None) -> object:
    """Opens a session on the daemon and device with the most headroom (see the module's
    docstring); UnavailableError naming every daemon and why it was skipped when none can."""
    if not addresses:
        raise ValueError("address: no daemon given")
    rng = rng or random.Random()
    if len(addresses) > MAX_ASKED:
        addresses = rng.sample(addresses, MAX_ASKED)
    loads: Dict[str, object] = {}

    def ask(address: str) -> None:
        try:
            loads[address] = load_of(address, security_of(address))
        except (KpError, ValueError) as error:
            loads[address] = error

    threads = [threading.Thread(target=ask, args=(a,), daemon=True) for a in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LOAD_TIMEOUT_S + 1.0)

    skipped: Dict[str, str] = {}
    candidates: List[Candidate] = []
    for address in addresses:
        load = loads.get(address)
        if load is None:
            skipped[address] = f"no load report within {LOAD_TIMEOUT_S:.0f} s"
        elif isinstance(load, Exception):
            skipped[address] = f"unreachable ({load})"
        else:
            fits, why = candidates_of(address, load, device, device_type, memory_bytes)
            candidates += fits
            if not fits:
                skipped[address] = why
    for candidate in weighted_order(candidates, rng):
        try:
            return open_session(candidate.address, candidate.device)
        except (UnavailableError, ResourceExhaustedError) as error:
            skipped[candidate.address] = f"refused the session ({error})"
    asked = [f"device {device}" if device is not None else "",
             f"type {device_type}" if device_type else "",
             f"{memory_bytes} bytes free" if memory_bytes else ""]
    wanted = ", ".join(a for a in asked if a)
    raise UnavailableError(
        f"no daemon could take the session{' (' + wanted + ')' if wanted else ''}: "
        + "; ".join(f"{a}: {why}" for a, why in skipped.items()))
