"""Alerts that are instant, exact and never lost: the pieces wired together.

Flow: the watcher sees a pid die and reads how it ended → a `ProcessExited` enters the
Application's update queue (process events and Telegram updates share one dispatcher) →
`Alerter.on_exit` hands the end to one step on the state's writer thread (`EndWriter.write`):
it reads the new tail of ikabot's log and ikabot's entry after the end, tells how the task
ended (`ending`), in one transaction marks the task ended and writes its alert into the outbox
(`storms`: the first death of a storm is a new message, the rest edit it), and reads what is
pending → the deliverer (`delivery`), handed that list before the commit, sends at once while
the commit's fsync runs. Tracking live tasks is `tracking`'s; the texts are `texts`'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telebot.alerts.delivery import Deliverer
from telebot.alerts.ending import Ending, classify, end_key, record_end
from telebot.alerts.reboot import RebootReport
from telebot.alerts.sending import Nowhere, Out
from telebot.alerts.storms import Storms, text_of
from telebot.alerts.texts import Ended, stalled_text
from telebot.alerts.tracker import Tracker
from telebot.alerts.twice import StopMarkup, TwiceWarnings
from telebot.i18n import N_
from telebot.ikabot.log import IkabotLog
from telebot.processes.exitinfo import ExitInfo
from telebot.processes.watcher import ProcessWatcher
from telebot.state import Pending, StateDB, Tracked
from telebot.tasks.model import Task

log = logging.getLogger(__name__)

URGENT = {"failed", "killed", "died", "stopped"}  # never held back by /mute


def toggle_of(how: str) -> str:
    """Which /alerts switch governs an end: `finished`, or `died` for every other end."""
    return "finished" if how == "finished" else "died"


# What each /alerts switch covers, as /alerts says it (`toggle_of` decides it for ends).
SWITCHES = {
    "died": N_("a task failed, was killed, died or was stopped"),
    "finished": N_("a task finished its work"),
    "stalled": N_("a running task's status did not change for TELEBOT_STALL_MINUTES"),
}


def tell(listeners: list[Callable[..., None]], *args: object) -> None:
    """Each listener in turn; a listener's bug is logged and never stops alerts."""
    for listener in listeners:
        try:
            listener(*args)
        except Exception as e:
            log.error(
                "alert listener %s failed: %s: %s",
                getattr(listener, "__name__", "?"),
                type(e).__name__,
                e,
            )


def told_end(
    listeners: list[EndHook], row: Tracked, ending: Ending, at: float, offline: bool
) -> None:
    """One INFO line per end, so the log says what happened (pid, how, where it stopped),
    then each listener told."""
    why = ending.cause or (
        f"signal {ending.signal}"
        if ending.signal
        else f"exit status {ending.exit_status}"
        if ending.exit_status is not None
        else ""
    )
    log.info(
        "task %d (%s, %s) ended: %s%s%s; last status: %s",
        row.pid,
        row.action,
        row.username,
        ending.how,
        f" ({why})" if why else "",
        " while telebot was not running" if offline else "",
        row.status or "none",
    )
    tell(listeners, row.action, str(ending.how), end_key(row.pid, row.start_ticks), at, offline)


# told of every end, on the event loop: (action, how, its alert's outbox key, when it died,
# whether it ended while telebot was not running)
EndHook = Callable[[str, str, str, float, bool], None]


def write_stalled(state: StateDB, chat_id: str, row: Tracked, now: float) -> bool:
    """A stall's alert; on the writer thread, inside the scan's transaction."""
    kind = "stalled"
    if not state.settings.alert_kinds().get(kind, True):
        return False
    state.outbox.enqueue(
        f"stalled:{row.pid}:{row.start_ticks}:{row.last_change}",
        chat_id,
        kind,
        stalled_text(row, now),
        not_before=state.settings.mute_until(),
    )
    return True


@dataclass(frozen=True)
class ProcessExited:
    """An update of telebot's own: a watched task process is gone."""

    pid: int
    start_ticks: int
    at: float
    exit: ExitInfo | None = None


