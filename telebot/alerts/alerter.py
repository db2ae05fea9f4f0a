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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.ext import Application, ContextTypes, TypeHandler

from telebot.alerts.ending import Ending, classify
from telebot.alerts.outbox import Deliverer
from telebot.alerts.storms import Storms, text_of
from telebot.alerts.texts import Ended, stalled_text
from telebot.alerts.tracking import Tracker
from telebot.alerts.twice import StopMarkup, TwiceWarnings
from telebot.ikabot.log import IkabotLog
from telebot.model import Task
from telebot.processes.exitinfo import ExitInfo
from telebot.processes.watcher import ProcessWatcher
from telebot.state import StateDB, Tracked

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
    # the 🛑 buttons of a task (the /kill flow's, as JSON), or None when stopping is off
    stop_markup: StopMarkup | None = None
    # buttons for an alert by its outbox key (as JSON), e.g. /menu's 🔁 Run again under an end
    markup_for: Callable[[str], str | None] | None = None
    watcher: ProcessWatcher = field(init=False)
    tracker: Tracker = field(init=False)
    storms: Storms = field(init=False)
    deliverer: Deliverer = field(init=False)
    twice: TwiceWarnings = field(init=False)

    def __post_init__(self) -> None:
        self.watcher = ProcessWatcher(self._exited, fallback_interval=self.fallback_interval)
        self.tracker = Tracker(self.state, self.watcher, lambda pid, ticks:
                               self._exited(pid, ticks, None), self._stalled, self.stall_minutes)
        self.storms = Storms(self.state, self.chat_id)
        self.deliverer = Deliverer(self.state, self.send or self._bot_send,
                                   self.edit or (self._bot_edit if self.bot is not None
                                                 else None),
                                   markup_for=self.markup_for,
                                   send_plain=self._bot_send_plain if self.bot is not None
                                   and self.send is None else None)
        self.twice = TwiceWarnings(self.state, self.chat_id, self.deliverer.wake,
                                   self.stop_markup)

    async def _bot_send(self, chat_id: str, text: str, markup: str | None = None) -> Any:
        buttons = InlineKeyboardMarkup.de_json(json.loads(markup), self.bot) if markup else None
        return await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                           reply_markup=buttons, disable_web_page_preview=True)

    async def _bot_send_plain(self, chat_id: str, text: str) -> Any:
        return await self.bot.send_message(chat_id, text, disable_web_page_preview=True)

    async def _bot_edit(self, chat_id: str, message_id: int, text: str) -> Any:
        return await self.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                                parse_mode=ParseMode.HTML,
                                                disable_web_page_preview=True)

    # ---- tracking

    def _exited(self, pid: int, start_ticks: int, exit: ExitInfo | None) -> None:
        event = ProcessExited(pid, start_ticks, time.time(), exit)
        if self.exits is not None:
            self.exits(event)  # through the Application's dispatcher
        else:
            self.on_exit(event)

    async def read_log(self) -> None:
        """Read what ikabot logged since the last look, off the event loop (a big tail, a
        slow disk); each scan does it before `observe`."""
        if self.ikabot_log is not None:
            await asyncio.to_thread(self.ikabot_log.poll)

    def observe(self, tasks: list[Task], now: float | None = None) -> None:
        """After each scan: track new live tasks, keep their last state, spot stalls and
        tasks that run twice."""
        self.tracker.observe(tasks, now)
        self.twice.observe(tasks)

    def _stalled(self, row: Tracked, now: float) -> None:
        self._enqueue(f"stalled:{row.pid}:{row.start_ticks}:{row.last_change}", "stalled",
                      stalled_text(row, now))

    def startup(self, tasks: list[Task]) -> None:
        """Report, once, the tracked tasks that ended while telebot was not running."""
        now = time.time()
        gone = {t.pid: t for t in tasks if not t.alive}
        for row in self.tracker.gone_at_start():
            last = gone.get(row.pid)  # what ikabot wrote last, maybe after telebot stopped
            changed = self.tracker.last_words(row, last, now) if last is not None else None
            self._ended(row, self._classify(row, None), now, offline=True, last_words=changed)
        self.storms.close()  # what ended while telebot was down is one message of its own
        self.tracker.observe(tasks, now)

    # ---- ends

    def _classify(self, row: Tracked, exit: ExitInfo | None) -> Ending:
        cause = None
        if self.ikabot_log is not None:
            cause = self.ikabot_log.error_cause(row.pid, since=row.started)
        return classify(row, exit, cause,
                        stopped=self.state.stop_requested(row.pid, row.start_ticks))

    def on_exit(self, event: ProcessExited, last: Task | None = None) -> None:
        """`last`: the task's entry as ikabot left it, read after the end (what it wrote after
        the last scan, such as the run it was in when it was killed), if there is one."""
        row = self.state.tracked_one(event.pid, event.start_ticks)
        if row is None or row.ended_at is not None:
            return
        if self.ikabot_log is not None:
            self.ikabot_log.poll()  # what is left since `read_log`: usually nothing
        changed = self.tracker.last_words(row, last, event.at) if last is not None else None
        self._ended(row, self._classify(row, event.exit), event.at, last_words=changed)

    def _ended(self, row: Tracked, ending: Ending, at: float, *, offline: bool = False,
               last_words: bool | None = None) -> None:
        """Mark the task ended and write its alert, in one transaction: a crash right after
        leaves both or neither, so no alert is ever lost or doubled."""
        e = Ended(row, ending, at, offline=offline)
        with self.state.transaction():
            if last_words is not None:
                self.tracker.keep_last_words(row, last_words, at)
            if not self.state.end(row.pid, row.start_ticks, ending.how, at,
                                  exit_status=ending.exit_status, signal=ending.signal,
                                  cause=ending.cause):
                return
            if not self.state.alert_kinds().get(toggle_of(ending.how), True):
                return
            key = f"end:{row.pid}:{row.start_ticks}"
            muted = self.state.mute_until() > time.time()
            if muted and ending.how not in URGENT:
                self.state.enqueue(key, self.chat_id, ending.how, text_of([e]),
                                   not_before=self.state.mute_until())
            else:
                self.storms.place(e, ending.how, key)
        self.deliverer.wake()

    def notice(self, dedup_key: str, text: str) -> None:
        """A message about telebot's own situation, through the durable outbox like alerts."""
        self.state.enqueue(dedup_key, self.chat_id, "notice", text)
        self.deliverer.wake()

    def _enqueue(self, dedup_key: str, kind: str, text: str) -> None:
        if not self.state.alert_kinds().get(kind, True):
            return
        hold = 0.0 if kind in URGENT else self.state.mute_until()
        self.state.enqueue(dedup_key, self.chat_id, kind, text, not_before=hold)
        self.deliverer.wake()

    def wake(self) -> None:
        """Settings changed (e.g. unmuted): release held alerts, look at the outbox again."""
        if self.state.mute_until() <= time.time():
            self.state.release_held()
        self.deliverer.wake()

    # ---- life cycle

    async def start(self) -> None:
        self.deliverer.start()

    async def stop(self) -> None:
        await self.deliverer.stop()
        self.watcher.close()


async def _on_process_exited(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = context.application.bot_data["runtime"]
    alerter: Alerter = rt.alerter
    if not isinstance(update, ProcessExited):  # the TypeHandler lets only these through
        return
    await alerter.read_log()  # the dead task's last words, read off the event loop
    # what ikabot wrote after the last scan (the run it was in when it was killed) is what the
    # alert states, as /status will: its entry, read once the process is gone
    row = alerter.state.tracked_one(update.pid, update.start_ticks)
    last = None
    if row is not None and row.ended_at is None:
        last = await rt.ended_view(row.pid, row.started, update.at)
    alerter.on_exit(update, last)
    # one step of the event loop for the outbox, woken by this end, before the next end is
    # written: in a storm the first alert is on its way while the others are recorded
    await asyncio.sleep(0)


def attach(app: Application, alerter: Alerter) -> None:
    """Route process deaths through the Application's update queue, like Telegram updates."""
    alerter.exits = app.update_queue.put_nowait
    app.add_handler(TypeHandler(ProcessExited, _on_process_exited), group=-1)
