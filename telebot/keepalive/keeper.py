"""The keeper: decides at a kept task's end (inside the transaction that ends it, so the
alert already says ♻️ *restarting in N s*), schedules the restart, and makes it safely:

- one replay at a time, and never while a /menu session is open (it waits for its end);
- the identity checks /kill makes: the task's recording is of that very process (pid and
  start ticks), and that process is gone (a pid alive again with those ticks is no death);
- never a second copy of an action that does harm twice (`tasks.doubled`) while one runs on
  that account.
Then the end alert is edited: *restarted as pid M*, or why not. What is due survives a
restart of telebot (`state.keepalive`), and `resume` schedules it again.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from telebot.alerts.ending import end_key
from telebot.alerts.texts import note_html
from telebot.config import Settings
from telebot.i18n import _
from telebot.keepalive.chain import RESTARTABLE, WINDOW, decide, is_kept
from telebot.menu.recorded import Recording, from_row
from telebot.processes import liveness
from telebot.state import Kept, StateDB, Tracked
from telebot.tasks.doubled import HARM
from telebot.tasks.model import Task

log = logging.getLogger(__name__)

MENU_WAIT = 15.0  # seconds between two looks while a /menu session is open


@dataclass(frozen=True)
class Restart:
    """What a replay came to: the new task (pid, start ticks), or why there is none."""

    pid: int | None = None
    start_ticks: int | None = None
    reason: str = ""


class Replayer(Protocol):
    """ikabot's menu, run unattended (`bot.menu_manager.MenuManager`)."""

    def busy(self) -> bool: ...

    async def replay_kept(self, rec: Recording) -> Restart: ...


Schedule = Callable[[float, str, Callable[[], Awaitable[None]]], None]
ReadTasks = Callable[[], Awaitable[list[Task]]]