# the entry of a task whose process just ended, as ikabot left it: (pid, started, ended at)
# → the entry, read from ikabot's data after the end (`Runtime.ended_entry`), or None
EntryAfter = Callable[[int, float, float], "Task | None"]


class EndWriter:
    """A task's end written on the state's writer thread: the step that decides what the
    player is told, with its one commit (`write`). For a death just now it is the *only*
    step after the wake: what ikabot wrote last is read in it too, and what is pending is
    handed to the deliverer as the commit begins, so under load a death waits for a core twice
    (this thread, then the event loop's send), not once per thread it passes through, and
    never for the disk."""

    def __init__(
        self,
        state: StateDB,
        chat_id: str,
        tracker: Tracker,
        storms: Storms,
        ikabot_log: IkabotLog | None,
        markup_for: Callable[[str], str | None] | None,
        end_note: Callable[[Tracked, str], str | None] | None,
        entry_after: EntryAfter | None = None,
    ) -> None:
        self.state, self.chat_id, self.tracker, self.storms = state, chat_id, tracker, storms
        self.ikabot_log, self.markup_for, self.end_note = ikabot_log, markup_for, end_note
        self.entry_after = entry_after

    def write(
        self,
        event: ProcessExited,
        row: Tracked | None,
        last: Task | None,
        offline: bool,
        hand: Callable[[Pending], None],
        fresh: bool = False,
    ) -> tuple[Tracked | None, Ending | None]:
        """On the writer thread, one step: the dead task's row (unless given); for a death
        just now (`fresh`) the log's new tail and ikabot's entry after the end; ikabot's
        cause; then its end and its alert in one transaction (a crash leaves both or
        neither). The row, and how it ended (None if it was recorded before).

        Once an alert was written, `hand` is given what is pending *before* the commit, so
        the send does not wait for the fsync (2 ms on a VPS's disk, tens on an SD card).
        Safe: every later write of the deliverer's (the alert marked sent) queues behind this
        commit on this thread, and a crash before the commit leaves the task tracked and
        alive on disk, so the next start finds its pid gone and tells the end again: at least
        once, as delivery itself is (`delivery`), never lost."""
        row = row or self.state.tracking.tracked_one(event.pid, event.start_ticks)
        if row is None or row.ended_at is not None:
            return None, None
        log, exit, at = self.ikabot_log, event.exit, event.at
        if fresh:  # the dead task's last words, and the run ikabot last wrote it was in
            if log is not None:
                log.poll()
            if self.entry_after is not None:
                last = self.entry_after(row.pid, row.started, at)
        cause = log.error_cause(row.pid, since=row.started) if log is not None else None
        state = self.state
        changed = self.tracker.last_words(row, last, at) if last is not None else None
        ending = classify(
            row, exit, cause, stopped=state.control.stop_requested(row.pid, row.start_ticks)
        )
        with state.db.transaction():
            if changed is not None:
                self.tracker.keep_last_words(row, changed, at)
            if not record_end(state.tracking, row, ending, at):
                return row, None
            note = self.end_note(row, ending.how) if self.end_note else None
            e = Ended(row, ending, at, offline=offline, note=note or "")
            if not state.settings.alert_kinds().get(toggle_of(ending.how), True):
                return row, ending
            key = end_key(row.pid, row.start_ticks)
            markup = self.markup_for(key) if self.markup_for is not None else None
            mute = state.settings.mute_until()
            if mute > time.time() and ending.how not in URGENT:
                state.outbox.enqueue(
                    key, self.chat_id, ending.how, text_of([e]), not_before=mute, markup=markup
                )
            else:
                self.storms.place(e, ending.how, key, markup)
            hand(state.outbox.pending_now())
        return row, ending


