"""Draws the rows of one bench/run (RESULTS.jsonl) as a PNG of three panels: small-eval latency
per path, round-trip bandwidth per size and path, and evals/s against the number of clients.
Rows a run lacks (no in-process Kompute, no concurrency) are left out of their panel.
Usage: figure.py RESULTS.jsonl OUT.png"""
from __future__ import annotations

import sys
from collections import defaultdict
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator  # noqa: E402

from report import KOMPUTE, fmt_bytes, load  # noqa: E402

# The two in-process references, in the same colour in every panel.
ENGINE_COLOUR = "#222222"
KOMPUTE_COLOUR = "#e07b00"
DAEMON_COLOUR = "#4c78a8"
IN_PROCESS = {"engine": "engine (in-process)", KOMPUTE: "Kompute v0.9 (in-process)"}
# Round-trip paths in the order of report.py's table, each with its line style.
BANDWIDTH_STYLES: Dict[str, dict] = {
    "memcpy": dict(color="#999999", linestyle=":", marker="."),
    "engine": dict(color=ENGINE_COLOUR, linewidth=2.5, marker="o"),
    KOMPUTE: dict(color=KOMPUTE_COLOUR, linewidth=2.5, marker="s"),
    "python-shm": dict(color="#4c78a8", marker="o"),
    "python-unix-stream": dict(color="#72b7b2", marker="^"),
    "python-tcp-stream": dict(color="#54a24b", marker="v"),
    "cpp-unix-stream": dict(color="#b279a2", marker="^"),
    "cpp-tcp-stream": dict(color="#9d755d", marker="v"),
    "tcp-loopback": dict(color="#999999", linestyle="--", marker="x"),
}


def _empty(ax: Axes, what: str) -> None:
    """Marks a panel whose rows this run does not have."""
    ax.text(0.5, 0.5, f"no {what} rows in this run", ha="center", va="center",
            transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


def small_eval_panel(ax: Axes, rows: List[dict]) -> None:
    """Horizontal bars of the p50 of [sync, multiply, sync] per path, fastest on top."""
    ax.set_title("Small eval latency (3 floats), p50")
    small = sorted((r for r in rows if r["bench"] == "small_eval"
                    and r.get("sequence") == "sync_mult_sync"), key=lambda r: r["p50_us"])
    if not small:
        _empty(ax, "small-eval")
        return
    colours = {"engine": ENGINE_COLOUR, KOMPUTE: KOMPUTE_COLOUR}
    labels = IN_PROCESS
    y = range(len(small))
    bars = ax.barh(y, [r["p50_us"] for r in small],
                   color=[colours.get(r["path"], DAEMON_COLOUR) for r in small])
    ax.set_yticks(list(y), [labels.get(r["path"], r["path"]) for r in small])
    ax.invert_yaxis()
    ax.bar_label(bars, fmt="%.0f µs", padding=3, fontsize=8)
    ax.set_xlabel("µs per evaluation (p50)")
    ax.set_xlim(0, max(r["p50_us"] for r in small) * 1.2)
    for tick in ax.get_yticklabels():
        if tick.get_text() in labels.values():
            tick.set_fontweight("bold")


def bandwidth_panel(ax: Axes, rows: List[dict]) -> None:
    """GB/s of tensor per sync round trip against its size, one line per path, log-log."""
    ax.set_title("Round trip host → device → host, p50")
    gbs: Dict[str, Dict[int, float]] = defaultdict(dict)
    for r in rows:
        if r["bench"] == "bandwidth":
            gbs[r["path"]][r["bytes"]] = r["bytes"] / (r["p50_us"] * 1e-6) / 1e9
    if not gbs:
        _empty(ax, "round-trip")
        return
    paths = [p for p in BANDWIDTH_STYLES if p in gbs] + sorted(set(gbs) - set(BANDWIDTH_STYLES))
    for path in paths:
        sizes = sorted(gbs[path])
        ax.plot(sizes, [gbs[path][s] for s in sizes], label=IN_PROCESS.get(path, path),
                **BANDWIDTH_STYLES.get(path, dict(marker=".")))
    sizes = sorted({s for v in gbs.values() for s in v})
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(sizes, [fmt_bytes(s) for s in sizes], rotation=30, ha="right")
    ax.set_xlabel("tensor size")
    ax.set_ylabel("GB/s of tensor per round trip")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", framealpha=0.85)


def concurrency_panel(ax: Axes, rows: List[dict]) -> None:
    """Evals/s of N client processes at once (log-log, each point labelled with its multiple of
    one client's rate), with one client's rate × N for reference."""
    ax.set_title("Small evals from N clients at once (shared memory)")
    conc = sorted((r for r in rows if r["bench"] == "concurrency"), key=lambda r: r["clients"])
    if not conc:
        _empty(ax, "concurrency")
        return
    clients = [r["clients"] for r in conc]
    rates = [r["evals_per_s"] for r in conc]
    ax.plot(clients, rates, marker="o", color=DAEMON_COLOUR, label="all clients together")
    one = next((r["evals_per_s"] for r in conc if r["clients"] == 1), None)
    if one:
        ax.plot(clients, [one * n for n in clients], linestyle="--", color="#999999",
                label="one client × N")
        for n, rate in zip(clients, rates):
            ax.annotate(f"×{rate / one:.1f}", (n, rate), textcoords="offset points",
                        xytext=(0, -14), ha="center", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    ax.margins(x=0.08, y=0.12)
    ax.xaxis.set_major_locator(FixedLocator(clients))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(clients, [str(n) for n in clients])
    ax.set_xlabel("client processes")
    ax.set_ylabel("evaluations / s, all clients")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def draw(results: str, png: str) -> None:
    """Writes the figure of the rows in `results` (JSON lines of bench/run) to `png`."""
    rows = load(results)
    meta = next((r for r in rows if r["bench"] == "meta"), {})
    fig, axes = plt.subplots(1, 3, figsize=(19, 6.2),
                             gridspec_kw={"width_ratios": [1, 1.15, 0.9]})
    small_eval_panel(axes[0], rows)
    bandwidth_panel(axes[1], rows)
    concurrency_panel(axes[2], rows)
    fig.suptitle(f"{meta.get('label', '?')}: {meta.get('device', '?')}\n"
                 f"{meta.get('machine', '?')}; commit {meta.get('commit', '?')}, "
                 f"{meta.get('date', '?')}", fontsize=11)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    draw(sys.argv[1], sys.argv[2])
