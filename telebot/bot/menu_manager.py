"""/menu's manager: at most one session of ikabot's menu, its screen, its recorded answers.

The Telegram handlers (`bot/menu_handlers`) ask it to open, answer and close; it owns the
session's life (`menu.session`), the one message showing the screen (`menu_screen`), and the
answers recorded in telebot's state for 🔁 Run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import Coroutine
from typing import Any

from telegram import Bot, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from telebot.bot.menu_screen import ScreenMessage
from telebot.bot.runtime import Runtime
from telebot.i18n import N_, _, ngettext, number
from telebot.menu.launch import menu_command, menu_env
from telebot.menu.recorded import Recording, Step, from_row, to_row
from telebot.menu.replay import Guard, no_twin, replay
from telebot.menu.session import GROUP_INTERVAL, MIN_INTERVAL, MenuSession, View
from telebot.menu.spotter import Started
from telebot.processes import leftover, liveness
from telebot.state import MenuProcess
from telebot.tasks.model import Task

log = logging.getLogger(__name__)

OFF = N_("/menu is turned off on this machine (TELEBOT_ALLOW_MENU=0).")
NO_COMMAND = N_(
    "ikabot's command was not found beside telebot nor on PATH: set "
    "IKABOT_COMMAND to what starts ikabot's menu."
)
BUSY = N_("A /menu session is open already (its screen is above); /cancel ends it.")
STARTED_WAIT = 30.0  # seconds after the last replayed answer for the new task to start


class RecordedAnswers:
    """The answers recorded for 🔁 Run again and ♻️, read from telebot's state (through its
    writer thread)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def recording(self, pid: int, ticks: int) -> Recording | None:
        return from_row(await self.rt.state.run(self.rt.state.recordings.get, pid, ticks))

    async def newest(self, pid: int) -> Recording | None:
        return from_row(await self.rt.state.run(self.rt.state.recordings.newest, pid))

    async def again_as(self, rec: Recording) -> Recording | None:
        return from_row(
            await self.rt.state.run(self.rt.state.recordings.again_as, rec.pid, rec.start_ticks)
        )

    async def recording_of(self, task: Task) -> Recording | None:
        ticks = task.start_ticks
        if ticks is None:
            row = await self.rt.state.run(self.rt.state.tracking.ended_near, task.pid, task.started)
            ticks = row.start_ticks if row is not None else None
        return await self.recording(task.pid, ticks) if ticks is not None else None


