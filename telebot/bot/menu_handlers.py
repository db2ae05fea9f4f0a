"""Telegram glue for /menu, /cancel and 🔁 Run again (the session itself is `menu.session`,
its manager `bot.menu_manager`); registered, with every other handler, in `bot.handlers`.

Who may: an owner (`permissions.may_act`, the check /kill uses) in telebot's chat
(`permissions.in_bots_chat`). Nobody else can open a session, press its buttons or type into
it: their presses are refused, their texts are not typed. The screen is one message, edited
in place.
A reply typed while echo is off (a password) is deleted from the chat once typed, and never
logged or stored.
"""

from __future__ import annotations

import contextlib
import html
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from telebot.bot import fallbacks
from telebot.bot.callbacks import Kind, make, pressed
from telebot.bot.context import BotContext
from telebot.bot.menu_manager import BUSY, OFF, MenuManager
from telebot.bot.menu_screen import key_of
from telebot.bot.permissions import for_actors, in_bots_chat, user_may_act
from telebot.bot.replies import reply
from telebot.bot.runtime import Runtime
from telebot.i18n import N_, _, ngettext, number
from telebot.menu.recorded import Recording, StepKind
from telebot.menu.session import ANSWERED, NOT_READING, press_refusal
from telebot.processes import liveness
from telebot.state import AgainButton
from telebot.tasks import twin_guard
from telebot.tasks.model import Task
from telebot.views import render

log = logging.getLogger(__name__)

GONE = N_("This /menu session has ended. /menu opens a new one.")
AGAIN_TTL = 300.0  # seconds a 🔁 Run it stays valid (as /kill's confirmation)
AGAIN_SPENT = N_(
    "This 🔁 Run it has expired or was used already: press 🔁 Run again for a new one."
)
clock: Callable[[], float] = time.time  # the buttons' clock (a test moves it on)

# ---- button data (on the codec of `bot.callbacks`): the menu's keys and 🔁 Run again


def again_data(kind: Kind, pid: int | str, ticks: int | str) -> str:
    return make(kind, f"{pid}.{ticks}")


async def details_note(
    mgr: MenuManager | None, task: Task
) -> tuple[str, list[InlineKeyboardButton]]:
    """For /details: how the task relates to /menu, and its 🔁 button when it ended."""
    if mgr is None:
        return "", []
    rec = await mgr.recording_of(task)
    if rec is None:
        return "", []
    lines = [
        ngettext(
            "Started from /menu with {n} recorded answer.",
            "Started from /menu with {n} recorded answers.",
            len(rec.steps),
        ).format(n=number(len(rec.steps)))
    ]
    lines += await _lineage(mgr, rec)
    buttons = []
    if task.state != "running" and mgr.rt.settings.allow_menu:
        buttons.append(
            InlineKeyboardButton(
                _("🔁 Run again"),
                callback_data=again_data(Kind.AGAIN_ASK, rec.pid, rec.start_ticks),
            )
        )
    return "\n".join(lines), buttons


async def gone_details(
    mgr: MenuManager | None, pid: int
) -> tuple[str, InlineKeyboardMarkup | None] | None:
    """/details of a task started from /menu whose entry ikabot dropped since it ended."""
    rec = await mgr.newest(pid) if mgr is not None else None
    if mgr is None or rec is None or liveness.same_process(rec.pid, rec.start_ticks):
        return None
    lines = [
        ngettext(
            "<b>{action}</b> {pid} · {account} has ended; ikabot's menu has dropped "
            "its entry. It was started from /menu with {n} recorded answer.",
            "<b>{action}</b> {pid} · {account} has ended; ikabot's menu has dropped "
            "its entry. It was started from /menu with {n} recorded answers.",
            len(rec.steps),
        ).format(
            action=html.escape(rec.action),
            pid=pid,
            account=html.escape(rec.account.label),
            n=number(len(rec.steps)),
        )
    ]
    lines += await _lineage(mgr, rec)
    markup = (
        InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        _("🔁 Run again"),
                        callback_data=again_data(Kind.AGAIN_ASK, rec.pid, rec.start_ticks),
                    )
                ]
            ]
        )
        if mgr.rt.settings.allow_menu
        else None
    )
    return "\n".join(lines), markup


