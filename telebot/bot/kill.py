"""Stop an ikabot task from Telegram, safely (`/kill`, and the 🛑 button in /details).

ikabot's own *Kill tasks* menu sends `kill -9` with no confirmation. Here a stop takes two
steps and several checks, because a pid is only a number that the kernel hands out again:

1. `/kill <pid>` (or 🛑) answers with what it would stop and two buttons, *Stop it* and
   *Cancel*. The button carries a one-time nonce kept in telebot's database, valid
   `NONCE_TTL` seconds, bound to the process identity seen then (pid + start time) and to the
   processList entry (its `date`).
2. A press is honoured only from an owner, once, in time. Then telebot reads ikabot's data
   again and checks that the pid is still a live ikabot task entry (the same entry), that the
   process is still the very one the button was made for, that `/proc` says it is ikabot's,
   and that it runs as telebot's own user. Whatever ikabot's data says, pid 1 and telebot
   itself are never signalled (`liveness.may_signal`). It opens a pidfd *before* the last
   identity check and signals through it, so the signal cannot reach a process that took the
   pid in between.
3. The stop request is written to the database before the signal (`ControlStore.request_stop`);
   the alerter's classifier consults it, so the end is told as **stopped**, not died or killed.
   SIGTERM, then SIGKILL after `GRACE` seconds; the wait runs as a task of its own, so the bot
   keeps answering meanwhile.

telebot never writes ikabot's files: ikabot's menu drops the entry itself when it next runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User
from telegram.constants import ParseMode
from telegram.error import BadRequest

from telebot.bot import hostlabel
from telebot.bot.callbacks import Button, Kind, make, pressed
from telebot.bot.context import BotContext
from telebot.bot.replies import reply
from telebot.bot.runtime import Runtime
from telebot.i18n import N_, _, ngettext, number
from telebot.processes import liveness
from telebot.processes.watcher import pidfd_supported
from telebot.state import KillButton
from telebot.tasks.facts import facts_of
from telebot.tasks.model import Task
from telebot.views import render

log = logging.getLogger(__name__)

NONCE_TTL = 300.0  # seconds a confirmation button stays valid
GRACE = 5.0  # seconds between SIGTERM and SIGKILL
ASK, CONFIRM, CANCEL = Kind.KILL_ASK, Kind.KILL_CONFIRM, Kind.KILL_CANCEL
LIST_BUTTONS = 99  # Telegram takes at most 100 buttons a message

OFF = N_("Stopping tasks from Telegram is turned off on this machine (TELEBOT_ALLOW_KILL=0).")
NOT_OWNER = N_("Only an owner can stop tasks (TELEBOT_OWNER_IDS).")
SPENT = N_("This button has expired or was used already: send /kill <pid> again.")
USAGE = N_("Usage: /kill &lt;pid&gt;, e.g. /kill 12345, or /kill alone to pick a running task.")


# ---------------------------------------------------------------- who and what


def identity(task: Task) -> int | None:
    """The process identity recorded for a task: its start ticks since boot."""
    return task.start_ticks


def same_identity(pid: int, ticks: int) -> bool:
    """Is `pid` still the very process `ticks` was recorded for (and not a zombie)?"""
    return liveness.same_process(pid, ticks)


def same_user(pid: int) -> bool:
    """Does the process run as telebot's own user? telebot stops nobody else's processes."""
    import psutil  # at the first /kill, not at start (an idle telebot never needs it)

    try:
        return psutil.Process(pid).uids().real == os.getuid()
    except (psutil.Error, ValueError, OverflowError):
        return False


def running_task(tasks: list[Task], pid: int, started: float | None = None) -> Task | None:
    """The live ikabot task entry with this pid (and this entry date, when given)."""
    for t in tasks:
        if (
            t.pid == pid
            and t.alive
            and t.state == "running"
            and (started is None or abs(t.started - started) < 1)
        ):
            return t
    return None


def describe(task: Task) -> str:
    """'autoPirate 12345 · run 3 of 10 (2 done) · player1 s59-en' (plain text)."""
    a = task.account
    parts = [
        f"{render.clip(task.action, render.NAME_CLIP)} {task.pid}",
        render.figure(facts_of(task)),
        render.clip(a.compact, 120),
    ]
    return " · ".join(p for p in parts if p)


def callback(kind: Kind, mark: str, arg: str | int) -> str:
    return make(kind, arg, mark)


def mark_of(bot: Any) -> str:
    return hostlabel.marker(getattr(bot, "host_label", None))


# ---------------------------------------------------------------- offering a stop


async def offer(rt: Runtime, pid: int, mark: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """The confirmation for stopping `pid`, or one line saying why there is none."""
    tasks = await rt.refresh()
    task = running_task(tasks, pid)
    ident = identity(task) if task is not None else None
    if task is None or ident is None or not liveness.may_signal(pid):
        return _(
            "No running ikabot task has pid {pid} on this machine; nothing to stop. "
            "/kill lists the running ones."
        ).format(pid=pid), None
    if not same_user(pid):
        return _("pid {pid} runs as another user; telebot stops only its own user's tasks.").format(
            pid=pid
        ), None
    nonce = secrets.token_urlsafe(9)
    a = task.account
    await rt.state.run(
        rt.state.control.add_kill_button,
        KillButton(
            nonce,
            pid,
            ident,
            task.started,
            render.clip(task.action, render.NAME_CLIP),
            render.clip(a.label, 120),
            time.time() + NONCE_TTL,
            None,
        ),
    )
    minutes = round(NONCE_TTL / 60)
    text = (
        _("❓ Stop {task}?").format(task=html.escape(describe(task)))
        + "\n<i>"
        + ngettext(
            "SIGTERM, then SIGKILL after {grace} s. This button works for {n} minute.",
            "SIGTERM, then SIGKILL after {grace} s. This button works for {n} minutes.",
            minutes,
        ).format(grace=number(GRACE, digits=1), n=number(minutes))
        + "</i>"
    )
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("🛑 Stop it"), callback_data=callback(CONFIRM, mark, nonce)),
                InlineKeyboardButton(_("Cancel"), callback_data=callback(CANCEL, mark, nonce)),
            ]
        ]
    )
    return text, markup


def pick_markup(tasks: list[Task], mark: str) -> InlineKeyboardMarkup | None:
    """`/kill` alone: a button for each running task; a tap asks for the confirmation."""
    running = [t for t in tasks if t.state == "running"][:LIST_BUTTONS]
    if not running:
        return None
    buttons = [
        InlineKeyboardButton(
            f"🛑 {render.clip(t.action, 30)} {t.pid}", callback_data=callback(ASK, mark, t.pid)
        )
        for t in running
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def stop_markup(rt: Runtime, tasks: list[Task], bot: Any) -> InlineKeyboardMarkup | None:
    """A 🛑 button for each running task (none when /kill is off); a tap asks for the
    confirmation, as /kill does. Under /details, and under the alert of a task that runs
    twice."""
    running = [t for t in tasks if t.state == "running"]
    if not rt.settings.allow_kill or not running:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    _("🛑 Stop {action} {pid}").format(action=render.clip(t.action, 30), pid=t.pid),
                    callback_data=callback(ASK, mark_of(bot), t.pid),
                )
            ]
            for t in running[:LIST_BUTTONS]
        ]
    )


def details_markup(rt: Runtime, task: Task, bot: Any) -> InlineKeyboardMarkup | None:
    """The 🛑 button under /details of a running task (none when /kill is off)."""
    return stop_markup(rt, [task], bot)


async def kill_command(
    rt: Runtime, user: User | None, args: list[str], bot: Any
) -> tuple[str, InlineKeyboardMarkup | None]:
    """`/kill [pid]`: the answer's text and buttons."""
    if not rt.settings.allow_kill:
        return _(OFF), None
    if not rt.permissions.may_act(user.id if user else None):
        return _(NOT_OWNER), None
    if not args:
        tasks = await rt.refresh()
        markup = pick_markup(tasks, mark_of(bot))
        if markup is None:
            return _("No ikabot task is running on this machine."), None
        return _("Which task should stop? Tap it; you confirm on the next step."), markup
    if len(args) != 1 or not args[0].isdigit() or not 0 < int(args[0]) < 2**31:
        return _(USAGE), None
    return await offer(rt, int(args[0]), mark_of(bot))


