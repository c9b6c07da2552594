"""The measurements of python_bench.py against in-process Kompute v0.9: rows with path
"kompute-inprocess", one JSON object per line, the anchor every kp path is compared with.

    kompute_bench.py small              small eval latency ([sync, dispatch, sync], dispatch)
    kompute_bench.py create             creating a 3-float tensor, an algorithm
    kompute_bench.py bandwidth BYTES... host -> device -> host round trip

Runs with the Python of build/kompute-venv (bench/kompute_anchor builds Kompute 0.9.0 there
from its source on the Python package index): there `import kp` is Kompute itself, the
module whose API the kp client mirrors, so python_bench.py's code runs against it unchanged.
Results are checked as in python_bench.py (BENCH_ITERATIONS and BENCH_SMOKE_CORRUPT too).
"""
from __future__ import annotations

import os
import sys
from typing import List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kp  # noqa: E402  (Kompute: build/kompute-venv has no other kp)

NAME = "kompute-inprocess"


def main(argv: List[str]) -> None:
    if getattr(kp, "__version__", None) != "0.9.0" or not kp.__file__.endswith(".so"):
        raise SystemExit(f"kompute_bench: the kp module here ({kp.__file__}) is not Kompute "
                         "0.9.0: run it with build/kompute-venv/bin/python (bench/kompute_anchor)")
    import python_bench as pb  # after the check: it imports kp too

    what = argv[1] if len(argv) > 1 else ""
    if what not in ("small", "create", "bandwidth"):
        raise SystemExit(__doc__)
    mgr = kp.Manager()
    try:
        if what == "small":
            pb.measure_small(mgr, NAME)
        elif what == "create":
            pb.measure_create(mgr, NAME)
        else:
            pb.measure_bandwidth(mgr, NAME, [int(v) for v in argv[2:]])
    finally:
        mgr.destroy()


if __name__ == "__main__":
    main(sys.argv)