async def _lineage(mgr: MenuManager, rec: Recording) -> list[str]:
    """Which task this one ran again, and which ran it again (for /details)."""
    lines = []
    if rec.again_of:
        lines.append(_("🔁 Run again of pid {pid}.").format(pid=rec.again_of[0]))
    later = await mgr.again_as(rec)
    if later is not None:
        lines.append(_("Run again as pid {pid}: /details {pid}").format(pid=later.pid))
    return lines


def again_row(mgr: MenuManager | None, rec: Recording) -> list[dict[str, Any]] | None:
    """The 🔁 button's row under the end alert of a task with answers (`rec`), as the outbox
    keeps an alert's buttons (`keepalive_commands.alert_buttons` adds ♻️); None while /menu
    is off. Runs on the state's writer thread, in the end's transaction."""
    if mgr is None or not mgr.rt.settings.allow_menu:
        return None
    # named: in a storm the message tells of several tasks, the button is for this one
    button = InlineKeyboardButton(
        _("🔁 Run again: {action} {pid}").format(action=render.clip(rec.action, 30), pid=rec.pid),
        callback_data=again_data(Kind.AGAIN_ASK, rec.pid, rec.start_ticks),
    )
    return [button.to_dict()]


# ---- handlers (registered in `bot.handlers`)


@in_bots_chat
@for_actors
async def cmd_menu(update: Update, context: BotContext) -> None:
    mgr = context.menu
    problem = await mgr.open()
    if problem == BUSY:
        await mgr.reshow()
    if problem:
        await reply(context, _(problem))


@in_bots_chat
@for_actors
async def cmd_cancel(update: Update, context: BotContext) -> None:
    if not await context.menu.close(N_("ended with /cancel")):
        await reply(context, _("No /menu session is open."))


async def on_text(update: Update, context: BotContext) -> None:
    """The owner's reply, typed into the open session. Nobody else's; never logged."""
    mgr = context.menu
    session = mgr.open_session()
    message = update.message
    user = update.effective_user
    if message is None or message.text is None:
        return
    if session is None:
        await fallbacks.on_plain_text(update, context)
        return
    if not mgr.rt.permissions.is_bots_chat(message.chat.id) or not user_may_act(update, context):
        log.info(
            "a text from user %s was not typed into the menu: not an owner",
            user.id if user else "?",
        )
        return
    typed = session.answer(message.text, StepKind.TEXT)
    if not typed.typed:
        await reply(context, _(NOT_READING))
    if typed.echo_off:
        try:
            await message.delete()
        except TelegramError as e:
            log.warning("could not delete an echo-off reply from the chat: %s", type(e).__name__)
            await reply(
                context,
                _(
                    "⚠️ Delete your last message yourself: telebot could not "
                    "(it was typed with echo off, e.g. a password)."
                ),
            )


@in_bots_chat
@for_actors
async def on_menu_key(update: Update, context: BotContext) -> None:
    """A key under the menu's screen: a choice, ⏎ or ✖ (the codec allows only these)."""
    query, button = pressed(update)
    mgr = context.menu
    first, key = button.pair
    token, screen = key_of(first)
    session = mgr.open_session()
    if session is None or session.token != token or screen < 0:
        await query.answer(_(GONE), show_alert=True)
        return
    if key == "x":
        await query.answer(_("Ending the session"))
        await mgr.close(N_("ended from Telegram"))
        return
    refusal = press_refusal(session, screen, key)
    if refusal is not None:  # another screen, or answered already: nothing typed
        await query.answer(_(refusal).format(key=key), show_alert=refusal != ANSWERED)
        return
    kind = StepKind.ENTER if key == "e" else StepKind.CHOICE
    typed = session.answer("" if key == "e" else key, kind)
    shown = "⏎" if key == "e" else f"({key})"
    await query.answer(shown if typed.typed else _(NOT_READING), show_alert=not typed.typed)


