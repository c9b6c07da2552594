"""Streams built to corrupt data or to exhaust the daemon: a WriteTensorStream whose chunks do
not parse, skip, overlap or overrun; readers that never read their replies. A stream that
does not deliver the whole tensor fails with INVALID_ARGUMENT (never OK with data silently
dropped); replies a client leaves unread are charged to its session, so a stalled reader
holds no more of kpd's memory than its session's quota, and reading works again once it
goes."""
from __future__ import annotations

import socket
import struct
from typing import Iterator, List

import grpc
import numpy as np
import pytest

import kp
from conftest import Daemon
from test_hostile_shaders import GRPC_THREAD_SLACK, Process, multiply_works
from kp.v1 import compute_pb2, compute_pb2_grpc

ELEMENTS = 3 * 1024  # 12 KiB of float32, written in three 4 KiB chunks


def chunk(session: str, tensor: int, offset: int, values: np.ndarray) -> bytes:
    return compute_pb2.TensorChunk(
        session=session, tensor=tensor, offset=offset, data=values.tobytes()).SerializeToString()


def write_stream(d: Daemon, chunks: List[bytes]) -> None:
    """WriteTensorStream with chunks given as raw bytes (so that some may be malformed)."""
    call = d.channel.stream_unary(
        "/kp.v1.Compute/WriteTensorStream",
        request_serializer=None,
        response_deserializer=compute_pb2.WriteTensorResponse.FromString)
    call(iter(chunks), timeout=30)


def read_values(d: Daemon, session: str, tensor: int) -> np.ndarray:
    """The tensor's host copy in one ReadTensor (up to 64 MiB)."""
    with grpc.insecure_channel(d.address,
                               options=[("grpc.max_receive_message_length", 64 << 20)]) as c:
        reply = compute_pb2_grpc.ComputeStub(c).ReadTensor(
            compute_pb2.ReadTensorRequest(session=session, tensor=tensor), timeout=30)
    return np.frombuffer(reply.data, dtype=np.float32)


def thirds(session: str, tensor: int, values: np.ndarray) -> List[bytes]:
    third = ELEMENTS // 3
    return [chunk(session, tensor, 4 * i * third, values[i * third:(i + 1) * third])
            for i in range(3)]


# Each entry: a stream of three chunks with one of them broken, and the words kpd's error
# must contain.
def broken_streams(session: str, tensor: int, values: np.ndarray) -> Iterator[tuple]:
    good = thirds(session, tensor, values)
    third = 4 * (ELEMENTS // 3)
    # A length-delimited field announcing 2^35 bytes, in a 6-byte message: does not parse.
    garbage = b"\x22\x80\x80\x80\x80\x80\x01"
    yield "does not parse", [good[0], garbage, good[2]], "did not parse"
    yield "missing", [good[0], good[2]], "chunks come in order, without gaps"
    yield "ends early", [good[0], good[1]], "the stream ended after"
    yield "overlaps", [good[0], good[0], good[1], good[2]], "chunks come in order, without gaps"
    yield "out of order", [good[1], good[0], good[2]], "chunks come in order, without gaps"
    yield "past the end", good + [chunk(session, tensor, 3 * third, values[:1])], "offset"
    yield "another tensor", [good[0], chunk(session, tensor + 1, third, values[:1])], "a stream writes one tensor"


def test_a_stream_that_does_not_deliver_the_whole_tensor_fails(daemon):
    with kp.Manager(address=daemon.address, shared_memory=False) as mgr:
        t = mgr.tensor(np.zeros(ELEMENTS, dtype=np.float32))
        mgr._conn.flush()  # the creation is pipelined (kp._pipeline): send it before raw calls
        session, handle = mgr._conn.session, t._handle
        values = np.arange(ELEMENTS, dtype=np.float32) + 1
        cases = list(broken_streams(session, handle, values))
        for name, chunks, words in cases:
            with pytest.raises(grpc.RpcError) as failure:
                write_stream(daemon, chunks)
            assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, failure.value)
            assert words in failure.value.details(), (name, failure.value.details())
        # The session and the daemon go on: a whole stream writes exactly what it carries.
        write_stream(daemon, thirds(session, handle, values))
        np.testing.assert_array_equal(read_values(daemon, session, handle), values)
        multiply_works(daemon.address)


