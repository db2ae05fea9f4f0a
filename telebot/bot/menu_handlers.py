"""Telegram glue for /menu, /cancel and 🔁 Run again (the session itself is `menu.session`).

Who may: an owner (`permissions.may_act`, the check /kill uses) in telebot's chat
(`permissions.in_bots_chat`). Nobody else can open a session, press its buttons or type into
it: their presses are refused, their texts are not typed. The screen is one message, edited
in place.
A reply typed while echo is off (a password) is deleted from the chat once typed, and never
logged or stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from telebot.bot.callbacks import Kind, make, pattern, pressed
from telebot.bot.menu_screen import ScreenMessage
from telebot.bot.permissions import for_actors, in_bots_chat, user_may_act
from telebot.bot.replies import reply, runtime
from telebot.bot.runtime import Runtime
from telebot.menu.launch import menu_command, menu_env
from telebot.menu.recorded import Recording, Step, from_row, to_row
from telebot.menu.replay import replay
from telebot.menu.session import GROUP_INTERVAL, MIN_INTERVAL, MenuSession, Started, View
from telebot.processes import liveness
from telebot.tasks.model import Task
from telebot.views import render

log = logging.getLogger(__name__)

OFF = "/menu is turned off on this machine (TELEBOT_ALLOW_MENU=0)."
NO_COMMAND = ("ikabot's command was not found beside telebot nor on PATH: set IKABOT_COMMAND "
              "to what starts ikabot's menu.")
BUSY = "A /menu session is open already (its screen is above); /cancel ends it."
GONE = "This /menu session has ended. /menu opens a new one."
STARTED_WAIT = 30.0  # seconds after the last replayed answer for the new task to start

# ---- button data (on the codec of `bot.callbacks`): the menu's keys and 🔁 Run again


def again_data(kind: Kind, pid: int | str, ticks: int | str) -> str:
    return make(kind, f"{pid}.{ticks}")


# ---- the manager: at most one session


@dataclass
class MenuManager:
    rt: Runtime
    bot: Any
    session: MenuSession | None = None
    screen: ScreenMessage | None = None  # the session's own message
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _replays: set[asyncio.Task[None]] = field(default_factory=set)

    # ---- recorded answers (telebot's state, through its writer thread)

    async def recording(self, pid: int, ticks: int) -> Recording | None:
        return from_row(await self.rt.state.run(self.rt.state.recordings.get, pid, ticks))

    async def newest(self, pid: int) -> Recording | None:
        return from_row(await self.rt.state.run(self.rt.state.recordings.newest, pid))

    async def again_as(self, rec: Recording) -> Recording | None:
        return from_row(await self.rt.state.run(self.rt.state.recordings.again_as, rec.pid,
                                                rec.start_ticks))

    async def recording_of(self, task: Task) -> Recording | None:
        ticks = task.start_ticks
        if ticks is None:
            row = await self.rt.state.run(self.rt.state.tracking.ended_near, task.pid,
                                          task.started)
            ticks = row.start_ticks if row is not None else None
        return await self.recording(task.pid, ticks) if ticks is not None else None

    def open_session(self) -> MenuSession | None:
        s = self.session
        return s if s is not None and not s.ended.is_set() else None

    def wants(self, update: Update) -> bool:
        """A plain text in the owner's chat while a session is open is telebot's: the poller
        hands it over (ikabot reads only the replies it waits for)."""
        message = update.message
        return (self.open_session() is not None and message is not None
                and bool(message.text) and self.rt.permissions.is_bots_chat(message.chat.id))

    async def open(self, steps: tuple[Step, ...] = (), again_of: Recording | None = None
                   ) -> str | None:
        """Start a session (replaying `steps`); or say why not."""
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
                await screen.show(session.token, session.end_reason, view)

            session = MenuSession(argv, menu_env(self.rt.settings), publish,
                                  self.rt.refresh, self._started,
                                  min_interval=GROUP_INTERVAL if group else MIN_INTERVAL)
            if again_of is not None:
                session.again_of = (again_of.pid, again_of.start_ticks)
            try:
                session.start()
            except OSError as e:
                return f"Could not start ikabot's menu ({html.escape(e.strerror or str(e))})."
            self.session, self.screen = session, screen
            log.info("menu session %s started (pid %d)", session.token, session.pid)
            self._keep(asyncio.create_task(self._watch_end(session)))
            if steps:
                self._keep(asyncio.create_task(self._replay(session, steps, again_of)))
            return None

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._replays.add(task)
        task.add_done_callback(self._replays.discard)

    async def _watch_end(self, session: MenuSession) -> None:
        await session.ended.wait()
        log.info("menu session %s ended: %s", session.token, session.end_reason)

    async def close(self, reason: str) -> bool:
        session = self.open_session()
        if session is None:
            return False
        await session.close(reason)
        return True

    async def shutdown(self) -> None:
        """telebot stops: the menu ends (its tasks do not)."""
        for task in list(self._replays):
            task.cancel()
        await self.close("telebot stopped")

    async def reshow(self) -> None:
        """A new message with the current screen (the old one scrolled away)."""
        session, screen = self.open_session(), self.screen
        if session is not None and screen is not None:
            screen.message_id = None
            await screen.show(session.token, session.end_reason, session.view())

    # ---- tasks started from the menu

    async def _started(self, session: MenuSession, started: Started) -> None:
        t = started.task
        again = session.again_of if not session.started[:-1] else None
        await self.rt.state.run(self.rt.state.recordings.add, to_row(Recording(
            started.pid, started.start_ticks, t.action, t.account.email, t.account.username,
            t.account.world, t.account.server, tuple(started.steps), time.time(), again)))
        line = (f"▶️ {html.escape(t.action)} started from /menu: pid {started.pid} "
                f"({html.escape(t.account.label)}).")
        if again:
            line += f" 🔁 Run again of pid {again[0]}."
        line += f" /details {started.pid}"
        await self.rt.refresh()  # tracked from now on
        with contextlib.suppress(TelegramError):
            await self.bot.send_message(self.rt.chat_id, line, parse_mode=ParseMode.HTML)

    # ---- 🔁 Run again

    async def _replay(self, session: MenuSession, steps: tuple[Step, ...],
                      again_of: Recording | None) -> None:
        """Replay; once the new task has started, the session ends (its work is done)."""
        outcome = await replay(session, steps)
        if outcome.done:
            deadline = time.monotonic() + STARTED_WAIT
            while not session.started and not session.ended.is_set() and \
                    time.monotonic() < deadline:
                await session.next_settle(session.generation, deadline - time.monotonic())
            if session.started:
                text = (f"🔁 Replayed all {len(steps)} recorded answers, and the task runs; "
                        "ikabot's menu is closed (/menu opens it).")
                await session.close("Run again done")
            else:
                text = (f"🔁 Replayed all {len(steps)} recorded answers, but no task has "
                        "started (yet): the menu is yours now (answer it, or /cancel).")
        else:
            text = (f"⚠️ Run again {html.escape(outcome.explain(len(steps)))}. Nothing more "
                    "was typed: the menu is yours now (answer it, or /cancel).")
        with contextlib.suppress(TelegramError):
            await self.bot.send_message(self.rt.chat_id, text, parse_mode=ParseMode.HTML)


async def details_note(rt: Runtime, app: Application,
                       task: Task) -> tuple[str, list[InlineKeyboardButton]]:
    """For /details: how the task relates to /menu, and its 🔁 button when it ended."""
    mgr: MenuManager | None = app.bot_data.get("menu")
    if mgr is None:
        return "", []
    rec = await mgr.recording_of(task)
    if rec is None:
        return "", []
    lines = [f"Started from /menu with {len(rec.steps)} recorded answers."]
    if rec.again_of:
        lines.append(f"🔁 Run again of pid {rec.again_of[0]}.")
    later = await mgr.again_as(rec)
    if later is not None:
        lines.append(f"Run again as pid {later.pid}: /details {later.pid}")
    buttons = []
    if task.state != "running" and rt.settings.allow_menu:
        buttons.append(InlineKeyboardButton(
            "🔁 Run again", callback_data=again_data(Kind.AGAIN_ASK, rec.pid, rec.start_ticks)))
    return "\n".join(lines), buttons


async def gone_details(rt: Runtime, app: Application,
                       pid: int) -> tuple[str, InlineKeyboardMarkup | None] | None:
    """/details of a task started from /menu whose entry ikabot dropped since it ended."""
    mgr: MenuManager | None = app.bot_data.get("menu")
    rec = await mgr.newest(pid) if mgr is not None else None
    if mgr is None or rec is None or liveness.same_process(rec.pid, rec.start_ticks):
        return None
    lines = [f"<b>{html.escape(rec.action)}</b> {pid} · {html.escape(rec.username)} "
             f"(s{html.escape(rec.world)}-{html.escape(rec.server)}) has ended; ikabot's menu "
             f"has dropped its entry. It was started from /menu with {len(rec.steps)} "
             "recorded answers."]
    if rec.again_of:
        lines.append(f"🔁 Run again of pid {rec.again_of[0]}.")
    later = await mgr.again_as(rec)
    if later is not None:
        lines.append(f"Run again as pid {later.pid}: /details {later.pid}")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton(
        "🔁 Run again", callback_data=again_data(Kind.AGAIN_ASK, rec.pid, rec.start_ticks))]]) \
        if rt.settings.allow_menu else None
    return "\n".join(lines), markup


def alert_markup(app: Application, dedup_key: str) -> str | None:
    """The 🔁 button under a task's end alert (`end:<pid>:<ticks>`), when it has answers:
    JSON, as the outbox keeps an alert's buttons. Runs on the state's writer thread (the
    outbox's sender calls it there)."""
    mgr: MenuManager | None = app.bot_data.get("menu")
    kind, _, rest = dedup_key.partition(":")
    pid, _, ticks = rest.partition(":")
    if mgr is None or kind != "end" or not (pid.isdigit() and ticks.isdigit()) or \
            not mgr.rt.settings.allow_menu:
        return None
    rec = from_row(mgr.rt.state.recordings.get(int(pid), int(ticks)))
    if rec is None:
        return None
    # named: in a storm the message tells of several tasks, the button is for this one
    return json.dumps(InlineKeyboardMarkup([[InlineKeyboardButton(
        f"🔁 Run again: {render.clip(rec.action, 30)} {pid}",
        callback_data=again_data(Kind.AGAIN_ASK, pid, ticks))]]).to_dict())


# ---- handlers


def manager(context: ContextTypes.DEFAULT_TYPE) -> MenuManager:
    return context.application.bot_data["menu"]


@in_bots_chat
@for_actors
async def cmd_menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    mgr = manager(context)
    problem = await mgr.open()
    if problem == BUSY:
        await mgr.reshow()
    if problem:
        await reply(context, problem)


@in_bots_chat
@for_actors
async def cmd_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await manager(context).close("ended with /cancel"):
        await reply(context, "No /menu session is open.")


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The owner's reply, typed into the open session. Nobody else's; never logged."""
    mgr = manager(context)
    session = mgr.open_session()
    message = update.message
    user = update.effective_user
    if session is None or message is None or message.text is None:
        return
    if not mgr.rt.permissions.is_bots_chat(message.chat.id) or \
            not user_may_act(update, context):
        log.info("a text from user %s was not typed into the menu: not an owner",
                 user.id if user else "?")
        return
    secret = session.answer(message.text, "text")
    if secret:
        try:
            await message.delete()
        except TelegramError as e:
            log.warning("could not delete an echo-off reply from the chat: %s",
                        type(e).__name__)
            await reply(context, "⚠️ Delete your last message yourself: telebot could not "
                                 "(it was typed with echo off, e.g. a password).")


@in_bots_chat
@for_actors
async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, button = pressed(update)  # the pattern took only these kinds
    rt = runtime(context)
    mgr = manager(context)
    if button.kind is Kind.MENU_KEY:
        pair = button.pair
        session = mgr.open_session()
        if session is None or session.token != pair[0]:
            await query.answer(GONE, show_alert=True)
            return
        key = pair[1]
        if key == "x":
            await query.answer("Ending the session")
            await mgr.close("ended from Telegram")
        elif key == "e":
            session.answer("", "enter")
            await query.answer("⏎")
        elif key.isdigit() and int(key) not in {c.number for c in session.view().question.choices}:
            await query.answer(f"({key}) is not on the screen any more.", show_alert=True)
        elif key.isdigit():
            session.answer(key, "choice")
            await query.answer(f"({key})")
        else:
            await query.answer()
    elif button.kind in (Kind.AGAIN_ASK, Kind.AGAIN_RUN):
        pair = button.pair
        rec = await mgr.recording(int(pair[0]), int(pair[1]))
        if rec is None or not rt.settings.allow_menu:
            await query.answer("Nothing recorded to run again." if rec is None else OFF,
                               show_alert=True)
            return
        if button.kind is Kind.AGAIN_ASK:
            await query.answer()
            text, markup = await confirmation(rt, rec)
            await reply(context, text, markup)
            return
        await query.answer("Starting ikabot's menu")
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)
        problem = await mgr.open(rec.steps, rec)
        if problem:
            await reply(context, problem)
    elif button.kind is Kind.AGAIN_CANCEL:
        await query.answer("Not run again")
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)
    else:
        await query.answer()


async def confirmation(rt: Runtime, rec: Recording) -> tuple[str, InlineKeyboardMarkup]:
    """The recorded answers, and a warning when the same action runs on that account."""
    same = [t for t in await rt.refresh() if t.state == "running" and t.action == rec.action
            and (t.account.username, t.account.world, t.account.server) == rec.account_key]
    lines = [f"🔁 Run {html.escape(rec.action)} again (was pid {rec.pid}) on "
             f"{html.escape(rec.username)} (s{html.escape(rec.world)}-"
             f"{html.escape(rec.server)})? ikabot's menu opens here and gets these answers, "
             "each only if it asks the same question as before:"]
    for i, step in enumerate(rec.steps, 1):
        asked = step.question.prompt.splitlines()[0] if step.question.prompt else ""
        lines.append(f"{i}. {html.escape(render.clip(asked, 50))} → "
                     f"{html.escape(render.clip(step.describe(), 50))}")
    if same:
        pids = ", ".join(str(t.pid) for t in same)
        lines.append(f"⚠️ {html.escape(rec.action)} already runs on that account (pid {pids}).")
    markup = InlineKeyboardMarkup([[
        InlineKeyboardButton("🔁 Run it",
                             callback_data=again_data(Kind.AGAIN_RUN, rec.pid, rec.start_ticks)),
        InlineKeyboardButton("Cancel", callback_data=make(Kind.AGAIN_CANCEL, rec.pid))]])
    return "\n".join(lines), markup


def add_handlers(app: Application) -> None:
    """Before the general handlers: these take their commands, buttons and texts first."""
    app.add_handler(CommandHandler("menu", cmd_menu))
    app.add_handler(CommandHandler("cancel", cmd_cancel))
    app.add_handler(CallbackQueryHandler(on_button, pattern=pattern(
        Kind.MENU_KEY, Kind.AGAIN_ASK, Kind.AGAIN_RUN, Kind.AGAIN_CANCEL)))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))


def attach(app: Application, rt: Runtime) -> MenuManager:
    mgr = MenuManager(rt, app.bot)
    app.bot_data["menu"] = mgr
    return mgr
