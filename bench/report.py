"""Turns the JSON lines of bench/run into Markdown tables, with the targets of the data-plane
and performance issues checked; where the run has in-process Kompute rows
(`kompute-inprocess`, bench/kompute_bench.py), a Kompute column and the ratio "kp / Kompute".
Usage: report.py RESULTS.jsonl > section.md"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Dict, List, Optional


def load(path: str) -> List[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


KOMPUTE = "kompute-inprocess"


def fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


def main(path: str) -> None:
    rows = load(path)
    meta = next((r for r in rows if r["bench"] == "meta"), {})
    by = defaultdict(list)
    for r in rows:
        by[r["bench"]].append(r)
    out: List[str] = []
    p = out.append
    p(f"## {meta.get('label', '?')}: {meta.get('device', '?')}")
    p("")
    load_avg = f"Load average at the start (1, 5, 15 min): {meta['load']}. " if "load" in meta else ""
    p(f"Machine: {meta.get('machine', '?')}. Device: {meta.get('device', '?')}. "
      f"Commit: {meta.get('commit', '?')}. Date: {meta.get('date', '?')}. {load_avg}"
      "All rows of this section come from one `bench/run` on that machine.")
    p("")
    checks: List[str] = []

    small = {(r["path"], r["sequence"]): r for r in by["small_eval"]}
    if small:
        p("### Small eval latency (3-element tensors)")
        p("")
        has_kompute = any(path_ == KOMPUTE for path_, _ in small)
        p("| path | sequence | p50 µs | p99 µs | p50 over engine |"
          + (" kp / Kompute |" if has_kompute else ""))
        p("|---|---|---:|---:|---:|" + ("---:|" if has_kompute else ""))
        for (path_, seq), r in sorted(small.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            floor = small.get(("engine", seq))
            over = f"{r['p50_us'] - floor['p50_us']:+.1f}" if floor and path_ != "engine" else ""
            line = f"| {path_} | {seq} | {r['p50_us']:.1f} | {r['p99_us']:.1f} | {over} |"
            if has_kompute:
                anchor = small.get((KOMPUTE, seq))
                ratio = (f"{r['p50_us'] / anchor['p50_us']:.2f}"
                         if anchor and path_.startswith("python-") else "")
                line += f" {ratio} |"
            p(line)
        p("")
        if has_kompute:
            p(f"`{KOMPUTE}` is Kompute v0.9 itself (its Python module, built from its source by "
              "`bench/kompute_anchor`) running the same sequences in the benchmark's process; "
              "\"kp / Kompute\" is the p50 of a Python-client row over it (C++ rows have no "
              "in-process Kompute C++ row to compare with here).")
            p("")
        engine = small.get(("engine", "sync_mult_sync"))
        shm = small.get(("python-shm", "sync_mult_sync"))
        ping = small.get(("unix-pingpong", "none"))
        if ping:
            p(f"`unix-pingpong` is no evaluation: 4 bytes to another process and back over a "
              f"Unix socket, the floor of any call to a daemon on this machine "
              f"({ping['p50_us']:.1f} µs).")
            p("")
        ping_note = f" (Unix-socket ping-pong: {ping['p50_us']:.1f} µs)" if ping else ""
        if engine and shm:
            gap = shm["p50_us"] - engine["p50_us"]
            checks.append(f"| Python small eval p50 ≤ engine + 100 µs | +{gap:.1f} µs{ping_note} | "
                          f"{'met' if gap <= 100 else 'NOT met'} |")
        for path_ in ("python-socket", "python-tcp"):
            row, unary = small.get((path_, "sync_mult_sync")), small.get((path_, "unary-rpc"))
            if row and unary:
                ratio = row["p50_us"] / unary["p50_us"]
                checks.append(f"| Python small eval p50 ≤ 1.3 × a bare unary RPC ({path_}) | "
                              f"{ratio:.2f} × ({row['p50_us']:.1f} vs {unary['p50_us']:.1f} µs) | "
                              f"{'met' if ratio <= 1.3 else 'NOT met'} |")
        kompute = small.get((KOMPUTE, "sync_mult_sync"))
        for path_ in ("python-shm", "python-socket", "python-tcp"):
            row = small.get((path_, "sync_mult_sync"))
            if kompute and row:
                ratio = row["p50_us"] / kompute["p50_us"]
                checks.append(f"| Python small eval p50 ≤ 1.3 × in-process Kompute ({path_}) | "
                              f"{ratio:.2f} × ({row['p50_us']:.1f} vs {kompute['p50_us']:.1f} µs) | "
                              f"{'met' if ratio <= 1.3 else 'NOT met'} |")
        cpp = small.get(("cpp-shm", "sync_mult_sync")) or small.get(("cpp", "sync_mult_sync"))
        if engine and cpp:
            gap = cpp["p50_us"] - engine["p50_us"]
            checks.append(f"| C++ client small eval p50 ≤ engine + 40 µs | +{gap:.1f} µs{ping_note} | "
                          f"{'met' if gap <= 40 else 'NOT met'} |")

    create = {(r["path"], r["what"]): r for r in by["create"]}
    if create:
        paths = [x for x in (KOMPUTE, "python-shm", "python-socket", "python-tcp")
                 if any(path_ == x for path_, _ in create)]
        has_kompute = KOMPUTE in paths
        p("### Creation (Python), p50 µs")
        p("")
        p("A 3-float tensor; an algorithm (the multiply shader as SPIR-V) on three tensors. "
          "Each is destroyed outside the timed part. kp pipelines creation (kp._pipeline): the "
          "object is named by a handle the client chose and its creation travels with the next "
          "call, so the rows \"tensor\" and \"algorithm\" are the client's part only; the "
          "rows \"+ first use\" add that next call, which carries the creation, and show the "
          "whole cost: 100 tensors then one evaluation that uploads them all (per tensor), and "
          "an algorithm then one evaluation that dispatches it.")
        p("")
        p("| object | " + " | ".join(paths) + " |"
          + (" kp / Kompute (python-shm) |" if has_kompute else ""))
        p("|---|" + "---:|" * (len(paths) + has_kompute))
        for what in ("tensor", "algorithm", "tensor + first use", "algorithm + first use"):
            if not any((x, what) in create for x in paths):
                continue
            cells = [f"{create[(x, what)]['p50_us']:.1f}" if (x, what) in create else ""
                     for x in paths]
            line = f"| {what} | " + " | ".join(cells) + " |"
            anchor, shm = create.get((KOMPUTE, what)), create.get(("python-shm", what))
            if has_kompute:
                line += f" {shm['p50_us'] / anchor['p50_us']:.1f} |" if anchor and shm else " |"
                if anchor and shm:
                    ratio = shm["p50_us"] / anchor["p50_us"]
                    limit = 3.0 if what.startswith("tensor") else 1.5
                    thing = what.replace("tensor", "a tensor").replace("algorithm", "an algorithm")
                    checks.append(f"| Python: create {thing}"
                                  f" ≤ {limit:g} × in-process Kompute | {ratio:.1f} × "
                                  f"({shm['p50_us']:.1f} vs {anchor['p50_us']:.1f} µs) | "
                                  f"{'met' if ratio <= limit else 'NOT met'} |")
            p(line)
        p("")

    bw: Dict[str, Dict[int, float]] = defaultdict(dict)
    for r in by["bandwidth"]:
        bw[r["path"]][r["bytes"]] = r["bytes"] / (r["p50_us"] * 1e-6) / 1e9  # GB/s per round trip
    if bw:
        paths = [x for x in ("memcpy", "engine", KOMPUTE, "python-shm", "python-unix-stream",
                             "python-tcp-stream", "cpp-unix-stream", "cpp-tcp-stream",
                             "tcp-loopback") if x in bw]
        has_kompute = KOMPUTE in bw and "python-shm" in bw
        sizes = sorted({s for v in bw.values() for s in v})
        p("### Sync round trip (host → device → host), GB/s of tensor per round trip, p50")
        p("")
        p("| size | " + " | ".join(paths) + " |"
          + (" kp / Kompute (python-shm, time) |" if has_kompute else ""))
        p("|---|" + "---:|" * (len(paths) + has_kompute))
        for s in sizes:
            line = f"| {fmt_bytes(s)} | " + " | ".join(
                f"{bw[x][s]:.2f}" if s in bw[x] else "" for x in paths) + " |"
            if has_kompute:
                k, shm = bw[KOMPUTE].get(s), bw["python-shm"].get(s)
                line += f" {k / shm:.2f} |" if k and shm else " |"
            p(line)
        p("")
        m64 = 64 << 20
        if m64 in bw.get("engine", {}) and m64 in bw.get("python-shm", {}):
            ratio = bw["python-shm"][m64] / bw["engine"][m64]
            checks.append(f"| 64 MiB shared-memory round trip ≥ 0.8 × engine | {ratio:.2f} × | "
                          f"{'met' if ratio >= 0.8 else 'NOT met'} |")
        for client, column in (("Python", "python-tcp-stream"), ("C++", "cpp-tcp-stream")):
            if m64 in bw.get(column, {}):
                gbs = bw[column][m64]
                floor = bw.get("tcp-loopback", {}).get(m64)
                context = f" (raw loopback TCP: {floor:.2f} GB/s)" if floor else ""
                checks.append(f"| 64 MiB TCP stream round trip ≥ 1.5 GB/s ({client} client) | "
                              f"{gbs:.2f} GB/s{context} | {'met' if gbs >= 1.5 else 'NOT met'} |")

    saxpy = defaultdict(dict)
    for r in by["saxpy"]:
        saxpy[r["floats"]][r["path"]] = r["p50_us"]
    if saxpy:
        p("### saxpy (GPU-bound), p50 ms per evaluation")
        p("")
        p("| floats | engine | daemon (Python client) | daemon / engine throughput |")
        p("|---|---:|---:|---:|")
        for n in sorted(saxpy):
            e, d = saxpy[n].get("engine"), saxpy[n].get("python-daemon")
            ratio = e / d if e and d else None
            p(f"| 2^{n.bit_length() - 1} | {e / 1000:.2f} | {d / 1000:.2f} | "
              f"{ratio:.3f} |" if ratio else f"| {n} | | | |")
            if ratio and n == max(saxpy):
                checks.append(f"| saxpy 2^{n.bit_length() - 1} through the daemon ≥ 0.95 × "
                              f"in-process | {ratio:.3f} × | "
                              f"{'met' if ratio >= 0.95 else 'NOT met'} |")
        p("")

    conc = sorted(by["concurrency"], key=lambda r: r["clients"])
    if conc:
        base = conc[0]["evals_per_s"]
        p("### Concurrency: small evals from N client processes at once (shared-memory path)")
        p("")
        p("| clients | evals/s (all) | × one client | p50 µs | p99 µs |")
        p("|---:|---:|---:|---:|---:|")
        for r in conc:
            p(f"| {r['clients']} | {r['evals_per_s']:.0f} | {r['evals_per_s'] / base:.2f} | "
              f"{r['p50_us']:.0f} | {r['p99_us']:.0f} |")
        p("")
        eight = next((r for r in conc if r["clients"] == 8), None)
        if eight:
            ratio = eight["evals_per_s"] / base
            checks.append(f"| 8 clients ≥ 1.5 × one client's evals/s | {ratio:.2f} × | "
                          f"{'met' if ratio >= 1.5 else 'NOT met'} |")

    memory = by["memory"]
    if memory:
        p("### Daemon memory (RSS)")
        p("")
        for r in memory:
            if r["path"] == "after":
                p(f"- idle {r['idle_kib'] / 1024:.0f} MiB; after all sessions ended "
                  f"{r['after_kib'] / 1024:.0f} MiB ({r['ratio']:.2f} × idle)")
                checks.append(f"| RSS after all sessions end within 10% of idle | "
                              f"{r['ratio']:.2f} × | {'met' if r['ratio'] <= 1.1 else 'NOT met'} |")
            else:
                p(f"- {r['path']}: {r['tensors']} live 64 MiB tensors: "
                  f"{r['per_tensor_kib'] / 1024:.0f} MiB of daemon RSS per tensor")
        p("")

    if checks:
        p("### Targets")
        p("")
        p("| target | measured | |")
        p("|---|---|---|")
        out.extend(checks)
        p("")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