# ---------------------------------------------------------------- stopping


@dataclass
class Stopping:
    """A stop under way: the signal went out through `fd` (a pidfd; None without pidfd)."""

    button: KillButton
    fd: int | None
    at: float
    who: str = ""


def _open_pidfd(pid: int) -> int | None:
    if not pidfd_supported():
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def _signal(stopping: Stopping, sig: signal.Signals) -> None:
    b = stopping.button
    if stopping.fd is not None:
        signal.pidfd_send_signal(stopping.fd, sig)
    elif same_identity(b.pid, b.start_ticks) and liveness.may_signal(b.pid):
        # no pidfd: check right before the signal
        os.kill(b.pid, sig)


async def begin_stop(rt: Runtime, button: KillButton, who: str) -> Stopping | str:
    """Check everything again, record the request, send SIGTERM; or say why not."""
    tasks = await rt.refresh()
    gone = _(
        "Not stopped: {action} {pid} is no longer running (it ended, or its pid now "
        "belongs to another process). Nothing was signalled."
    ).format(action=html.escape(button.action), pid=button.pid)
    if running_task(tasks, button.pid, button.started) is None:
        return gone
    fd = _open_pidfd(button.pid)
    if fd is None and pidfd_supported():
        return gone  # the process is gone already
    # after the pidfd is open, this check proves the fd is the very process of the button
    if (
        not same_identity(button.pid, button.start_ticks)
        or not same_user(button.pid)
        or not liveness.may_signal(button.pid)
    ):
        if fd is not None:
            os.close(fd)
        return gone
    now = time.time()
    # committed before the signal: the end is then told as *stopped*
    await rt.state.run(rt.state.control.request_stop, button.pid, button.start_ticks, who, now)
    stopping = Stopping(button, fd, now, who)
    try:
        _signal(stopping, signal.SIGTERM)
    except ProcessLookupError:
        pass  # it ended on its own in the meantime: the request explains nothing wrong
    except OSError as e:
        _close(stopping)
        return _("Not stopped: {action} {pid}: {why}.").format(
            action=html.escape(button.action), pid=button.pid, why=html.escape(str(e.strerror))
        )
    log.info("stopping %s %d (asked by %s)", button.action, button.pid, who)
    return stopping


