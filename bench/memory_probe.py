"""`python bench/memory_probe.py DIR`: `telebot run` that, on each SIGUSR1, writes what holds
its memory into DIR (for bench_menu_flood.py's long session): `snap-<n>.tracemalloc` (Python's
allocations by where they were made, 12 frames deep) and `snap-<n>.json` (the live objects
counted by type, gc's view, and RSS at that moment). Comparing two of them says what grew.

tracemalloc costs memory and time of its own: RSS is measured in a run without this probe."""

from __future__ import annotations

import collections
import gc
import json
import runpy
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

FRAMES = 12


def snapshot(out: Path, n: int) -> None:
    gc.collect()
    tracemalloc.take_snapshot().dump(str(out / f"snap-{n}.tracemalloc"))
    types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * 4096
    (out / f"snap-{n}.json").write_text(
        json.dumps({"rss": rss, "traced": tracemalloc.get_traced_memory()[0], "types": types})
    )


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    taken = iter(range(10**6))

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        snapshot(out, next(taken))

    tracemalloc.start(FRAMES)
    signal.signal(signal.SIGUSR1, on_signal)
    sys.argv = ["telebot", "run"]
    runpy.run_module("telebot", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
