"""`python bench/path_probe.py TRACE`: `telebot run`, with a stopwatch on each stage of the death →
alert path (for bench_path.py). Every mark is (stage, pid, time.time()) kept in memory and
written to TRACE when telebot stops; nothing is written on the path itself."""

from __future__ import annotations

import atexit
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telebot.alerts.alerter import Alerter, EndWriter
from telebot.alerts.sending import Send
from telebot.alerts.tracker import Tracker
from telebot.alerts.twice import TwiceWarnings
from telebot.bot import alert_out, runtime
from telebot.bot.alert_out import BotOut
from telebot.bot.runtime import Runtime
from telebot.processes.watcher import ProcessWatcher

MARKS: list[tuple[str, int, float]] = []


def mark(stage: str, pid: int) -> None:
    MARKS.append((stage, pid, time.time()))


def around(cls: Any, name: str, stage: str, pid_of: Callable[..., int]) -> None:
    """Marks `stage:in` and `stage:out` around `cls.name` (a coroutine function or not)."""
    original = getattr(cls, name)
    if hasattr(original, "__code__") and original.__code__.co_flags & 0x80:  # async

        @functools.wraps(original)
        async def awrapped(*args: Any, **kw: Any) -> Any:
            pid = pid_of(*args, **kw)
            mark(f"{stage}:in", pid)
            try:
                return await original(*args, **kw)
            finally:
                mark(f"{stage}:out", pid)

        setattr(cls, name, awrapped)
    else:

        @functools.wraps(original)
        def wrapped(*args: Any, **kw: Any) -> Any:
            pid = pid_of(*args, **kw)
            mark(f"{stage}:in", pid)
            try:
                return original(*args, **kw)
            finally:
                mark(f"{stage}:out", pid)

        setattr(cls, name, wrapped)


def _send_pid(self: BotOut, message: Send) -> int:
    import re

    found = re.search(r"<code>(\d+)</code>", message.text)
    return int(found.group(1)) if found else 0


def install() -> None:
    around(ProcessWatcher, "_fired", "wake", lambda self, pid: pid)
    around(alert_out, "on_process_exited", "handler", lambda a, update: update.pid)
    around(Runtime, "ended_entry", "ended_entry", lambda self, pid, started, at: pid)
    around(EndWriter, "write", "write_end", lambda self, event, *a: event.pid)
    around(Alerter, "_end", "end", lambda self, event, *a, **k: event.pid)
    around(BotOut, "send", "send", _send_pid)
    # a scan's steps (pid SCAN: every occurrence kept), to tell whether a slow death met one
    around(Runtime, "refresh", "scan", lambda self: SCAN)
    around(Runtime, "_read", "scan:read", lambda self, store, gone: SCAN)
    for name in ("annotate", "annotate_part"):  # one step before the parts, or each part
        if hasattr(runtime, name):
            around(runtime, name, "scan:annotate", lambda tasks, state: SCAN)
    around(Alerter, "observe", "scan:observe", lambda self, tasks, now=None: SCAN)
    around(Tracker, "_write", "scan:track", lambda self, tasks, now, *scan: SCAN)
    around(TwiceWarnings, "observe", "scan:twice", lambda self, tasks: SCAN)
    around(Alerter, "start", "start", _lag_monitor)


SCAN = -1  # the pid of a scan's marks
LAG = 0.002  # the loop-lag monitor's sleep; a wake-up this much later is a mark


def _lag_monitor(self: Alerter) -> int:
    """Marks each time the event loop woke a 2 ms sleep more than 3 ms late (`lag` marks
    with the lateness as pid, in µs): when the loop itself was held."""
    import asyncio

    async def watch() -> None:
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(LAG)
            late = time.monotonic() - t0 - LAG
            if late > 0.003:
                mark("lag", int(late * 1e6))

    task = asyncio.get_running_loop().create_task(watch())
    KEEP.append(task)
    return 0


KEEP: list[object] = []


def main() -> int:
    trace = sys.argv[1]
    install()
    atexit.register(lambda: Path(trace).write_text(json.dumps(MARKS)))
    from telebot.cli import main as cli

    return cli(["run"])


if __name__ == "__main__":
    raise SystemExit(main())