@dataclass
class Alerter:
    state: StateDB
    chat_id: str
    out: Out | None = None  # the way out to Telegram (the bot stage's `BotOut`)
    stall_minutes: float = 0.0
    fallback_interval: float = 15.0
    ikabot_log: IkabotLog | None = None
    exits: Callable[[ProcessExited], None] | None = None
    stop_markup: StopMarkup | None = None  # a task's 🛑 (/kill's, JSON); None: stopping off
    # an end's buttons by its outbox key (JSON; writer thread, in the end's transaction): 🔁
    markup_for: Callable[[str], str | None] | None = None
    # told of every end once it is recorded, with or without an alert (the metrics, …)
    on_ended: list[EndHook] = field(default_factory=list)
    # keep-alive's ♻️ line of an end's alert (writer thread, in the end's transaction)
    end_note: Callable[[Tracked, str], str | None] | None = None
    entry_after: EntryAfter | None = None  # ikabot's entry after a death (writer thread)
    watcher: ProcessWatcher = field(init=False)
    tracker: Tracker = field(init=False)
    storms: Storms = field(init=False)
    deliverer: Deliverer = field(init=False)
    twice: TwiceWarnings = field(init=False)
    reboot: RebootReport = field(init=False)  # the one message after a reboot
    ends: EndWriter = field(init=False)
    _ending: set[asyncio.Task[None]] = field(default_factory=set)  # ends told without an app

    def __post_init__(self) -> None:
        self.watcher = ProcessWatcher(self._exited, fallback_interval=self.fallback_interval)
        self.tracker = Tracker(
            self.state,
            self.watcher,
            lambda pid, ticks: self._exited(pid, ticks, None),
            lambda row, now: write_stalled(self.state, self.chat_id, row, now),
            self.stall_minutes,
        )
        self.storms = Storms(self.state, self.chat_id)
        self.deliverer = Deliverer(self.state, self.out or Nowhere())
        self.twice = TwiceWarnings(self.state, self.chat_id, self.stop_markup)
        self.ends = EndWriter(
            self.state,
            self.chat_id,
            self.tracker,
            self.storms,
            self.ikabot_log,
            self.markup_for,
            self._note,
            self.entry_after,
        )
        self.reboot = RebootReport(
            self.state, self.chat_id, self.tracker, self.ikabot_log, self._note
        )

    def _note(self, row: Tracked, how: str) -> str | None:
        """keep-alive's ♻️ line, as set when the bot stage is built (after this)."""
        return self.end_note(row, how) if self.end_note is not None else None

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

    async def startup(self, tasks: list[Task]) -> None:
        """Report, once, the tracked tasks that ended while telebot was not running (after a
        reboot in one message: `reboot`)."""
        now = time.time()
        gone = {t.pid: t for t in tasks if not t.alive}  # what ikabot wrote last
        rows = await self.tracker.gone_at_start()
        if self.tracker.rebooted and rows:
            for row, ending in await self.reboot.report(rows, gone, now):
                told_end(self.on_ended, row, ending, now, True)
            self.deliverer.wake()
        for row in [] if self.tracker.rebooted else rows:
            await self._end(
                ProcessExited(row.pid, row.start_ticks, now), row, gone.get(row.pid), offline=True
            )
        await self.state.run(self.storms.close)  # what ended meanwhile is a message of its own
        if await self.tracker.observe(tasks, now):
            self.deliverer.wake()

    # ---- ends

    async def on_exit(self, event: ProcessExited) -> None:
        """A death just now: everything after the wake is the end's one writer step
        (`EndWriter.write`), then the send."""
        await self._end(event, None, None, fresh=True)

    async def _end(
        self,
        event: ProcessExited,
        row: Tracked | None,
        last: Task | None,
        offline: bool = False,
        fresh: bool = False,
    ) -> None:
        loop = asyncio.get_running_loop()

        def hand(pending: Pending) -> None:  # from the writer thread, as its commit begins
            with contextlib.suppress(RuntimeError):  # the loop closed: sent at the next start
                loop.call_soon_threadsafe(self.deliverer.wake, pending)

        row, ending = await self.state.run(self.ends.write, event, row, last, offline, hand, fresh)
        if row is not None and ending is not None:
            told_end(self.on_ended, row, ending, event.at, offline)

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


async def on_process_exited(alerter: Alerter, update: ProcessExited) -> None:
    """A death as the dispatcher hands it over (`telebot.bot.alert_out.attach`)."""
    await alerter.on_exit(update)
    # one step of the event loop for the outbox, woken by this end, before the next end is
    # written: in a storm the first alert is on its way while the others are recorded
    await asyncio.sleep(0)
