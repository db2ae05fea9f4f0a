"""How long a thread blocked on a pipe takes to wake, calm and while a busy loop spins on every
core: is a thread hop on the alert's path expensive under a CPU hog? (BENCHMARKS.md, issue 28)

Run: python bench/bench_wake.py [--hog] [-n 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

from common import machine_line


def wake_ms(n: int) -> list[float]:
    """A write every 2 ms; the reader thread's delay from the write to its read returning."""
    r, w = os.pipe()
    lat: list[float] = []

    def reader() -> None:
        for _ in range(n):
            sent = int.from_bytes(os.read(r, 8), "little")
            lat.append((time.perf_counter_ns() - sent) / 1e6)

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(n):
        time.sleep(0.002)
        os.write(w, time.perf_counter_ns().to_bytes(8, "little"))
    t.join()
    os.close(r)
    os.close(w)
    return sorted(lat)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hog", action="store_true")
    ap.add_argument("-n", type=int, default=2000)
    args = ap.parse_args()
    print(machine_line())
    print(f"command: python bench/bench_wake.py -n {args.n}" + (" --hog" if args.hog else ""))
    hogs = (
        [
            subprocess.Popen([sys.executable, "-c", "while 1: pass"])
            for _ in range(os.cpu_count() or 1)
        ]
        if args.hog
        else []
    )
    try:
        time.sleep(0.5)
        xs = wake_ms(args.n)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    n = len(xs)
    print(
        f"- wake: median {statistics.median(xs):.3f} ms, p99 {xs[n * 99 // 100]:.3f} ms, "
        f"max {xs[-1]:.2f} ms (n={n})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
