"""Keep alive (♻️): a kept task SIGKILLed → its restart alive in ikabot's process list.

Run: python bench/bench_keepalive.py [--kills 20] [--alone 10]

telebot runs in this process against the loopback Bot API, with ikabot 7.7.2's own menu offline
(tests/offline_ikabot.py: only the network stubbed) as IKABOT_COMMAND and the back-off at its
minimum (TELEBOT_KEEPALIVE_BACKOFF_SECONDS=0.1). An autoPirate is configured once through
/menu and kept alive (/keepalive <pid> on); then, `--kills` times: SIGKILL the task that runs,
and time until a new autoPirate pid is in ikabot's process list (read with telebot's store,
every 10 ms, on a thread of its own) and that process is alive and ikabot's
(`liveness.probe`). Between kills the chain's restart times are forgotten (deleted from
telebot's database), so every restart waits the first back-off, as the first restart after a
quiet hour does (else the ×3 back-off would dominate from the third kill on).

The share that is ikabot's own: `--alone` times, the same offline ikabot is started in a
pseudo-terminal (pexpect) and given the recorded answers, each typed the moment its prompt's
text appears, until the task is in the process list. That is what ikabot needs however fast
its answers come; the rest of the death → listed time is telebot's (noticing the death,
the back-off, starting the menu, waiting for each screen to settle before answering).
telebot's log (its own INFO lines, captured here) splits that rest: death → end recorded,
end → replay begins (the back-off), replay → listed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import pexpect
from botharness import OWNER, fast_settings, running_bot
from common import leaves_no_process, machine_line, summary
from ikabotdata import Account, IkabotDir
from menuharness import Player, offline_command

from telebot.demo.fakeapi import FakeBotAPI
from telebot.ikabot.store import Store, open_store
from telebot.menu.recorded import Recording, StepKind, from_row
from telebot.processes import liveness
from telebot.state import StateDB

TOKEN = "123:BENCH"
ME = Account("bench@example.org", "bench", "59", "en", password="bench-pw")
BACKOFF = 0.1  # TELEBOT_KEEPALIVE_BACKOFF_SECONDS' minimum
# set when the run ends, however: a `listed` still looking in its thread stops (asyncio.run
# waits for its threads after a Ctrl-C)
STOP = threading.Event()


class Events(logging.Handler):
    """telebot's own INFO lines, with when they were logged."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.created, record.getMessage()))

    def first(self, pattern: str, after: float) -> float | None:
        return next((t for t, m in self.seen if t >= after and re.search(pattern, m)), None)


def listed(store: Store, seen: set[int], deadline: float) -> tuple[int, float, float] | None:
    """The first autoPirate pid not in `seen` that is in the process list and alive: (pid,
    when it was first seen listed, when its status said it works: ikabot writes the entry
    when the task's process starts, before its questions, and "Pirating for …" once they
    are answered and the work begins)."""
    first: dict[int, float] = {}
    while time.time() < deadline and not STOP.is_set():
        for account in store.read().accounts:
            for e in account.process_list:
                pid = e.get("pid")
                if (
                    e.get("action") == "autoPirate"
                    and isinstance(pid, int)
                    and pid not in seen
                    and liveness.probe(pid, float(e.get("date", 0)))[0]
                ):
                    now = time.time()
                    first.setdefault(pid, now)
                    if str(e.get("status", "")).startswith("Pirating"):
                        return pid, first[pid], now
        time.sleep(0.01)
    return None


def recording_of(state_dir: Path, pid: int) -> Recording:
    state = StateDB.open_readonly(state_dir)
    if state is None:
        raise SystemExit("no telebot state")
    try:
        rec = from_row(state.recordings.newest(pid))
    finally:
        state.close()
    if rec is None:
        raise SystemExit(f"pid {pid} has no recorded answers")
    return rec


def alone(
    command: tuple[str, ...], rec: Recording, store: Store, seen: set[int]
) -> tuple[float, float]:
    """ikabot by itself: spawn → the task listed, → working; each answer typed as soon as
    its prompt appears."""
    started = time.time()
    child = pexpect.spawn(
        command[0], list(command[1:]), encoding="utf-8", timeout=60, dimensions=(50, 120)
    )
    try:
        for step in rec.steps:
            last = [ln.strip() for ln in step.question.prompt.splitlines() if ln.strip()]
            if last:
                child.expect_exact(last[-1][-20:])
            child.sendline("" if step.kind is StepKind.ENTER else step.answer)
        found = listed(store, seen, time.time() + 60)
        if found is None:
            raise SystemExit("ikabot alone: the task never appeared in the process list")
        seen.add(found[0])
        os.kill(found[0], signal.SIGKILL)
        return found[1] - started, found[2] - started
    finally:
        child.close(force=True)


