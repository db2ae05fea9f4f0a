"""Slow commits never block the event loop: a storm of deaths and /status at 10,000 tasks.

Run: python bench/bench_state.py [--samples 10] [--commit-ms 50]

Every commit of telebot's database is made slow on purpose (`Database.commit` wrapped to sleep
`--commit-ms` first, standing in for an fsync on a Raspberry Pi's SD card). The bot runs in
this process against the loopback Bot API, and a monitor task on the same event loop records
how late a 2 ms sleep wakes (the longest block). Two workloads:

- storm: 20 live autoPirate tasks killed at once; measured from the kills until every death
  is in a message (the storm's edits included);
- /status at 10,000 tasks (100 live, the rest long gone, over 10 accounts, as bench_scale.py).

Each runs twice in the same process: as telebot does it (every statement on the state's
writer thread, `Database.run`), and with `Database.run` replaced by a direct call on the event
loop (how telebot worked before: every commit on the loop), for the ratio. Every alert or edit
handed to the Bot API is checked: its text must have been written by a transaction whose
commit had returned ("an alert is committed before it is sent").
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from bench_scale import CHAT, IKABOT_TOKEN, TOKEN, LoopMonitor
from bench_scale import make_data as make_scale_data
from common import live_processes, machine_line, started_at, summary, write_directory

from telebot.alerts.sending import Edit, Send
from telebot.bot.alert_out import BotOut
from telebot.bot.app import serve
from telebot.config import Settings
from telebot.demo.fakeapi import FakeBotAPI
from telebot.state.db import Database
from telebot.state.outbox import OutboxStore

STORM = 20


class CommitLog:
    """Which alert texts were committed: a text written in a transaction (enqueued, or a
    pending item given a new text) counts once that transaction's commit returned."""

    def __init__(self) -> None:
        self.written: list[str] = []  # by the transaction under way
        self.committed: set[str] = set()
        self.checked = self.uncommitted = 0

    def wrote(self, text: str) -> None:
        self.written.append(text)

    def commit_done(self) -> None:
        self.committed.update(self.written)
        self.written.clear()

    def check(self, text: str) -> None:
        self.checked += 1
        self.uncommitted += text not in self.committed


