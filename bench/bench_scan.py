"""A scan at 10,000 tracked entries: its steps, and how long a death would wait behind it.

Run: python bench/bench_scan.py [--entries 10000] [--rounds 20] [--live 100]

In this process: telebot's own `Runtime` and `Alerter` (no Telegram: a death's alert is not the
point here) over ikabot's data as months of ikabot leave it (`--entries` long-gone entries and
`--live` live task processes (100; bench_alerts starts 270) over 10 accounts, bench_scale's
data), telebot's state in SQLite as the
bot keeps it. Each round is one `Runtime.refresh`, the scan every TELEBOT_SCAN_SECONDS, with
ikabot's files unchanged since the last (the usual case: most scans find nothing new); every
fifth round one users file is rewritten first (a status changed), as ikabot does.

While a scan runs, three probes ask, every millisecond, for what a death's path needs: a step on
the state's writer thread (`StateDB.run`, where the end's `EndWriter.write` queues), the
runtime's read lock (`Runtime._read_lock`, which `ended_entry`'s read after the end takes), and
the event loop (a 1 ms sleep). Each probe's worst wait in a round is how long a death that met
that scan would have waited there; the steps' own durations say which step it waited for.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_scale import make_data
from common import live_processes, machine_line, summary

from telebot.alerts import tracker
from telebot.alerts.alerter import Alerter
from telebot.alerts.tracker import Tracker
from telebot.alerts.twice import TwiceWarnings
from telebot.bot import runtime
from telebot.bot.runtime import Runtime
from telebot.config import Settings
from telebot.ikabot.safeio import atomic_write
from telebot.ikabot.store import open_store
from telebot.state import StateDB

STEPS: dict[str, list[float]] = {}


def timed(owner: Any, name: str, label: str) -> None:
    """Times each call of `owner.name` (sync or async) into STEPS[label]."""
    original = getattr(owner, name)
    STEPS[label] = []
    if asyncio.iscoroutinefunction(original):

        @functools.wraps(original)
        async def awrapped(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return await original(*a, **k)
            finally:
                STEPS[label].append((time.perf_counter() - t) * 1000)

        setattr(owner, name, awrapped)
    else:

        @functools.wraps(original)
        def wrapped(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                STEPS[label].append((time.perf_counter() - t) * 1000)

        setattr(owner, name, wrapped)


for owner, name, label in [
    (Runtime, "refresh", "the whole scan (on the loop, awaited)"),
    (Runtime, "_read", "read + build the views (worker thread, read lock held)"),
    (runtime, "annotate", "annotate, one step (writer thread)"),  # before the parts
    (runtime, "annotate_part", "annotate, a part (writer thread)"),
    (tracker, "scan_of", "track, the open keys (writer thread)"),
    (Tracker, "_write", "track, a step (writer thread)"),
    (TwiceWarnings, "observe", "twice (writer thread)"),
]:
    if hasattr(owner, name):  # the same benchmark measures the code before a change too
        timed(owner, name, label)


class Probes:
    """Every millisecond while `on`: a writer step, the read lock, a loop wake-up; the worst
    wait of each (ms) since the last `take`."""

    def __init__(self, rt: Runtime) -> None:
        self.rt, self.on = rt, False
        self.worst = {"writer": 0.0, "read lock": 0.0, "loop": 0.0}
        self._stop = threading.Event()

    def _lock_probe(self) -> None:
        while not self._stop.wait(0.001):
            if self.on:
                t = time.perf_counter()
                with self.rt._read_lock:
                    pass
                self._note("read lock", time.perf_counter() - t)

    def _note(self, what: str, waited: float) -> None:
        self.worst[what] = max(self.worst[what], waited * 1000)

    async def _loop_probes(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            woke = time.perf_counter()
            if self.on:
                self._note("loop", woke - t - 0.001)
                await self.rt.state.run(lambda: None)
                self._note("writer", time.perf_counter() - woke)

    def start(self) -> asyncio.Task[None]:
        threading.Thread(target=self._lock_probe, daemon=True).start()
        return asyncio.get_running_loop().create_task(self._loop_probes())

    def take(self) -> dict[str, float]:
        worst = dict(self.worst)
        self.worst = dict.fromkeys(self.worst, 0.0)
        return worst

    def stop(self) -> None:
        self._stop.set()


def touch_one(data: Path) -> None:
    """A status changed in one users file: ikabot rewrites that file whole."""
    file = sorted((data / "users").glob("*.json"))[0]
    doc = json.loads(file.read_text())
    for worlds in doc["players"].values():
        for servers in worlds.values():
            for d in servers.values():
                d["processList"][0]["status"] += " ·"
    atomic_write(file, json.dumps(doc, indent=2))


async def measure(entries: int, rounds: int, root: Path, live: int = 100) -> dict[str, list[float]]:
    with live_processes(live) as procs:
        data = make_data(root, [p.pid for p in procs], entries)
        settings = Settings(
            ikabot_path=data, token="1:X", chat_id="1", state_dir=root / "state", report_minutes=0
        )
        state = StateDB(settings.state_dir)
        rt = Runtime(settings, open_store(settings), state, "1")
        rt.alerter = Alerter(state, "1")
        tasks = await rt.read()
        await rt.alerter.startup(tasks)  # the first scan: the live tasks tracked
        for steps in STEPS.values():
            steps.clear()
        probes = Probes(rt)
        loop_probes = probes.start()
        waits: dict[str, list[float]] = {k: [] for k in probes.worst}
        for i in range(rounds):
            if i % 5 == 4:
                touch_one(data)
            await asyncio.sleep(0.05)
            probes.take()
            probes.on = True
            await rt.refresh()
            probes.on = False
            await asyncio.sleep(0.01)  # a probe still waiting when the scan ended
            for k, v in probes.take().items():
                waits[k].append(v)
        probes.stop()
        loop_probes.cancel()
        await rt.alerter.stop()
        state.close()
        del procs
    return waits


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--live", type=int, default=100)
    args = ap.parse_args()
    print(machine_line())
    live = f" --live {args.live}" if args.live != 100 else ""
    print(
        f"command: python bench/bench_scan.py --entries {args.entries} --rounds {args.rounds}{live}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        waits = asyncio.run(measure(args.entries, args.rounds, Path(tmp), args.live))
    for label, ms in STEPS.items():
        if ms:
            print(f"- {label}: {summary(ms)}")
    say: dict[str, Callable[[], str]] = {
        "writer": lambda: "a writer step's worst wait (where the end's step queues)",
        "read lock": lambda: "the read lock's worst wait (where ended_entry's read queues)",
        "loop": lambda: "the event loop's worst late wake-up",
    }
    for k, ms in waits.items():
        print(f"- during a scan, {say[k]()}: {summary(ms)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