class StalledReader:
    """A gRPC client that sends requests and never reads a byte of their replies: HTTP/2 by
    hand on kpd's socket (gRPC's own clients always read what arrives)."""

    def __init__(self, d: Daemon):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(d.socket)
        self.stream_id = 1
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self.frame(4, 0, 0, b""))
        # Acknowledge kpd's settings (read up to its SETTINGS frame), then read nothing more.
        while True:
            length, kind, flags = self.read_frame_header()
            self.read_exactly(length)
            if kind == 4 and not flags & 1:
                self.sock.sendall(self.frame(4, 1, 0, b""))
                break

    @staticmethod
    def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(
            ">I", stream) + payload

    def read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            part = self.sock.recv(n - len(data))
            assert part, "kpd closed the connection"
            data += part
        return data

    def read_frame_header(self) -> tuple:
        header = self.read_exactly(9)
        return int.from_bytes(header[:3], "big"), header[3], header[4]

    @staticmethod
    def header(name: str, value: str) -> bytes:
        # HPACK: a literal field without indexing, with a literal name; no Huffman coding.
        assert len(name) < 127 and len(value) < 127
        return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()

    def call(self, method: str, request: bytes) -> None:
        headers = b"".join(self.header(n, v) for n, v in [
            (":method", "POST"), (":scheme", "http"), (":path", "/kp.v1.Compute/" + method),
            (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers")])
        message = b"\x00" + struct.pack(">I", len(request)) + request
        self.sock.sendall(self.frame(1, 0x4, self.stream_id, headers) +
                          self.frame(0, 0x1, self.stream_id, message))
        self.stream_id += 2

    def close(self) -> None:
        self.sock.close()


def test_stalled_readers_hold_no_more_than_the_session_quota():
    quota = 80 << 20
    d = Daemon("--session-memory-bytes", str(quota))
    try:
        multiply_works(d.address)
        with kp.Manager(address=d.address, shared_memory=False) as mgr:
            values = np.arange(8 << 20, dtype=np.float32)  # 32 MiB
            t = mgr.tensor(values)
            session, handle = mgr._conn.session, t._handle
            before = Process(d.process.pid).rss_mib()
            # Twelve reads of the whole tensor (384 MiB of replies) and four streams of it,
            # none ever read.
            reader = StalledReader(d)
            read = compute_pb2.ReadTensorRequest(session=session, tensor=handle).SerializeToString()
            stream = compute_pb2.ReadTensorStreamRequest(
                session=session, tensor=handle, chunk_bytes=4 << 20).SerializeToString()
            for _ in range(12):
                reader.call("ReadTensor", read)
            for _ in range(4):
                reader.call("ReadTensorStream", stream)

            # The replies kpd holds for it fill the session's budget (one of 32 MiB, held twice,
            # is enough: wait for it, without a read of ours in flight that would make kpd
            # refuse the stalled ones instead): this client's own read is refused, by name,
            # until they go.
            assert d.wait_for(lambda: d.status().reply_bytes_held >= 64 << 20, 30), d.status()
            def refused() -> bool:
                try:
                    read_values(d, session, handle)
                    return False
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
                    assert "replies not yet read by its client" in e.details(), e.details()
                    assert "--session-memory-bytes" in e.details(), e.details()
                    return True

            assert d.wait_for(refused, 30)
            grown = Process(d.process.pid).rss_mib() - before
            assert grown < quota / 2**20 + 48, f"kpd grew by {grown:.0f} MiB"
            # A connection that opens more calls at once than --max-calls-per-connection
            # breaks HTTP/2's limit and is closed: the threads serving it stay bounded.
            threads = Process(d.process.pid).threads()
            flood = StalledReader(d)
            status = compute_pb2.GetStatusRequest().SerializeToString()
            with pytest.raises((BrokenPipeError, ConnectionResetError)):
                for _ in range(10_000):
                    flood.call("GetStatus", status)
            extra = Process(d.process.pid).threads() - threads
            assert extra <= 128 + GRPC_THREAD_SLACK, f"{extra} more threads"
            flood.close()
            assert refused()  # the first reader's replies are still held
            # Other sessions are not affected.
            multiply_works(d.address)
            # The stalled client goes: its replies are dropped, and reading works again.
            reader.close()
            assert d.wait_for(lambda: not refused(), 30)
            np.testing.assert_array_equal(read_values(d, session, handle), values)
    finally:
        assert d.stop() == 0, d.log()[-3000:]
        d.cleanup()
