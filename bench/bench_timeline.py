"""/timeline's picture: render time and size at 20 and 200 tasks over 24 h and 168 h, and how
long the event loop is blocked while one is drawn.

Run: python bench/bench_timeline.py [--samples 9]

The tasks are rows in a real telebot database (`StateDB`, written as the tracker writes them:
started at random moments of the window, a third still running, the others ended in each of
the ways an alert names, every seventh a 🔁 Run again of an earlier one), read by
`timeline_commands.gather` and drawn by `views.timeline.png`, as /timeline does it. The first
picture of the process is timed on its own (it imports matplotlib). While pictures are drawn
through `timeline_commands.picture` (rows on the state's thread, drawing in a worker thread), a
monitor task on the event loop records how late a 2 ms sleep wakes: the longest block.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench_scale import LoopMonitor
from common import machine_line, summary

from telebot.bot.timeline_commands import gather, picture
from telebot.state import StateDB, Tracked
from telebot.views import timeline

ENDS = ("finished", "failed", "killed", "died", "stopped")


def fill(state: StateDB, n: int, hours: float, now: float, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(n):
        pid, ticks = 10_000 + i, 50_000 + i
        start = now - rng.uniform(0, hours * 3600)
        row = Tracked(
            pid,
            ticks,
            start,
            f"p{i % 4}@example.org",
            f"player{i % 4}",
            "59",
            "en",
            rng.choice(("autoPirate", "webServer", "constructionList", "donationBot")),
            "s",
            None,
            None,
            [],
            start + 5,
            now - 20,
            start,
            None,
            None,
            None,
        )
        if i % 3 == 0 and rng.random() < 0.3:
            row.stalled_at = now - 600
        state.tracking.track(row)
        if i % 3:
            state.tracking.end(
                pid, ticks, rng.choice(ENDS), min(now - 1, start + rng.uniform(60, 8 * 3600))
            )
        if i % 7 == 0 and i:
            state.recordings.add(
                {
                    "pid": pid,
                    "start_ticks": ticks,
                    "action": row.action,
                    "email": None,
                    "username": row.username,
                    "world": "59",
                    "server": "en",
                    "steps": "[]",
                    "recorded_at": start,
                    "again_of_pid": pid - 1,
                    "again_of_ticks": ticks - 1,
                }
            )


async def blocked(state: StateDB, hours: float, rounds: int) -> tuple[float, float]:
    """(worst block while drawing, worst block over as long a time of doing nothing): the
    second is the machine's own noise, for comparison."""
    monitor = LoopMonitor()
    monitor.start()
    await asyncio.sleep(0.05)
    monitor.take()
    t = time.perf_counter()
    for _ in range(rounds):
        await picture(state, hours)
    drawing = monitor.take()
    await asyncio.sleep(time.perf_counter() - t)
    return drawing, monitor.take()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()
    print(f"- {machine_line()}")
    print(f"- command: python bench/bench_timeline.py --samples {args.samples}")
    now = time.time()
    results: dict[tuple[int, float], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        first = True
        for n in (20, 200):
            for hours in (24.0, 168.0):
                state = StateDB(Path(tmp) / f"s{n}-{hours:g}")
                fill(state, n, hours, now)
                if first:
                    t = time.perf_counter()
                    timeline.png(gather(state, now, hours), now, hours)
                    print(
                        f"- first picture of the process (imports matplotlib): "
                        f"{(time.perf_counter() - t) * 1000:.0f} ms"
                    )
                    first = False
                times, size = [], 0
                for _ in range(args.samples):
                    t = time.perf_counter()
                    pic = timeline.png(gather(state, now, hours), now, hours)
                    times.append((time.perf_counter() - t) * 1000)
                    size = len(pic.png)
                results[(n, hours)] = statistics.median(times)
                print(
                    f"- {n} tasks over {hours:g} h ({pic.drawn} rows drawn, +{pic.more} "
                    f"more): {summary(times)}; {size / 1024:.0f} KB PNG"
                )
                worst, idle = asyncio.run(blocked(state, hours, 3))
                print(
                    f"  - event loop's worst block while 3 pictures were drawn: "
                    f"{worst:.1f} ms (idle for as long: {idle:.1f} ms)"
                )
                state.close()
    for hours in (24.0, 168.0):
        print(
            f"- ratio of medians, 200 / 20 tasks over {hours:g} h: "
            f"{results[(200, hours)] / results[(20, hours)]:.2f}×"
        )
    print(
        f"- ratio of medians, 168 h / 24 h at 200 tasks: "
        f"{results[(200, 168.0)] / results[(200, 24.0)]:.2f}×"
    )


if __name__ == "__main__":
    main()
