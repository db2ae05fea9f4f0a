"""Alerts that are instant, exact and never lost: the pieces wired together.

Flow: the watcher sees a pid die and reads how it ended → a `ProcessExited` enters the
Application's update queue (process events and Telegram updates share one dispatcher) →
`Alerter.on_exit` reads the new tail of ikabot's log, tells how the task ended (`ending`), and
in one transaction marks the task ended and writes its alert into the outbox (`storms`: the
first death of a storm is a new message, the rest edit it) → the deliverer (`outbox`) sends at
once. Tracking live tasks is `tracking`'s; the texts are `texts`'.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.ext import Application, TypeHandler

from telebot.alerts.delivery import Deliverer
from telebot.alerts.ending import classify
from telebot.alerts.storms import Storms, text_of
from telebot.alerts.texts import Ended, stalled_text
from telebot.alerts.tracker import Tracker
from telebot.alerts.twice import StopMarkup, TwiceWarnings
from telebot.ikabot.log import IkabotLog
from telebot.processes.exitinfo import ExitInfo
from telebot.processes.watcher import ProcessWatcher
from telebot.state import StateDB, Tracked
from telebot.tasks.model import Task

log = logging.getLogger(__name__)

URGENT = {"failed", "killed", "died", "stopped"}  # never held back by /mute


def toggle_of(how: str) -> str:
    """Which /alerts switch governs an end: `finished`, or `died` for every other end."""
    return "finished" if how == "finished" else "died"


# What each /alerts switch covers, as /alerts says it (`toggle_of` decides it for ends).
SWITCHES = {
    "died": "a task failed, was killed, died or was stopped",
    "finished": "a task finished its work",
    "stalled": "a running task's status did not change for TELEBOT_STALL_MINUTES",
}


@dataclass(frozen=True)
class ProcessExited:
    """An update of telebot's own: a watched task process is gone."""

    pid: int
    start_ticks: int
    at: float
    exit: ExitInfo | None = None


@dataclass
class BotOut:
    """How alerts reach Telegram through the bot: HTML, buttons as JSON, no link previews."""

    bot: Any

    async def send(self, chat_id: str, text: str, markup: str | None = None) -> Any:
        buttons = InlineKeyboardMarkup.de_json(json.loads(markup), self.bot) if markup else None
        return await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                           reply_markup=buttons, disable_web_page_preview=True)

    async def send_plain(self, chat_id: str, text: str) -> Any:
        return await self.bot.send_message(chat_id, text, disable_web_page_preview=True)

    async def edit(self, chat_id: str, message_id: int, text: str) -> Any:
        return await self.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                                parse_mode=ParseMode.HTML,
                                                disable_web_page_preview=True)