class MenuManager(RecordedAnswers):
    """At most one /menu session: opens it, routes its screen to one message, records the
    tasks it starts and replays recorded answers (🔁 Run again)."""

    def __init__(self, rt: Runtime, bot: Bot) -> None:
        super().__init__(rt)
        self.bot = bot
        self.session: MenuSession | None = None
        self.screen: ScreenMessage | None = None  # the session's own message
        self._lock = asyncio.Lock()
        self._replays: set[asyncio.Task[None]] = set()
        self._watchers: set[asyncio.Task[None]] = set()  # each session's end, seen through
        self.unattended: set[str] = set()  # sessions of keep-alive: no screen unless shown

    def open_session(self) -> MenuSession | None:
        s = self.session
        return s if s is not None and not s.ended.is_set() else None

    def wants(self, update: Update) -> bool:
        """A plain text in the owner's chat while a session is open is telebot's: the poller
        hands it over (ikabot reads only the replies it waits for)."""
        message = update.message
        return (
            self.open_session() is not None
            and message is not None
            and bool(message.text)
            and self.rt.permissions.is_bots_chat(message.chat.id)
        )

    async def open(
        self,
        steps: tuple[Step, ...] = (),
        again_of: Recording | None = None,
        acknowledged: tuple[str, ...] = (),
        unattended: bool = False,
    ) -> str | None:
        """Start a session (replaying `steps` of `again_of`; the copies of its action in
        `acknowledged` were shown to the owner); or say why not. `unattended` (keep-alive's):
        no screen until `show`, and the caller replays."""
        async with self._lock:
            if not self.rt.settings.allow_menu:
                return OFF
            if self.open_session() is not None:
                return BUSY
            argv = menu_command(self.rt.settings)
            if argv is None:
                return NO_COMMAND
            group = self.rt.chat_id.startswith("-")
            screen = ScreenMessage(self.bot, self.rt.chat_id)

            async def publish(view: View) -> None:  # this session's screen, to its message
                if session.token not in self.unattended:
                    await screen.show(session.token, session.end_reason, view)

            session = MenuSession(
                argv,
                menu_env(self.rt.settings),
                publish,
                self.rt.refresh,
                self._started,
                min_interval=GROUP_INTERVAL if group else MIN_INTERVAL,
            )
            if again_of is not None:
                session.again_of = (again_of.pid, again_of.start_ticks)
            if unattended:
                self.unattended.add(session.token)
            try:
                session.start()
            except OSError as e:
                return _("Could not start ikabot's menu ({why}).").format(
                    why=html.escape(e.strerror or str(e))
                )
            self.session, self.screen = session, screen
            log.info("menu session %s started (pid %d)", session.token, session.pid)
            proc = await remember(self.rt, session.pid)
            self._keep(asyncio.create_task(self._watch_end(session, proc)), self._watchers)
            if steps and not unattended:
                self._keep(
                    asyncio.create_task(self._replay(session, steps, again_of, acknowledged))
                )
            return None

    def run_beside(self, job: Coroutine[Any, Any, None]) -> None:
        """A job that opens sessions in turn (🔁 Run all again): cancelled when telebot stops,
        before it could open one more."""
        self._keep(asyncio.create_task(job))

    def _keep(self, task: asyncio.Task[None], kept: set[asyncio.Task[None]] | None = None) -> None:
        kept = self._replays if kept is None else kept
        kept.add(task)
        task.add_done_callback(kept.discard)

    async def _watch_end(self, session: MenuSession, proc: MenuProcess | None) -> None:
        await session.ended.wait()  # the menu's process has ended (`Terminal.close`)
        log.info("menu session %s ended: %s", session.token, session.end_reason)
        if proc is not None:
            await self.rt.state.run(self.rt.state.menus.remove, proc)

    async def close(self, reason: str) -> bool:
        session = self.open_session()
        if session is None:
            return False
        await session.close(reason)
        return True

    async def shutdown(self) -> None:
        """telebot stops: the menu ends (its tasks do not), and its record with it."""
        for task in list(self._replays):
            task.cancel()
        await self.close(N_("telebot stopped"))
        if self._watchers:  # the menu's record removed before the database closes
            await asyncio.wait(set(self._watchers), timeout=10)

    async def reshow(self) -> None:
        """A new message with the current screen (the old one scrolled away)."""
        session, screen = self.open_session(), self.screen
        if session is not None and screen is not None:
            screen.message_id = None
            await screen.show(session.token, session.end_reason, session.view())

    # ---- tasks started from the menu

    async def show(self, session: MenuSession) -> None:
        """An unattended session's screen, from now on (the owner is asked something)."""
        self.unattended.discard(session.token)
        if self.screen is not None:
            await self.screen.show(session.token, session.end_reason, session.view())

    async def _started(self, session: MenuSession, started: Started) -> None:
        await record_started(self, session, started)

    # ---- 🔁 Run again

    async def _replay(
        self,
        session: MenuSession,
        steps: tuple[Step, ...],
        again_of: Recording | None,
        acknowledged: tuple[str, ...] = (),
    ) -> None:
        """Replay, and tell the chat how it went."""
        guard = (
            None
            if again_of is None
            else no_twin(session, self.rt.refresh, again_of.action, again_of.account, acknowledged)
        )
        text = await replay_told(session, steps, guard)
        with contextlib.suppress(TelegramError):
            await self.bot.send_message(self.rt.chat_id, text, parse_mode=ParseMode.HTML)