def _close(stopping: Stopping) -> None:
    if stopping.fd is not None:
        os.close(stopping.fd)
        stopping.fd = None


async def _ended(stopping: Stopping, timeout: float) -> bool:
    """Wait (without blocking the event loop) until the process has ended."""
    b = stopping.button
    if stopping.fd is None:
        deadline = time.monotonic() + timeout
        while same_identity(b.pid, b.start_ticks):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def readable() -> None:  # the pidfd is readable once the process has ended
        if not done.done():
            done.set_result(True)

    loop.add_reader(stopping.fd, readable)
    try:
        return await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_reader(stopping.fd)


async def finish_stop(stopping: Stopping, grace: float | None = None) -> str:
    """SIGTERM went out: wait up to `grace` s, then SIGKILL. The result, as one line."""
    grace = GRACE if grace is None else grace
    b = stopping.button
    what = f"{html.escape(b.action)} <code>{b.pid}</code> · {html.escape(b.account)}"
    by = _(" for {who}").format(who=html.escape(stopping.who)) if stopping.who else ""
    try:
        if await _ended(stopping, grace):
            return _("🛑 Stopped {what}{by} (SIGTERM, {s} s).").format(
                what=what, by=by, s=number(time.time() - stopping.at, digits=1)
            )
        with contextlib.suppress(ProcessLookupError):
            _signal(stopping, signal.SIGKILL)
        if await _ended(stopping, grace):
            return _(
                "🛑 Stopped {what}{by}: it did not end within {grace} s of SIGTERM, so it "
                "got SIGKILL."
            ).format(what=what, by=by, grace=number(grace, digits=1))
        return _("⚠️ Sent SIGKILL to {what}, but it has not ended yet.").format(what=what)
    finally:
        _close(stopping)


