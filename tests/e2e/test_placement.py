"""Placing a session among several daemons (kp._placement), against real kpd processes: what
is skipped and why, the forms of the address, and the error when nothing can take it."""
from __future__ import annotations

import random
import socket

import pytest

import kp
from conftest import Daemon
from kp._placement import Candidate, split_addresses, weighted_order
from kp.v1 import compute_pb2


@pytest.fixture
def two_daemons():
    daemons = [Daemon(tcp=["127.0.0.1:0"]), Daemon(tcp=["127.0.0.1:0"])]
    yield daemons
    for d in daemons:
        d.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_get_load_reports_every_device_and_the_free_sessions() -> None:
    daemon = Daemon("--max-sessions", "3")
    try:
        load = daemon.stub.GetLoad(compute_pb2.GetLoadRequest(), timeout=10)
        assert [d.device for d in load.devices] == [0]
        assert load.sessions_free == 3 and not load.draining
        with kp.Manager(address=daemon.address) as mgr:
            mgr.tensor([1.0] * 256)
            mgr._conn.flush()  # pipelined creation (kp._pipeline): sent now
            load = daemon.stub.GetLoad(compute_pb2.GetLoadRequest(), timeout=10)
            assert load.sessions_free == 2
            assert load.devices[0].sessions == 1 and load.devices[0].available
            assert load.devices[0].memory_used_bytes >= 1024
            assert load.devices[0].type == mgr.get_device_properties()["device_type"]
    finally:
        daemon.cleanup()


def test_a_full_or_unreachable_daemon_is_skipped(two_daemons) -> None:
    full = Daemon("--max-sessions", "1", tcp=["127.0.0.1:0"])
    try:
        dead = f"127.0.0.1:{free_port()}"
        taken = kp.Manager(address=full.tcp_addresses[0])  # its only session
        fleet = [dead, full.tcp_addresses[0], two_daemons[0].tcp_addresses[0]]
        for _ in range(5):
            with kp.Manager(address=fleet) as mgr:
                assert mgr.address == two_daemons[0].tcp_addresses[0]
        taken.destroy()
    finally:
        full.cleanup()


def test_nothing_fits_says_why_for_each_daemon(two_daemons) -> None:
    dead = f"127.0.0.1:{free_port()}"
    fleet = ",".join([two_daemons[0].tcp_addresses[0], dead])
    with pytest.raises(kp.UnavailableError) as error:
        kp.Manager(address=fleet, device_type="discrete_gpu")
    message = str(error.value)
    assert "no daemon could take the session (type discrete_gpu)" in message
    assert f"{two_daemons[0].tcp_addresses[0]}: device 0 is cpu" in message
    assert f"{dead}: unreachable" in message
    with pytest.raises(kp.UnavailableError) as error:
        kp.Manager(address=fleet, memory_bytes=1 << 60)
    assert "bytes free" in str(error.value)


def test_device_type_and_memory_that_fit_are_placed(two_daemons) -> None:
    fleet = [d.tcp_addresses[0] for d in two_daemons]
    with kp.Manager(address=fleet, device_type="cpu", memory_bytes=1 << 20) as mgr:
        assert mgr.address in fleet
        out = mgr.tensor([1, 2, 3])
        assert out.data().tolist() == [1, 2, 3]


def test_dns_names_expand_to_every_address(two_daemons) -> None:
    port = two_daemons[0].tcp_addresses[0].rsplit(":", 1)[1]
    expanded = split_addresses(f"dns:localhost:{port}")
    assert f"127.0.0.1:{port}" in expanded
    with kp.Manager(address=f"dns:localhost:{port}") as mgr:
        assert mgr.address == f"127.0.0.1:{port}"
    with pytest.raises(ValueError, match="is not dns:NAME:PORT"):
        split_addresses("dns:no-port")


def test_the_list_forms_agree() -> None:
    assert split_addresses("a:1, b:2,a:1") == ["a:1", "b:2"]
    assert split_addresses(["a:1", "b:2,c:3"]) == ["a:1", "b:2", "c:3"]


def test_headroom_weights_the_choice() -> None:
    rng = random.Random(7)
    big, small = Candidate("big", 0, 9.0), Candidate("small", 0, 1.0)
    firsts = [weighted_order([big, small], rng)[0].address for _ in range(2000)]
    share = firsts.count("big") / len(firsts)
    assert 0.85 < share < 0.95, share  # 9 : 1
    assert sorted(c.address for c in weighted_order([big, small], rng)) == ["big", "small"]