@contextmanager
def slow_commits(ms: float, on_loop: bool) -> Iterator[CommitLog]:
    """Every commit `ms` slower; with `on_loop`, the old way: every statement on the loop.
    Every alert or edit the bot hands to the Bot API is checked against the commits."""
    commit, enqueue, retext = Database.commit, OutboxStore.enqueue, OutboxStore.retext_pending
    send, edit = BotOut.send, BotOut.edit
    log = CommitLog()

    def slow_commit(self: Database) -> None:
        time.sleep(ms / 1000)
        commit(self)
        log.commit_done()

    async def inline(self: Database, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return fn(*args, **kw)

    def logged_enqueue(
        self: OutboxStore, key: str, chat: str, kind: str, text: str, *args: Any, **kw: Any
    ) -> Any:
        log.wrote(text)
        return enqueue(self, key, chat, kind, text, *args, **kw)

    def logged_retext(self: OutboxStore, item_id: int, text: str) -> bool:
        log.wrote(text)
        return retext(self, item_id, text)

    async def checked_send(self: BotOut, message: Send) -> Any:
        log.check(message.text)
        return await send(self, message)

    async def checked_edit(self: BotOut, message: Edit) -> Any:
        log.check(message.text)
        return await edit(self, message)

    patches = [
        (Database, "commit", slow_commit),
        (OutboxStore, "enqueue", logged_enqueue),
        (OutboxStore, "retext_pending", logged_retext),
        (BotOut, "send", checked_send),
        (BotOut, "edit", checked_edit),
    ]
    if on_loop:
        patches.append((Database, "run", inline))
    originals = [(cls, name, getattr(cls, name)) for cls, name, _ in patches]
    for cls, name, fn in patches:
        setattr(cls, name, fn)
    try:
        yield log
    finally:
        for cls, name, fn in originals:
            setattr(cls, name, fn)


def storm_data(root: Path, pids: list[int]) -> Path:
    plist = [
        {
            "pid": pid,
            "action": "autoPirate",
            "date": started_at(pid),
            "status": f"Pirating for {1 + i % 9} more runs",
        }
        for i, pid in enumerate(pids)
    ]
    return write_directory(root, IKABOT_TOKEN, CHAT, [("bench@example.org", "bench", plist)])


def settings_for(data: Path, api: FakeBotAPI, state_dir: Path, scan: float) -> Settings:
    return Settings(
        ikabot_path=data,
        api_base_url=api.base_url,
        token=TOKEN,
        chat_id=str(CHAT),
        state_dir=state_dir,
        scan_seconds=scan,
        report_minutes=0,
        ikabot_log=state_dir.parent / "no-ikabot.log",
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[LoopMonitor]:
    """The bot, started and ready; the monitor on its event loop."""
    stop, ready = asyncio.Event(), asyncio.Event()
    bot = asyncio.create_task(serve(settings, stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 60)
    monitor = LoopMonitor()
    monitor.start()
    try:
        yield monitor
    finally:
        stop.set()
        await bot


async def storm(root: Path, samples: int) -> list[float]:
    """Worst loop block from 20 kills at once until every death is told."""
    blocks = []
    for i in range(samples):
        with live_processes(STORM) as procs, FakeBotAPI(token=TOKEN) as api:
            data = storm_data(root / f"storm{i}", [p.pid for p in procs])
            async with running(settings_for(data, api, root / f"s{i}", 0.5)) as monitor:
                await asyncio.sleep(0.3)
                monitor.take()
                for p in procs:
                    p.kill()
                pids = {p.pid for p in procs}

                def all_told(pids: set[int] = pids) -> bool:
                    told = "\n".join(m["text"] for m in api.sent(CHAT))
                    return pids <= {int(n) for n in re.findall(r"\b\d+\b", told)}

                assert await asyncio.to_thread(api.wait_for, all_told, 60), "not all told"
                blocks.append(monitor.take())
    return blocks


async def status(root: Path, samples: int, tag: str) -> list[float]:
    """Worst loop block while /status at 10,000 tasks is handled."""
    blocks = []
    with live_processes(100) as procs, FakeBotAPI(token=TOKEN) as api:
        data = make_scale_data(root / f"scale-{tag}", [p.pid for p in procs], 10_000)
        async with running(settings_for(data, api, root / f"sc-{tag}", 15)) as monitor:
            for i in range(samples + 2):
                await asyncio.sleep(0.3)
                monitor.take()
                before = len(api.sent(CHAT))
                api.add_message("/status", chat_id=CHAT, user_id=CHAT)
                assert await asyncio.to_thread(
                    api.wait_for,
                    lambda b=before: any("ikabot tasks" in m["text"] for m in api.sent(CHAT)[b:]),
                    30,
                )
                await asyncio.sleep(0.2)  # every page of the answer
                if i >= 2:  # warm-up
                    blocks.append(monitor.take())
    return blocks


async def main_async(samples: int, commit_ms: float) -> None:
    print(machine_line())
    print(f"command: python bench/bench_state.py --samples {samples} --commit-ms {commit_ms:g}")
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, on_loop in (("writer thread", False), ("on the loop (before)", True)):
            root = Path(tmp) / ("loop" if on_loop else "writer")
            root.mkdir()
            with slow_commits(commit_ms, on_loop) as check:
                r = results[mode] = {}
                r["storm"] = await storm(root, samples)
                r["status"] = await status(root, samples, mode[:6])
            print(f"- {mode}, commits +{commit_ms:g} ms:")
            print(f"  storm of {STORM} deaths, worst loop block: {summary(r['storm'])}")
            print(f"  /status at 10,000 tasks, worst loop block: {summary(r['status'])}")
            print(
                f"  alerts and edits handed to the Bot API: {check.checked}, of them not "
                f"committed yet: {check.uncommitted}"
            )
    for kind in ("storm", "status"):
        ratio = statistics.median(results["on the loop (before)"][kind]) / statistics.median(
            results["writer thread"][kind]
        )
        print(f"- {kind}: worst block on the loop vs writer thread, ratio of medians: {ratio:.1f}×")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--commit-ms", type=float, default=50.0)
    args = ap.parse_args()
    asyncio.run(main_async(args.samples, args.commit_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
