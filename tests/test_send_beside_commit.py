"""A death's alert leaves while its commit waits for the disk, and is never lost for it.

The end's commit is an fsync: 2 ms on a VPS's disk, tens of milliseconds on a Raspberry Pi's
SD card. The alert does not wait for it (`EndWriter.write` hands what is pending to the
deliverer as the commit begins). What keeps that safe is asserted here with a commit held
on purpose: the alert reaches the Bot API while the commit waits; it is marked sent only after
the commit; and a telebot that dies before the commit (the state directory as the disk held it
at that moment, opened by a new telebot) tells the end again: at least once, never lost.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE
from test_alerts import alerts
from util import DEADLINE, until

from telebot.alerts.alerter import EndWriter
from telebot.state import OutboxItem
from telebot.state.db import FILES, Database
from telebot.state.outbox import OutboxStore


def crash_image(state_dir: Path, image: Path) -> None:
    """What a power cut would leave of `state_dir` now: its database and write-ahead log as
    they are on disk (an open transaction is in neither; SQLite recovers the rest)."""
    image.mkdir()
    for name in FILES[:2]:
        if (state_dir / name).exists():
            shutil.copy2(state_dir / name, image / name)


async def test_the_alert_leaves_while_its_commit_waits(
    ikabot_dir, spawn, api, tmp_path, monkeypatch
):
    release = threading.Event()
    order: list[str] = []
    step = threading.local()
    write, commit = EndWriter.write, Database.commit
    mark = OutboxStore.mark_sent_and_follow

    def write_marked(self: EndWriter, *args: Any, **kw: Any) -> Any:
        step.on = True
        try:
            return write(self, *args, **kw)
        finally:
            step.on = False

    def held_commit(self: Database) -> None:
        if not getattr(step, "on", False):
            commit(self)
            return
        order.append("commit begins")
        release.wait(DEADLINE)  # the disk, very slow
        commit(self)
        order.append("committed")

    def mark_recorded(self: OutboxStore, item: OutboxItem, message_id: int | None) -> bool:
        if item.kind == "killed":
            order.append("marked sent")
        return mark(self, item, message_id)

    monkeypatch.setattr(EndWriter, "write", write_marked)
    monkeypatch.setattr(Database, "commit", held_commit)
    monkeypatch.setattr(OutboxStore, "mark_sent_and_follow", mark_recorded)
    doomed = spawn()
    ikabot_dir.add_pirate(ALICE, doomed.pid)
    state_dir, image = tmp_path / "s", tmp_path / "image"
    try:
        async with running_bot(fast_settings(ikabot_dir.path, api, state_dir), api) as bot:
            await bot.settled()  # tracked, and the start-up message marked sent
            doomed.kill()
            assert await bot.wait(lambda: alerts(api, "killed (SIGKILL)"))
            assert order == ["commit begins"], order  # the alert is out, its commit not yet
            crash_image(state_dir, image)
            release.set()
            assert await until(lambda: "marked sent" in order)
            assert order == ["commit begins", "committed", "marked sent"]
    finally:
        release.set()
    (told,) = alerts(api, "killed (SIGKILL)")
    assert f"pid {doomed.pid} " in told

    # a telebot that died while that commit waited: the next start tells the end again
    before = len(api.sent(OWNER))
    async with running_bot(fast_settings(ikabot_dir.path, api, image), api) as bot:
        assert await bot.wait(
            lambda: any(
                f"pid {doomed.pid} " in text and "while telebot was offline" in text
                for text in alerts(api)[-3:]
            )
        ), [m["text"] for m in api.sent(OWNER)[before:]]


def test_an_end_whose_event_loop_closed_meanwhile_is_still_committed(tmp_path):
    """telebot stops while a death's step runs on the writer thread: its event loop is closed
    by the time the step hands what is pending over. The hand must not fail the step: the end
    and its alert are committed, the alert still pending, sent at the next start (a failed
    hand would roll both back, and the next start would tell the end only as if offline)."""
    from test_messages import tracked

    from telebot.alerts.alerter import Alerter, ProcessExited
    from telebot.processes.exitinfo import ExitInfo
    from telebot.state import StateDB

    now = time.time()
    row = tracked(4321, "autoPirate", "alice", "Pirating for 3 more runs", now)  # autoPirate.py
    state = StateDB(tmp_path / "s")
    state.tracking.track(row)
    reached, release = threading.Event(), threading.Event()

    def entry_after(pid: int, started: float, at: float) -> None:
        """ikabot's entry after the end, read on a slow disk: telebot stops meanwhile."""
        reached.set()
        release.wait(DEADLINE)

    loop = asyncio.new_event_loop()
    try:

        async def started() -> Alerter:
            return Alerter(state, "42", entry_after=entry_after)

        alerter = loop.run_until_complete(started())
        died = ProcessExited(row.pid, row.start_ticks, now, ExitInfo(signal=9))
        step = loop.create_task(alerter.on_exit(died))
        assert loop.run_until_complete(asyncio.to_thread(reached.wait, DEADLINE))
        step.cancel()  # telebot stopping: the loop no longer waits for the step
        loop.run_until_complete(asyncio.gather(step, return_exceptions=True))
    finally:
        loop.close()
    release.set()  # the step goes on, and hands over to a closed loop
    state.close()  # waits for the writer thread to finish the step
    seen = StateDB.open_readonly(tmp_path / "s")
    assert seen is not None
    try:
        ended = seen.tracking.tracked_one(row.pid, row.start_ticks)
        assert ended is not None and ended.end_kind == "killed", ended
        (pending,) = seen.outbox.pending_now().items
        assert pending.dedup_key == f"end:{row.pid}:{row.start_ticks}"
        assert "killed (SIGKILL)" in pending.text
    finally:
        seen.close()