async def remember(rt: Runtime, pid: int) -> MenuProcess | None:
    """The menu's process recorded (pid + identity) until it ends: a telebot killed
    meanwhile leaves the record, and the next one ends that menu (`end_leftovers`)."""
    ticks = liveness.start_ticks(pid)
    if ticks is None:
        return None  # ended already
    proc = MenuProcess(pid, ticks, liveness.boot_id(), time.time())
    await rt.state.run(rt.state.menus.add, proc)
    return proc


async def end_leftovers(rt: Runtime) -> None:
    """At start: the menus a previous telebot left running (it was killed before it could end
    them, and the kernel's parent-death signal did not), each ended by its pid and identity
    only (`processes.leftover`): a pid taken by another process since is never touched, and
    the tasks such a menu started are not its pid, so they go on."""
    for proc in await rt.state.run(rt.state.menus.all):
        how = await leftover.end_recorded(proc.pid, proc.start_ticks, proc.boot_id)
        log.info("a menu left by an earlier telebot (pid %d): %s", proc.pid, how)
        if how is not leftover.Leftover.STAYS:
            await rt.state.run(rt.state.menus.remove, proc)


async def record_started(mgr: MenuManager, session: MenuSession, started: Started) -> None:
    """A task the session started: its answers recorded, the chat told (not for
    keep-alive's: its end alert is edited instead); tracked from now on."""
    t = started.task
    again = session.again_of if not session.started[:-1] else None
    await mgr.rt.state.run(mgr.rt.state.recordings.add, to_row(started.recording(again)))
    if session.token in mgr.unattended:  # keep-alive's: its end alert is edited
        await mgr.rt.refresh()
        return
    line = _("▶️ {action} started from /menu: pid {pid} ({account}).").format(
        action=html.escape(t.action), pid=started.pid, account=html.escape(t.account.label)
    )
    if again:
        line += " " + _("🔁 Run again of pid {pid}.").format(pid=again[0])
    line += f" /details {started.pid}"
    await mgr.rt.refresh()  # tracked from now on
    with contextlib.suppress(TelegramError):
        await mgr.bot.send_message(mgr.rt.chat_id, line, parse_mode=ParseMode.HTML)


async def replay_told(session: MenuSession, steps: tuple[Step, ...], guard: Guard | None) -> str:
    """Replay; once the new task has started, the session ends (its work is done); refused
    by `guard`, it ends at once. What to tell the chat."""
    outcome = await replay(session, steps, guard)
    if outcome.refused:
        await session.close(N_("Run again refused"))
        return _(
            "⚠️ Run again {how}. Nothing more was typed, and ikabot's menu is closed "
            "(press 🔁 Run again to see it again, or /menu)."
        ).format(how=html.escape(outcome.explain(len(steps))))
    if not outcome.done:
        return _(
            "⚠️ Run again {how}. Nothing more was typed: the menu is yours now (answer "
            "it, or /cancel)."
        ).format(how=html.escape(outcome.explain(len(steps))))
    deadline = time.monotonic() + STARTED_WAIT
    while not session.started and not session.ended.is_set() and time.monotonic() < deadline:
        await session.next_settle(session.generation, deadline - time.monotonic())
    if session.started:
        await session.close(N_("Run again done"))
        return ngettext(
            "🔁 Replayed the {n} recorded answer, and the task runs; ikabot's menu "
            "is closed (/menu opens it).",
            "🔁 Replayed all {n} recorded answers, and the task runs; ikabot's "
            "menu is closed (/menu opens it).",
            len(steps),
        ).format(n=number(len(steps)))
    return ngettext(
        "🔁 Replayed the {n} recorded answer, but no task has started (yet): the "
        "menu is yours now (answer it, or /cancel).",
        "🔁 Replayed all {n} recorded answers, but no task has started (yet): the "
        "menu is yours now (answer it, or /cancel).",
        len(steps),
    ).format(n=number(len(steps)))
