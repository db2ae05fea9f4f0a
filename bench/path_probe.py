"""`python bench/path_probe.py TRACE`: `telebot run`, with a stopwatch on each stage of the death →
alert path (for bench_alerts.py --profile). Every mark is (stage, pid, time.time(), then the CPU
so far in ns of the event loop's thread, of the state's writer thread, and of the whole process)
kept in memory and written to TRACE when telebot stops; nothing is written on the path itself.
The CPU is each thread's own clock (`pthread_getcpuclockid`, the kernel's per-thread time), read
from whichever thread marks: a stage's CPU is what each thread spent between its two marks.

With PATH_PROBE_CPROFILE=PREFIX in the environment, cProfile runs on the event loop's thread
from each pidfd wake until the alert's HTTP request returns, and on the writer thread during
each end's step; their stats go to PREFIX.loop and PREFIX.writer (for attribution only: cProfile
inflates every call)."""

from __future__ import annotations

import atexit
import cProfile
import functools
import json
import os
import sys
import threading
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

# (stage, pid, wall, CPU ns of the loop's thread, of the writer's (-1 before it exists), of all)
MARKS: list[tuple[str, int, float, int, int, int]] = []
CLOCKS: dict[str, int] = {}  # "loop", "writer" → the thread's CPU clock
WRITER = "telebot-state"  # the state's writer thread's name (`Database`'s executor)
CURRENT = [0]  # the pid of the death on its way (the deliverer's marks carry it)


def _clock(role: str) -> int:
    clock = CLOCKS.get(role)
    if clock is None and role == "writer":
        for t in threading.enumerate():
            if t.name.startswith(WRITER) and t.ident is not None:
                clock = CLOCKS["writer"] = time.pthread_getcpuclockid(t.ident)
    return -1 if clock is None else time.clock_gettime_ns(clock)


def mark(stage: str, pid: int) -> None:
    MARKS.append(
        (stage, pid, time.time(), _clock("loop"), _clock("writer"), time.process_time_ns())
    )
    PROFILE.at(stage)


class Profiles:
    """cProfile on the loop's thread from a wake until the request returns, and on the writer
    thread during an end's step (PATH_PROBE_CPROFILE)."""

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix
        # CPU, not wall: a commit's fsync wait is not work
        self.loop = cProfile.Profile(time.thread_time_ns, 1e-9)
        self.writer = cProfile.Profile(time.thread_time_ns, 1e-9)
        self.on = False

    def at(self, stage: str) -> None:
        if self.prefix is None:
            return
        if stage == "wake:in" and not self.on:
            self.on = True
            self.loop.enable()
        elif stage == "request:out" and self.on:
            self.loop.disable()
            self.on = False
        elif stage == "write_end:in":
            self.writer.enable()
        elif stage == "write_end:out":
            self.writer.disable()

    def dump(self) -> None:
        if self.prefix is not None:
            self.loop.dump_stats(f"{self.prefix}.loop")
            self.writer.dump_stats(f"{self.prefix}.writer")


PROFILE = Profiles(os.environ.get("PATH_PROBE_CPROFILE"))


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


def _woken(self: ProcessWatcher, pid: int) -> int:
    CURRENT[0] = pid
    return pid


def _current(*args: Any, **kw: Any) -> int:
    return CURRENT[0]


def install() -> None:
    from telegram.ext import AIORateLimiter, Application

    from telebot.alerts.delivery import Deliverer
    from telebot.bot.hostlabel import LabelledBot

    CLOCKS["loop"] = time.pthread_getcpuclockid(threading.main_thread().ident or 0)
    around(ProcessWatcher, "_fired", "wake", _woken)
    around(Application, "process_update", "ptb", lambda self, u: getattr(u, "pid", 0))
    around(alert_out, "on_process_exited", "handler", lambda a, update: update.pid)
    around(Runtime, "ended_entry", "ended_entry", lambda self, pid, started, at: pid)
    around(EndWriter, "write", "write_end", lambda self, event, *a: event.pid)
    around(Alerter, "_end", "end", lambda self, event, *a, **k: event.pid)
    around(BotOut, "send", "send", _send_pid)
    # after the writer step, on the loop: the deliverer woken, its round, PTB, the request
    around(Deliverer, "wake", "handed", _current)
    around(Deliverer, "_round", "round", _current)
    around(LabelledBot, "send_message", "bot", _current)
    around(AIORateLimiter, "process_request", "limiter", _current)
    _around_request(_current)
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


def _around_request(pid: Any) -> None:
    """The request's marks, whichever client telebot's bot has (this tree's or an older's)."""
    try:
        from telebot.bot.lean_request import LeanRequest
        from telebot.bot.wire import Connection
    except ImportError:  # before telebot's own client: python-telegram-bot's over httpx
        from httpcore._backends.anyio import AnyIOStream
        from telegram.request import HTTPXRequest

        around(HTTPXRequest, "do_request", "request", pid)
        around(AnyIOStream, "write", "wire", pid)  # the request's bytes to the socket
        return
    around(LeanRequest, "do_request", "request", pid)
    around(Connection, "write", "wire", pid)


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
    atexit.register(PROFILE.dump)
    from telebot.cli import main as cli

    return cli(["run"])


if __name__ == "__main__":
    raise SystemExit(main())
