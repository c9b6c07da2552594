"""kpctl: look at and use a kpd from the command line.

    kpctl [--address ADDR] [--json] status      the daemon: version, uptime, sessions, memory
    kpctl [--address ADDR] [--json] devices     its Vulkan devices and their load
    kpctl [--address ADDR] [--json] sessions    the open sessions (root and kpd's user only)
    kpctl [--address ADDR] compile SHADER.comp -o OUT.spv   GLSL to SPIR-V with kpd's compiler
    kpctl [--address ADDR] [--json] bench       small-evaluation latency and transfer bandwidth

The address is found as kp.Manager finds it (--address, $KP_ADDRESS, the user's socket, the
system's socket), except that kpctl never starts a kpd of its own. --token, --tls-ca,
--tls-cert and --tls-key (or their KP_* variables) reach a kpd that asks for them.

Exit status: 0 done; 1 kpd refused or could not be reached (the reason is printed on one
line); 2 wrong usage or an input file that cannot be read.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import grpc

from ._address import ENV_ADDRESS, default_socket_paths, resolve_address
from ._discovery import failure_reason
from ._errors import KpError, from_rpc_error
from ._security import Security
from .v1 import compute_pb2, compute_pb2_grpc

EXIT_OK, EXIT_KPD, EXIT_USAGE = 0, 1, 2


class Daemon:
    """A channel to one kpd, and its calls turned into KpErrors."""

    def __init__(self, args: argparse.Namespace):
        address = args.address or os.environ.get(ENV_ADDRESS)
        if not address:
            existing = [p for p in default_socket_paths() if os.path.exists(p)]
            address = existing[0] if existing else default_socket_paths()[-1]
        self.address = resolve_address(address)
        self.security = Security(self.address, args.token, args.tls_ca, args.tls_cert,
                                 args.tls_key)
        self.channel = self.security.channel([])
        self.stub = compute_pb2_grpc.ComputeStub(self.channel)

    def call(self, method: str, request: Any, timeout: float = 30) -> Any:
        try:
            return getattr(self.stub, method)(request, metadata=self.security.metadata,
                                              timeout=timeout)
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise KpError(f"cannot reach kpd at {self.address}: "
                              f"{failure_reason(self.address, error.details() or '')}") from None
            raise from_rpc_error(error, self.address) from None


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours or days else []
    return " ".join(parts + [f"{minutes}m", f"{secs}s"])


def table(rows: List[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in rows)


def status(daemon: Daemon, args: argparse.Namespace) -> Dict[str, Any]:
    reply = daemon.call("GetStatus", compute_pb2.GetStatusRequest())
    devices = daemon.call("ListDevices", compute_pb2.ListDevicesRequest()).devices
    in_use = {m.device: m.allocated_bytes for m in reply.device_memory}
    result = {
        "address": daemon.address, "version": reply.version, "uptime_seconds": reply.uptime_seconds,
        "sessions": reply.sessions, "objects": reply.objects,
        "device_resets": reply.device_resets, "retired_devices": reply.retired_devices,
        "pending_submissions": reply.pending_submissions,
        "compiles_waiting": reply.compiles_waiting, "local_connections": reply.local_connections,
        "reply_bytes_held": reply.reply_bytes_held,
        "devices": [{"index": d.index, "name": d.name,
                     "memory_in_use_bytes": in_use.get(d.index, 0)} for d in devices],
    }
    if not args.json:
        print(table([
            ("kpd", f"{reply.version or '?'} at {daemon.address}"),
            ("uptime", duration(reply.uptime_seconds)),
            ("sessions", f"{reply.sessions} ({reply.objects} objects)"),
            ("evaluations", f"{reply.pending_submissions} submitted, not finished"),
            ("compiles waiting", str(reply.compiles_waiting)),
            ("device resets", f"{reply.device_resets} ({reply.retired_devices} devices retired)"),
            ("local connections", str(reply.local_connections)),
            ("unread replies", mib(reply.reply_bytes_held)),
        ]))
        print()
        print(table([("device", "name", "memory in use")] +
                    [(str(d["index"]), d["name"], mib(d["memory_in_use_bytes"]))
                     for d in result["devices"]]))
    return result


def devices(daemon: Daemon, args: argparse.Namespace) -> List[Dict[str, Any]]:
    listed = daemon.call("ListDevices", compute_pb2.ListDevicesRequest()).devices
    loads = {d.device: d for d in daemon.call("GetLoad", compute_pb2.GetLoadRequest()).devices}
    result = []
    for d in listed:
        load = loads.get(d.index, compute_pb2.DeviceLoad())
        result.append({
            "index": d.index, "name": d.name, "type": d.type, "api_version": d.api_version,
            "driver": d.driver_name, "memory_bytes": sum(h.size for h in d.memory_heaps
                                                         if h.device_local),
            "timestamps": d.timestamps_supported, "float64": d.shader_float64,
            # The load now (GetLoad): what placement among daemons reads.
            "sessions": load.sessions, "memory_used_bytes": load.memory_used_bytes,
            "memory_free_bytes": load.memory_free_bytes,
            "evaluations_running": load.evaluations_running,
            "evaluations_queued": load.evaluations_queued,
            "busy_fraction": round(load.busy_fraction, 3), "available": load.available,
        })
    if not args.json:
        print(table([("device", "name", "type", "Vulkan", "driver", "device memory",
                      "sessions", "used", "free", "busy")] +
                    [(str(d["index"]), d["name"], d["type"], d["api_version"], d["driver"],
                      mib(d["memory_bytes"]), str(d["sessions"]), mib(d["memory_used_bytes"]),
                      mib(d["memory_free_bytes"]), f"{100 * d['busy_fraction']:.0f}%")
                     for d in result]))
    return result


def sessions(daemon: Daemon, args: argparse.Namespace) -> List[Dict[str, Any]]:
    listed = daemon.call("ListSessions", compute_pb2.ListSessionsRequest()).sessions
    result = [{
        "serial": s.serial, "client": s.client, "owner": s.owner, "device": s.device,
        "age_seconds": s.age_seconds, "idle_seconds": s.idle_seconds, "objects": s.objects,
        "tensor_bytes": s.tensor_bytes, "reply_bytes_held": s.reply_bytes_held,
    } for s in listed]
    if not args.json:
        if not result:
            print("no sessions")
        else:
            print(table([("session", "owner", "client", "device", "age", "idle", "objects",
                          "tensors")] +
                        [(f"#{s['serial']}", s["owner"], s["client"] or "-", str(s["device"]),
                          duration(s["age_seconds"]), duration(s["idle_seconds"]),
                          str(s["objects"]), mib(s["tensor_bytes"])) for s in result]))
    return result


def compile_shader(daemon: Daemon, args: argparse.Namespace) -> Dict[str, Any]:
    try:
        with open(args.shader, encoding="utf-8") as f:
            source = f.read()
    except OSError as error:
        raise UsageError(f"cannot read {args.shader}: {error.strerror}") from None
    reply = daemon.call("CompileShader", compute_pb2.CompileShaderRequest(
        glsl=source, name=os.path.basename(args.shader)), timeout=120)
    output = args.output or os.path.splitext(args.shader)[0] + ".spv"
    try:
        with open(output, "wb") as f:
            f.write(reply.spirv)
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror}") from None
    result = {"shader": args.shader, "output": output, "bytes": len(reply.spirv)}
    if not args.json:
        print(f"{args.shader} -> {output} ({len(reply.spirv)} bytes of SPIR-V)")
    return result


def progress(label: str, done: int, total: int, quiet: bool) -> None:
    if quiet or not sys.stderr.isatty():
        return
    filled = 30 * done // total
    sys.stderr.write(f"\r{label:<24} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def bench(daemon: Daemon, args: argparse.Namespace) -> Dict[str, Any]:
    import numpy as np

    from .manager import Manager
    from .operations import OpTensorSyncDevice, OpTensorSyncLocal

    with Manager(address=daemon.address, token=args.token, tls_ca=args.tls_ca,
                 tls_cert=args.tls_cert, tls_key=args.tls_key) as mgr:
        small = mgr.tensor([1.0, 2.0, 3.0])
        seq = mgr.sequence().record(OpTensorSyncDevice([small])).record(
            OpTensorSyncLocal([small]))
        seq.eval()
        times = []
        for i in range(args.evals):
            start = time.perf_counter()
            seq.eval()
            times.append(time.perf_counter() - start)
            progress("small evaluations", i + 1, args.evals, args.json)
        times.sort()
        size = args.megabytes << 20
        big = mgr.tensor(np.ones(size // 4, dtype=np.float32))
        round_trip = mgr.sequence().record(OpTensorSyncDevice([big])).record(
            OpTensorSyncLocal([big]))
        start = time.perf_counter()
        for i in range(args.rounds):
            round_trip.eval()
            progress(f"{args.megabytes} MiB round trips", i + 1, args.rounds, args.json)
        seconds = time.perf_counter() - start
        result = {
            "address": daemon.address, "shared_memory": mgr.shared_memory,
            "small_eval_us": {"p50": times[len(times) // 2] * 1e6,
                              "p99": times[min(len(times) - 1, len(times) * 99 // 100)] * 1e6},
            "round_trip_bytes": size,
            "round_trip_gb_per_s": 2 * size * args.rounds / seconds / 1e9,
        }
    if not args.json:
        print(table([
            ("kpd", f"{daemon.address} ({'shared memory' if result['shared_memory'] else 'gRPC'})"),
            ("small eval", f"p50 {result['small_eval_us']['p50']:.0f} us, "
                           f"p99 {result['small_eval_us']['p99']:.0f} us ({args.evals} evals)"),
            (f"{args.megabytes} MiB up + down", f"{result['round_trip_gb_per_s']:.2f} GB/s"),
        ]))
    return result


class UsageError(Exception):
    """Wrong usage or an unreadable input: exit status 2."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kpctl", description="Look at and use a kpd.",
                                  epilog="Exit status: 0 done, 1 kpd refused or could not be "
                                         "reached, 2 wrong usage.")
    top.add_argument("--address", help="kpd's address (default: $KP_ADDRESS, else the local "
                                       "socket)")
    top.add_argument("--json", action="store_true", help="print the result as JSON")
    top.add_argument("--token", help="bearer token (default: $KP_TOKEN / $KP_TOKEN_FILE)")
    top.add_argument("--tls-ca", help="CA of kpd's certificate (default: $KP_TLS_CA)")
    top.add_argument("--tls-cert", help="client certificate (default: $KP_TLS_CERT)")
    top.add_argument("--tls-key", help="its key (default: $KP_TLS_KEY)")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("status", help="version, uptime, sessions, device memory in use")
    commands.add_parser("devices", help="the daemon's Vulkan devices")
    commands.add_parser("sessions", help="the open sessions (root and kpd's own user only)")
    compile_parser = commands.add_parser("compile", help="GLSL to SPIR-V with kpd's compiler")
    compile_parser.add_argument("shader", help="GLSL compute shader source file")
    compile_parser.add_argument("-o", "--output", help="SPIR-V file (default: SHADER.spv)")
    bench_parser = commands.add_parser("bench", help="latency and bandwidth of this kpd")
    bench_parser.add_argument("--evals", type=int, default=1000, help="small evaluations")
    bench_parser.add_argument("--megabytes", type=int, default=64, help="round-trip size")
    bench_parser.add_argument("--rounds", type=int, default=10, help="round trips")
    return top


COMMANDS: Dict[str, Callable[[Daemon, argparse.Namespace], Any]] = {
    "status": status, "devices": devices, "sessions": sessions, "compile": compile_shader,
    "bench": bench}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)  # exits with 2 on wrong usage
    try:
        daemon = Daemon(args)
        result = COMMANDS[args.command](daemon, args)
    except UsageError as error:
        print(f"kpctl: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KpError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        print(f"kpctl: {' '.join(lines)}", file=sys.stderr)  # one line
        return EXIT_KPD
    if args.json:
        print(json.dumps(result, indent=2))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