@dataclass
class Alerter:
    state: StateDB
    chat_id: str
    bot: Any = None
    send: Any = None
    edit: Any = None
    stall_minutes: float = 0.0
    fallback_interval: float = 15.0
    ikabot_log: IkabotLog | None = None
    exits: Callable[[ProcessExited], None] | None = None
    stop_markup: StopMarkup | None = None  # a task's 🛑 (/kill's, JSON); None: stopping off
    # buttons for an alert by its outbox key (JSON, writer thread): 🔁 Run again, ♻️
    markup_for: Callable[[str], str | None] | None = None
    end_note: Callable[[Tracked, str], str | None] | None = None  # ♻️ line, in the end's
    after_end: Callable[[Tracked], Awaitable[None]] | None = None  # transaction; then
    watcher: ProcessWatcher = field(init=False)
    tracker: Tracker = field(init=False)
    storms: Storms = field(init=False)
    deliverer: Deliverer = field(init=False)
    twice: TwiceWarnings = field(init=False)
    _ending: set[asyncio.Task[None]] = field(default_factory=set)  # ends told without an app

    def __post_init__(self) -> None:
        self.watcher = ProcessWatcher(self._exited, fallback_interval=self.fallback_interval)
        self.tracker = Tracker(self.state, self.watcher, lambda pid, ticks:
                               self._exited(pid, ticks, None), self._stalled, self.stall_minutes)
        self.storms = Storms(self.state, self.chat_id)
        out = BotOut(self.bot)
        self.deliverer = Deliverer(self.state, self.send or out.send,
                                   self.edit or (out.edit if self.bot is not None else None),
                                   send_plain=out.send_plain if self.bot is not None
                                   and self.send is None else None,
                                   markup_for=self.markup_for)
        self.twice = TwiceWarnings(self.state, self.chat_id, self.stop_markup)

    # ---- tracking

    def _exited(self, pid: int, start_ticks: int, exit: ExitInfo | None) -> None:
        event = ProcessExited(pid, start_ticks, time.time(), exit)
        if self.exits is not None:
            self.exits(event)  # through the Application's dispatcher
        else:
            task = asyncio.get_running_loop().create_task(self.on_exit(event))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    async def read_log(self) -> None:
        """Read what ikabot logged since the last look, off the event loop (a big tail, a
        slow disk); each scan does it before `observe`."""
        if self.ikabot_log is not None:
            await asyncio.to_thread(self.ikabot_log.poll)

    async def observe(self, tasks: list[Task], now: float | None = None) -> None:
        """After each scan: track new live tasks, keep their last state, spot stalls and
        tasks that run twice (their alerts written on the state's writer thread)."""
        stalled = await self.tracker.observe(tasks, now)
        if await self.state.run(self.twice.observe, tasks) or stalled:
            self.deliverer.wake()

    def _stalled(self, row: Tracked, now: float) -> bool:
        """On the writer thread, inside the scan's transaction."""
        kind = "stalled"
        if not self.state.settings.alert_kinds().get(kind, True):
            return False
        self.state.outbox.enqueue(f"stalled:{row.pid}:{row.start_ticks}:{row.last_change}",
                                  self.chat_id, kind, stalled_text(row, now),
                                  not_before=self.state.settings.mute_until())
        return True

    async def startup(self, tasks: list[Task]) -> None:
        """Report, once, the tracked tasks that ended while telebot was not running."""
        now = time.time()
        gone = {t.pid: t for t in tasks if not t.alive}
        for row in await self.tracker.gone_at_start():
            # what ikabot wrote last, maybe after telebot stopped
            await self._end(row, None, now, offline=True, last=gone.get(row.pid))
        await self.state.run(self.storms.close)  # what ended meanwhile is a message of its own
        if await self.tracker.observe(tasks, now):
            self.deliverer.wake()

    # ---- ends

    async def on_exit(self, event: ProcessExited, last: Task | None = None) -> None:
        """`last`: the task's entry as ikabot left it, read after the end (what it wrote after
        the last scan, such as the run it was in when it was killed), if there is one."""
        row = await self.state.run(self.state.tracking.tracked_one, event.pid, event.start_ticks)
        if row is None or row.ended_at is not None:
            return
        if self.ikabot_log is not None:
            self.ikabot_log.poll()  # what is left since `read_log`: usually nothing
        await self._end(row, event.exit, event.at, last=last)

    async def _end(self, row: Tracked, exit: ExitInfo | None, at: float, *,
                   offline: bool = False, last: Task | None = None) -> None:
        cause = None
        if self.ikabot_log is not None:
            cause = self.ikabot_log.error_cause(row.pid, since=row.started)
        if await self.state.run(self._write_end, row, exit, cause, at, offline, last):
            self.deliverer.wake()
        if self.after_end is not None:
            await self.after_end(row)

    def _write_end(self, row: Tracked, exit: ExitInfo | None, cause: str | None, at: float,
                   offline: bool, last: Task | None) -> bool:
        """On the writer thread: mark the task ended and write its alert, in one transaction
        (a crash right after leaves both or neither: no alert is ever lost or doubled). True
        when an alert was written."""
        state = self.state
        changed = self.tracker.last_words(row, last, at) if last is not None else None
        ending = classify(row, exit, cause,
                          stopped=state.control.stop_requested(row.pid, row.start_ticks))
        with state.db.transaction():
            if changed is not None:
                self.tracker.keep_last_words(row, changed, at)
            if not state.tracking.end(row.pid, row.start_ticks, ending.how, at,
                                      exit_status=ending.exit_status, signal=ending.signal,
                                      cause=ending.cause):
                return False
            note = self.end_note(row, ending.how) if self.end_note else None
            e = Ended(row, ending, at, offline=offline, note=note or "")
            if not state.settings.alert_kinds().get(toggle_of(ending.how), True):
                return False
            key = f"end:{row.pid}:{row.start_ticks}"
            mute = state.settings.mute_until()
            if mute > time.time() and ending.how not in URGENT:
                state.outbox.enqueue(key, self.chat_id, ending.how, text_of([e]),
                                     not_before=mute)
            else:
                self.storms.place(e, ending.how, key)
        return True

    async def notice(self, dedup_key: str, text: str) -> None:
        """A message about telebot's own situation, through the durable outbox like alerts."""
        await self.state.run(self.state.outbox.enqueue, dedup_key, self.chat_id, "notice", text)
        self.deliverer.wake()

    async def wake(self) -> None:
        """Settings changed (e.g. unmuted): release held alerts, look at the outbox again."""
        if self.state.settings.mute_until() <= time.time():
            await self.state.run(self.state.outbox.release_held)
        self.deliverer.wake()

    # ---- life cycle

    async def start(self) -> None:
        self.deliverer.start()

    async def stop(self) -> None:
        await self.deliverer.stop()
        self.watcher.close()


# the entry of a task whose process just ended, as ikabot left it (`Runtime.ended_view`)
EndedView = Callable[[int, float, float], Awaitable[Task | None]]


async def _on_process_exited(alerter: Alerter, ended_view: EndedView, update: object) -> None:
    if not isinstance(update, ProcessExited):  # the TypeHandler lets only these through
        return
    await alerter.read_log()  # the dead task's last words, read off the event loop
    # what ikabot wrote after the last scan (the run it was in when it was killed) is what the
    # alert states, as /status will: its entry, read once the process is gone
    state = alerter.state
    row = await state.run(state.tracking.tracked_one, update.pid, update.start_ticks)
    last = None
    if row is not None and row.ended_at is None:
        last = await ended_view(row.pid, row.started, update.at)
    await alerter.on_exit(update, last)
    # one step of the event loop for the outbox, woken by this end, before the next end is
    # written: in a storm the first alert is on its way while the others are recorded
    await asyncio.sleep(0)


def attach(app: Application[Any, Any, Any, Any, Any, Any], alerter: Alerter,
           ended_view: EndedView) -> None:
    """Route process deaths through the Application's update queue, like Telegram updates;
    `ended_view` reads a dead task's entry once its process is gone."""
    alerter.exits = app.update_queue.put_nowait

    async def on_exit(update: object, context: object) -> None:
        await _on_process_exited(alerter, ended_view, update)

    app.add_handler(TypeHandler(ProcessExited, on_exit), group=-1)