class Keeper:
    def __init__(
        self,
        state: StateDB,
        settings: Settings,
        replayer: Replayer,
        read_tasks: ReadTasks,
        schedule: Schedule,
        wake: Callable[[], None],
        chat_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state, self.settings, self.replayer = state, settings, replayer
        self.chat_id = chat_id
        self.read_tasks, self.schedule, self.wake, self.clock = (read_tasks, schedule, wake, clock)
        self._one = asyncio.Lock()  # one replay at a time, in the order they were due
        self._last_due = 0.0  # the latest restart planned: the next is one back-off later
        self._loop = asyncio.get_running_loop()  # end_note runs on the state's writer thread
        self.notes = AlertNotes(state, chat_id, wake)

    # ---- at the end (on the state's writer thread, inside the end's transaction)

    def end_note(self, row: Tracked, how: str) -> str | None:
        """The alert's ♻️ line for this end, with the restart planned (or the give-up)."""
        ks = self.state.keepalive
        kept = ks.get(row.pid, row.start_ticks)
        want = kept.want if kept is not None else None
        chain = kept.chain if kept is not None else f"{row.pid}:{row.start_ticks}"
        now = self.clock()
        d = decide(
            how,
            kept=is_kept(row.action, want, self.settings.keepalive),
            recorded=self.state.recordings.get(row.pid, row.start_ticks) is not None,
            restarts=ks.restarts_since(chain, now - WINDOW),
            now=now,
            limit=self.settings.keepalive_max,
            first=self.settings.keepalive_backoff,
            not_before=self._last_due + self.settings.keepalive_backoff,
        )
        if d is None:
            return None
        if d.restart_in is not None:
            self._last_due = now + d.restart_in  # (ikabot logs in each time: one by one)
            ks.plan(row.pid, row.start_ticks, row.action, now + d.restart_in, None, d.note)
            # scheduled on the event loop; a rolled-back plan leaves nothing due to restart
            self._loop.call_soon_threadsafe(
                self._schedule_row, row.pid, row.start_ticks, d.restart_in
            )
        elif d.gave_up:
            ks.give_up(row.pid, row.start_ticks, row.action, d.note)
        return d.note

    async def after_end(self, row: Tracked) -> None:
        """Schedule the restart `end_note` planned, if it did."""
        kept = await self.state.run(self.state.keepalive.get, row.pid, row.start_ticks)
        if kept is not None and kept.due_at is not None:
            self._schedule(kept, kept.due_at - self.clock())

    async def resume(self) -> None:
        """telebot started: the restarts that were due (planned before it stopped)."""
        for kept in await self.state.run(self.state.keepalive.due):
            self._schedule(kept, (kept.due_at or 0) - self.clock())

    def _schedule(self, kept: Kept, delay: float) -> None:
        self._schedule_row(kept.pid, kept.start_ticks, delay)

    def _schedule_row(self, pid: int, ticks: int, delay: float) -> None:
        self.schedule(max(0.0, delay), f"keepalive-{pid}-{ticks}", lambda: self.restart(pid, ticks))

    # ---- the owner's word

    async def turn(self, rec: Recording, on: bool) -> str:
        """/keepalive <pid> on|off, ♻️: said for the task `rec` started. Turned on after a bad
        end that was not restarted, the restart is planned now."""
        ks = self.state.keepalive
        before = await self.state.run(ks.get, rec.pid, rec.start_ticks)
        await self.state.run(ks.set_want, rec.pid, rec.start_ticks, rec.action, on)
        name = f"{rec.action} (pid {rec.pid})"
        if not on:
            return _("♻️ {task} is no longer kept alive.").format(task=name)
        row = await self.state.run(self.state.tracking.tracked_one, rec.pid, rec.start_ticks)
        if (
            row is not None
            and row.ended_at is not None
            and row.end_kind in RESTARTABLE
            and (before is None or before.due_at is None)
            and await self.state.run(ks.successor, rec.pid, rec.start_ticks) is None
        ):
            prior = await self.state.run(ks.get, rec.pid, rec.start_ticks)
            note = await self.state.run(self.end_note, row, row.end_kind or "died")
            if note and prior is not None:
                await self.after_end(row)
                await self.notes.tell(prior, note)
                return _("♻️ {task} is kept alive: {note}.").format(task=name, note=note)
        return _(
            "♻️ {task} is kept alive: when it fails, is killed or dies, telebot starts it "
            "again with its recorded answers."
        ).format(task=name)

    # ---- the restart

    async def restart(self, pid: int, ticks: int) -> None:
        async with self._one:  # first come first served: a replay before waits its turn
            if self.replayer.busy():  # a /menu session (the owner's, or 🔁 Run again's)
                log.info("keep-alive: the restart of pid %d waits for the open /menu", pid)
                self.schedule(
                    MENU_WAIT, f"keepalive-{pid}-{ticks}", lambda: self.restart(pid, ticks)
                )
                return
            kept = await self.state.run(self.state.keepalive.get, pid, ticks)
            if kept is None or kept.due_at is None:
                return  # turned off meanwhile, or tried already
            rec = from_row(await self.state.run(self.state.recordings.get, pid, ticks))
            why = await why_not(kept, rec, self.read_tasks)
            if why is None and rec is not None:
                log.info("keep-alive: replaying %s of pid %d", rec.action, pid)
                done = await self.replayer.replay_kept(rec)
                why = done.reason if done.pid is None or done.start_ticks is None else None
                if why is None and done.pid is not None and done.start_ticks is not None:
                    note = _("♻️ restarted as pid {pid}").format(pid=done.pid)
                    await self.state.run(
                        self.state.keepalive.restarted,
                        kept,
                        done.pid,
                        done.start_ticks,
                        self.clock(),
                        note,
                    )
                    await self.notes.tell(kept, note)
                    return
            note = _("♻️ not restarted: {why}").format(why=why)
            await self.state.run(self.state.keepalive.settle, pid, ticks, note)
            await self.notes.tell(kept, note)


async def why_not(kept: Kept, rec: Recording | None, read_tasks: ReadTasks) -> str | None:
    """Why this restart must not happen (/kill's identity checks, harm twice), or None."""
    if rec is None or (rec.pid, rec.start_ticks) != (kept.pid, kept.start_ticks):
        return _("its recorded answers are gone")
    if liveness.same_process(kept.pid, kept.start_ticks):
        return _("pid {pid} is alive again (the same process): nothing to restart").format(
            pid=kept.pid
        )
    if rec.action in HARM:
        same = [
            t
            for t in await read_tasks()
            if t.state == "running"
            and t.action == rec.action
            and t.account.player == rec.account.player
        ]
        if same:
            return _(
                "{action} already runs on that account (pid {pid}), and a second "
                "copy does harm ({harm})"
            ).format(action=rec.action, pid=same[0].pid, harm=_(HARM[rec.action]))
    return None


class AlertNotes:
    """The ♻️ line of a kept task's end alert, edited as its restart goes (a plain class:
    it writes to the outbox, on the state's writer thread)."""

    def __init__(self, state: StateDB, chat_id: str, wake: Callable[[], None]) -> None:
        self.state, self.chat_id, self.wake = state, chat_id, wake

    async def tell(self, kept: Kept, note: str) -> None:
        """Edit the end alert's ♻️ line (its own message), else say it in a message."""
        await self.state.run(self._tell, kept, note)
        self.wake()

    def _tell(self, kept: Kept, note: str) -> None:
        outbox, chat = self.state.outbox, self.chat_id
        alert = outbox.by_key(end_key(kept.pid, kept.start_ticks))
        shared = alert is None and kept.alert_id is not None  # after a reboot: one message
        alert = outbox.item(kept.alert_id or 0) if shared else alert
        if alert is None:
            outbox.enqueue(
                f"keepalive:{kept.pid}:{kept.start_ticks}:{note}",
                chat,
                "notice",
                html.escape(f"{note} ({kept.action}, was pid {kept.pid})"),
            )
            return
        now = outbox.latest_text(alert.id) if shared else None  # as its last edit left it
        text = retold(
            now or alert.text,
            kept.pid,
            html.escape(kept.note or ""),
            note_html(note) if shared else html.escape(note),
            shared,
        )
        if shared and text == (now or alert.text):
            return
        if not outbox.retext_pending(alert.id, text):  # the shared one keeps its 🔁 button
            outbox.enqueue(
                f"edit:{alert.id}:keepalive:{kept.pid}:{kept.start_ticks}:{note}",
                alert.chat_id,
                alert.kind,
                text,
                edits=alert.id,
                markup=alert.markup if shared else None,
            )


def retold(text: str, pid: int, old: str, new: str, shared: bool) -> str:
    """An alert's text with its ♻️ note `old` (HTML) now `new`; in a message `shared` by
    several tasks (after a reboot), in the line of `pid` only."""
    lines = text.split("\n")
    mine = (
        [i for i, line in enumerate(lines) if f"<code>{pid}</code>" in line and old in line]
        if shared and old
        else []
    )
    if mine:
        lines[mine[0]] = lines[mine[0]].replace(old, new)
        return "\n".join(lines)
    if shared:  # its line did not fit the message ("… and N more"): nothing to change
        return text
    return text.replace(old, new) if old and old in text else f"{text}\n{new}"