async def run(kills: int, alone_runs: int) -> None:
    try:
        await measure(kills, alone_runs)
    finally:
        STOP.set()


async def measure(kills: int, alone_runs: int) -> None:
    events = Events()
    logging.getLogger("telebot").addHandler(events)
    logging.getLogger("telebot").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI(token=TOKEN) as api:
        root = Path(tmp)
        data = IkabotDir(root / "home")
        data.set_telegram(TOKEN, str(OWNER), ME)
        command = offline_command(data.home, root / "ikabot.log", root / "gates", ME)
        settings = fast_settings(
            data.path,
            api,
            root / "state",
            ikabot_command=command,
            keepalive_backoff=BACKOFF,
            keepalive_max=1000,
        )
        store = open_store(settings)
        seen: set[int] = set()
        totals, working, detect, wait, replay = [], [], [], [], []
        async with running_bot(settings, api) as bot:
            me = Player(bot)
            await bot.ask("/menu")
            await me.answers("Mail:", ME.email)
            await me.configures_autopirate(runs="2")
            got = await asyncio.to_thread(listed, store, seen, time.time() + 60)
            if got is None:
                raise SystemExit("the first autoPirate never appeared")
            pid = got[0]
            seen.add(pid)
            assert await bot.wait(
                lambda: any("started from /menu" in m["text"] for m in api.sent(OWNER)), 30
            )
            await bot.ask("/cancel", replies=0)
            await bot.ask(f"/keepalive {pid} on")
            rec = recording_of(root / "state", pid)
            for i in range(kills):
                t0 = time.time()
                os.kill(pid, signal.SIGKILL)
                got = await asyncio.to_thread(listed, store, seen, time.time() + 120)
                if got is None:
                    raise SystemExit(f"kill {i + 1}: no restart within 120 s")
                new, at, works = got
                seen.add(new)
                ended = events.first(rf"task {pid} .* ended", t0)
                began = events.first(rf"keep-alive: replaying \w+ of pid {pid}", t0)
                totals.append((at - t0) * 1000)
                working.append((works - t0) * 1000)
                if ended is not None and began is not None:
                    detect.append((ended - t0) * 1000)
                    wait.append((began - ended) * 1000)
                    replay.append((at - began) * 1000)
                # the replay is over (its menu closed) before the next kill; the chain's
                # restarts forgotten: the next waits the first back-off again
                assert await bot.wait(
                    lambda new=new: any(
                        f"restarted as pid {new}" in m["text"] for m in api.sent(OWNER)
                    ),
                    60,
                )
                with sqlite3.connect(root / "state" / "telebot.sqlite3") as db:
                    db.execute("DELETE FROM keepalive_restarts")
                pid = new
            alone_s = [alone(command, rec, store, seen) for _ in range(alone_runs)]
        alone_listed = [a * 1000 for a, _ in alone_s]
        alone_working = [w * 1000 for _, w in alone_s]
        print(machine_line())
        print(
            f"death → restarted task listed and alive ({kills} SIGKILLs, back-off "
            f"{BACKOFF} s): {summary(totals)}"
        )
        print(f"death → restarted task working (its answers given): {summary(working)}")
        print(f"  death → end recorded (telebot): {summary(detect)}")
        print(f"  end → replay begins (the back-off, telebot): {summary(wait)}")
        print(f"  replay begins → listed (menu start-up, first answers): {summary(replay)}")
        print(f"ikabot alone, spawn → listed, answers typed at once: {summary(alone_listed)}")
        print(f"ikabot alone, spawn → working: {summary(alone_working)}")
        for name, ours, own in (
            ("listed", totals, alone_listed),
            ("working", working, alone_working),
        ):
            total, base = statistics.median(ours), statistics.median(own)
            print(
                f"shares of the median to {name}: ikabot's own {base:.0f} ms "
                f"({base / total:.0%}), telebot's {total - base:.0f} ms "
                f"({(total - base) / total:.0%})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--alone", type=int, default=10)
    args = parser.parse_args()
    with leaves_no_process():
        asyncio.run(run(args.kills, args.alone))


if __name__ == "__main__":
    main()