async def cmd_kill(update: Update, context: BotContext) -> None:
    """/kill [pid]: a confirmation (or a pick of the running tasks); guarded where registered."""
    text, markup = await kill_command(
        context.runtime, update.effective_user, context.args or [], context.bot
    )
    await reply(context, text, markup)


# ---------------------------------------------------------------- button presses


def who(user: User | None) -> str:
    return "someone" if user is None else f"{user.full_name} ({user.id})"


async def _edit(query: Any, text: str) -> None:
    with contextlib.suppress(BadRequest):  # gone, or already says so
        await query.edit_message_text(
            text, parse_mode=ParseMode.HTML, disable_web_page_preview=True
        )


async def _may_press(update: Update, context: BotContext) -> tuple[CallbackQuery, Button] | None:
    """The checks every stop button passes (this machine's, allowed, an owner's press), or
    None once the press is answered with why not (another machine's: not answered here)."""
    query, button = pressed(update)
    rt = context.runtime
    if button.machine != mark_of(context.bot):
        return None  # another machine's button (same bot token): that telebot answers it
    if not rt.settings.allow_kill:
        await query.answer(_(OFF), show_alert=True)
        return None
    user = query.from_user
    if not rt.permissions.may_act(user.id if user else None):
        log.info("refused a stop button pressed by user %s, not an owner", user.id if user else "?")
        await query.answer(_(NOT_OWNER), show_alert=True)
        return None
    return query, button


async def on_ask(update: Update, context: BotContext) -> None:
    """🛑 under a task (its pid): what would be stopped, with Stop it and Cancel."""
    pressed_ = await _may_press(update, context)
    if pressed_ is None:
        return
    query, button = pressed_
    rt = context.runtime
    await query.answer()
    text, markup = await offer(rt, button.number, button.machine)
    await context.bot.send_message(
        rt.chat_id,
        text,
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        disable_web_page_preview=True,
    )


async def _spend(update: Update, context: BotContext) -> tuple[CallbackQuery, KillButton] | None:
    """A confirmation's nonce, used up (once, in time); None once the press is answered."""
    pressed_ = await _may_press(update, context)
    if pressed_ is None:
        return None
    query, button = pressed_
    rt = context.runtime
    kill_button = await rt.state.run(rt.state.control.use_kill_button, button.text, time.time())
    if kill_button is None:
        await query.answer(_(SPENT), show_alert=True)
        old = await rt.state.run(rt.state.control.kill_button, button.text)
        if old is not None and old.used_at is None:  # expired: take the buttons away
            await _edit(
                query,
                _("⌛ This confirmation for {action} {pid} expired; nothing was stopped.").format(
                    action=html.escape(old.action), pid=old.pid
                ),
            )
        return None
    return query, kill_button


async def on_cancel(update: Update, context: BotContext) -> None:
    """Cancel under a confirmation: nothing is stopped, and the nonce is spent."""
    spent = await _spend(update, context)
    if spent is None:
        return
    query, button = spent
    await query.answer(_("Cancelled"))
    await _edit(
        query,
        _("Cancelled: {action} {pid} keeps running.").format(
            action=html.escape(button.action), pid=button.pid
        ),
    )


async def on_confirm(update: Update, context: BotContext) -> None:
    """Stop it: the checks of `begin_stop`, SIGTERM, and the outcome in the message."""
    spent = await _spend(update, context)
    if spent is None:
        return
    query, button = spent
    result = await begin_stop(context.runtime, button, who(query.from_user))
    if isinstance(result, str):
        await query.answer(_("Not stopped"), show_alert=False)
        await _edit(query, result)
        return
    await query.answer(_("Stopping {action} {pid}…").format(action=button.action, pid=button.pid))

    async def complete() -> None:
        await _edit(query, await finish_stop(result))

    context.application.create_task(complete(), name=f"stop-{button.pid}")