async def _pressed_recording(
    update: Update, context: BotContext
) -> tuple[CallbackQuery, Recording] | None:
    """The recording a 🔁 button names, or None once the press is answered with why not."""
    query, button = pressed(update)
    pid, ticks = button.pair
    rec = await context.menu.recording(int(pid), int(ticks))
    if rec is None or not context.runtime.settings.allow_menu:
        await query.answer(
            _("Nothing recorded to run again.") if rec is None else _(OFF), show_alert=True
        )
        return None
    return query, rec


@in_bots_chat
@for_actors
async def on_again_ask(update: Update, context: BotContext) -> None:
    """🔁 Run again: the recorded answers, to confirm."""
    found = await _pressed_recording(update, context)
    if found is None:
        return
    query, rec = found
    await query.answer()
    text, markup = await confirmation(context.runtime, rec)
    await reply(context, text, markup)


@in_bots_chat
@for_actors
async def on_again_run(update: Update, context: BotContext) -> None:
    """🔁 Run it: its nonce spent (once, in time), then a session that replays the recorded
    answers; the duplicate check is made again before each answer is typed (`twin_guard`)."""
    query, button = pressed(update)
    rt = context.runtime
    if not rt.settings.allow_menu:
        await query.answer(_(OFF), show_alert=True)
        return
    spent = await rt.state.run(rt.state.control.use_again_button, button.text, clock())
    rec = None if spent is None else await context.menu.recording(spent.pid, spent.start_ticks)
    if spent is None or rec is None:
        await query.answer(_(AGAIN_SPENT), show_alert=True)
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)
        return
    await query.answer(_("Starting ikabot's menu"))
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)
    problem = await context.menu.open(rec.steps, rec, spent.seen)
    if problem:
        await reply(context, _(problem))


@in_bots_chat
@for_actors
async def on_again_cancel(update: Update, context: BotContext) -> None:
    query, _button = pressed(update)
    await query.answer(_("Not run again"))
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)


async def confirmation(rt: Runtime, rec: Recording) -> tuple[str, InlineKeyboardMarkup]:
    """The recorded answers, a warning when the same action runs on that account, and a
    one-time 🔁 Run it valid `AGAIN_TTL` seconds (the copies warned of are acknowledged by
    pressing it; one that starts since stops the replay)."""
    same = twin_guard.twins(await rt.refresh(), rec.action, rec.account)
    lines = [
        _(
            "🔁 Run {action} again (was pid {pid}) on {account}? ikabot's menu opens here "
            "and gets these answers, each only if it asks the same question as before:"
        ).format(
            action=html.escape(rec.action), pid=rec.pid, account=html.escape(rec.account.label)
        )
    ]
    for i, step in enumerate(rec.steps, 1):
        asked = step.question.prompt.splitlines()[0] if step.question.prompt else ""
        lines.append(
            f"{i}. {html.escape(render.clip(asked, 50))} → "
            f"{html.escape(render.clip(step.describe(), 50))}"
        )
    if same:
        pids = ", ".join(str(t.pid) for t in same)
        lines.append(
            _("⚠️ {action} already runs on that account (pid {pids}).").format(
                action=html.escape(rec.action), pids=pids
            )
        )
    minutes = round(AGAIN_TTL / 60)
    lines.append(
        "<i>"
        + ngettext(
            "This button works once, for {n} minute.",
            "This button works once, for {n} minutes.",
            minutes,
        ).format(n=number(minutes))
        + "</i>"
    )
    nonce = secrets.token_urlsafe(9)
    await rt.state.run(
        rt.state.control.add_again_button,
        AgainButton(
            nonce,
            rec.pid,
            rec.start_ticks,
            " ".join(twin_guard.identity_of(t) for t in same),
            clock() + AGAIN_TTL,
            None,
        ),
    )
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("🔁 Run it"), callback_data=make(Kind.AGAIN_RUN, nonce)),
                InlineKeyboardButton(_("Cancel"), callback_data=make(Kind.AGAIN_CANCEL, rec.pid)),
            ]
        ]
    )
    return "\n".join(lines), markup
