"""Command and button handlers. Only the owner's chat gets an answer with data.

Every handler reads ikabot's data afresh (a /status is worth a 10 ms read) and renders it with
`render`; nothing here formats ikabot text itself, so escaping lives in one place.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from telebot import render
from telebot.alerts.alerter import SWITCHES
from telebot.bot import control
from telebot.bot.jobs import schedule_report
from telebot.bot.runtime import Runtime
from telebot.detailsview import details_html

log = logging.getLogger(__name__)

COMMANDS = {
    "start": "what telebot does",
    "help": "the commands",
    "status": "every ikabot task, with progress",
    "webserver": "URLs of running ikabot web servers",
    "details": "everything about one task: /details <pid>",
    "report": "scheduled progress report: /report [minutes|off]",
    "alerts": "which alerts you get (died, finished, stalled)",
    "mute": "hold non-urgent alerts: /mute <minutes>",
    "kill": "stop a task, after a confirmation: /kill <pid>",
}
CALLBACK_PREFIX = "tb:"
NOT_AUTHORISED = "Sorry, this bot answers only its owner."
NOT_AN_OWNER = ("Only an owner can change this (TELEBOT_OWNER_IDS on the machine running "
                "telebot).")
REPLY_RETRIES = 3
DETAIL_BUTTONS_PER_PAGE = 99  # Telegram takes at most 100 buttons; one is Refresh

HELP = (
    "<b>telebot</b> watches the tasks ikabot runs for you (autoPirate, webServer, "
    "constructionList, …) and tells you here when one dies, finishes or stalls.\n\n"
    + "\n".join(f"/{name}: {html.escape(desc)}" for name, desc in COMMANDS.items())
)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    return context.application.bot_data["runtime"]


def owner_only(handler: Handler) -> Handler:
    """Anyone else gets at most the fixed line, and is logged without their text."""

    async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        rt = runtime(context)
        chat = update.effective_chat
        if chat is not None and rt.is_owner(chat.id):
            await handler(update, context)
            return
        log.info("ignored an update from chat %s (%s) that is not the owner's",
                 chat.id if chat else "?", chat.type if chat else "?")
        if update.callback_query:
            await update.callback_query.answer(NOT_AUTHORISED)
        elif chat is not None and chat.type == "private" and update.effective_message and \
                rt.tell_stranger(chat.id):
            await update.effective_message.reply_text(NOT_AUTHORISED)

    return wrapped


def changes(handler: Handler) -> Handler:
    """For commands that change something: in a group, only TELEBOT_OWNER_IDS may."""

    async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if runtime(context).may_change(user.id if user else None):
            await handler(update, context)
            return
        log.info("refused a change asked by user %s, not an owner", user.id if user else "?")
        await send(context, NOT_AN_OWNER)

    return wrapped


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Only what is recent, never an edit: telebot answers the commands sent while it runs.

    Long polling (dedicated mode) would otherwise answer commands Telegram kept for up to 24 h
    while telebot was down, all at once, and run a command again when its message is edited.
    The shared-token poller applies the same rule before the dispatcher.
    """
    if update.edited_message is not None or update.edited_channel_post is not None:
        raise ApplicationHandlerStop
    message = update.message or update.channel_post
    if message is not None and message.date is not None and \
            message.date.timestamp() < runtime(context).started_at - 1:
        log.info("ignored a command sent before telebot started (update %s)", update.update_id)
        raise ApplicationHandlerStop


async def reply(context: ContextTypes.DEFAULT_TYPE, text: str,
                markup: InlineKeyboardMarkup | None = None) -> None:
    """Send one message to the owner, riding out a brief Bot API hiccup (5xx, a reset).

    429 is handled by the rate limiter; errors Telegram means (400, 403) are not retried.
    """
    for attempt in range(REPLY_RETRIES + 1):
        try:
            await context.bot.send_message(runtime(context).chat_id, text,
                                           parse_mode=ParseMode.HTML, reply_markup=markup,
                                           disable_web_page_preview=True)
            return
        except (BadRequest, Forbidden):
            raise
        except (TimedOut, NetworkError):
            if attempt == REPLY_RETRIES:
                raise
            await asyncio.sleep(0.5 * 2**attempt)


async def send(context: ContextTypes.DEFAULT_TYPE, text: str,
               markup: InlineKeyboardMarkup | None = None) -> None:
    for chunk in render.split_message(text):
        await reply(context, chunk, markup)


@owner_only
async def cmd_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await send(context, HELP)


def _detail_rows(tasks: list[Any]) -> list[list[InlineKeyboardButton]]:
    buttons = [InlineKeyboardButton(f"🔎 {render.clip(t.action, 30)} {t.pid}",
                                    callback_data=f"{CALLBACK_PREFIX}d:{t.pid}")
               for t in tasks[:DETAIL_BUTTONS_PER_PAGE]]
    return [buttons[i:i + 3] for i in range(0, len(buttons), 3)]


def status_markup(page: int, view: render.StatusPage) -> InlineKeyboardMarkup:
    """Refresh for this page, a details button for each task shown on it, and (on the last
    page) the list of stopped tasks."""
    rows = _detail_rows(view.tasks)
    last = [InlineKeyboardButton("🔄 Refresh", callback_data=f"{CALLBACK_PREFIX}r:{page}")]
    if view.stopped:
        last.append(InlineKeyboardButton(f"⏹ Not running ({view.stopped})",
                                         callback_data=f"{CALLBACK_PREFIX}e:0"))
    rows.append(last)
    return InlineKeyboardMarkup(rows)


def stopped_markup(page: int, view: render.StatusPage) -> InlineKeyboardMarkup:
    rows = _detail_rows(view.tasks)
    pages = max(1, -(-view.stopped // render.STOPPED_PER_PAGE))
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=f"{CALLBACK_PREFIX}n:{page - 1}"))
    if page + 1 < pages:
        nav.append(InlineKeyboardButton("▶", callback_data=f"{CALLBACK_PREFIX}n:{page + 1}"))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


@owner_only
async def cmd_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    tasks = await rt.tasks()
    for i, view in enumerate(render.status_view(tasks, warnings=rt.warnings,
                                                 email=not rt.group_chat)):
        await reply(context, view.text, status_markup(i, view))


@owner_only
async def cmd_webserver(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await send(context, render.webserver_html(await runtime(context).tasks()))


def _find(tasks: list[Any], pid: int) -> Any:
    """The live task with this pid, else the newest entry that had it."""
    matches = [t for t in tasks if t.pid == pid]
    alive = [t for t in matches if t.alive]
    return (alive or sorted(matches, key=lambda t: t.started))[-1] if matches else None


@owner_only
async def cmd_details(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    if len(args) != 1 or not args[0].isdigit():
        await send(context, "Usage: /details &lt;pid&gt;, e.g. /details 12345 "
                            "(the pids are in /status)")
        return
    await _send_details(context, int(args[0]))


async def _send_details(context: ContextTypes.DEFAULT_TYPE, pid: int) -> None:
    task = _find(await runtime(context).tasks(), pid)
    if task is None:
        await send(context, f"No ikabot task with pid {pid}. /status lists them.")
        return
    rt = runtime(context)
    await send(context, details_html(task, history=_history(rt, task)),
               control.details_markup(rt, task, context.bot))


def _history(rt: Runtime, task: Any) -> list[tuple[float, str]]:
    """The status changes telebot saw this task make (an ended one's too)."""
    if task.history:
        return list(task.history)
    ticks = task.start_ticks
    if ticks is None:
        row = rt.state.ended_near(task.pid, task.started)
        ticks = row.start_ticks if row is not None else None
    return rt.state.status_history(task.pid, ticks) if ticks is not None else []


@owner_only
async def cmd_kill(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    text, markup = await control.kill_command(runtime(context), update.effective_user,
                                              context.args or [], context.bot)
    await reply(context, text, markup)


@owner_only
async def cmd_report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    args = context.args or []
    if not args:
        minutes = rt.state.get("report_minutes", rt.settings.report_minutes)
        now = "off" if not minutes else f"every {minutes:g} minutes (when progress changed)"
        await send(context, f"Progress report: {now}.\nChange it with /report &lt;minutes&gt; "
                            "or /report off.")
        return
    user = update.effective_user
    if not rt.may_change(user.id if user else None):
        await send(context, NOT_AN_OWNER)
        return
    word = args[0].lower()
    try:
        minutes = 0.0 if word in ("off", "0") else float(word)
        if not 1 <= minutes <= 7 * 24 * 60 and minutes != 0:
            raise ValueError
    except ValueError:
        await send(context, "Usage: /report &lt;minutes from 1 to 10080&gt; or /report off")
        return
    rt.state.set("report_minutes", minutes)
    schedule_report(context.application, minutes)
    await send(context, "Progress report off." if not minutes else
               f"Progress report every {minutes:g} minutes, when some progress changed.")


def alert_switches(rt: Runtime) -> dict[str, bool]:
    """The switches as they act: *stalled* is off while TELEBOT_STALL_MINUTES is unset,
    whatever was chosen."""
    kinds = rt.state.alert_kinds()
    return {k: on and (k != "stalled" or bool(rt.settings.stall_minutes))
            for k, on in kinds.items()}


def alerts_markup(kinds: dict[str, bool]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(f"{'✅' if on else '⬜'} {kind}",
                             callback_data=f"{CALLBACK_PREFIX}a:{kind}")
        for kind, on in kinds.items()]])


def alerts_text(rt: Runtime) -> str:
    kinds = alert_switches(rt)
    lines = ["<b>Alerts</b> (tap to switch):"]
    lines += [f"{'✅' if on else '⬜'} {kind}: {html.escape(SWITCHES.get(kind, kind))}"
              for kind, on in kinds.items()]
    mute = rt.state.mute_until()
    if mute > time.time():
        lines.append(f"🔕 muted for {render.fmt_age(mute - time.time())} more (deaths still "
                     "come through); /mute 0 to unmute")
    stall = rt.settings.stall_minutes
    lines.append(f"Stall alerts after {stall:g} min without change." if stall else
                 "Stall alerts are off: TELEBOT_STALL_MINUTES is not set on the machine running "
                 "telebot.")
    return "\n".join(lines)


@owner_only
async def cmd_alerts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    await reply(context, alerts_text(rt), alerts_markup(alert_switches(rt)))


@owner_only
@changes
async def cmd_mute(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    args = context.args or []
    try:
        minutes = float(args[0]) if len(args) == 1 else -1
        if not 0 <= minutes <= 7 * 24 * 60:
            raise ValueError
    except ValueError:
        await send(context, "Usage: /mute &lt;minutes&gt; (0 unmutes). Deaths always come "
                            "through.")
        return
    rt.state.set_mute_until(time.time() + minutes * 60 if minutes else 0.0)
    if rt.alerter:
        rt.alerter.wake()
    await send(context, f"🔕 Finished and stalled alerts held for {minutes:g} minutes; deaths "
                        "still come through." if minutes else "🔔 Alerts unmuted.")


@owner_only
async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    data = (query.data or "")[len(CALLBACK_PREFIX):]
    rt = runtime(context)
    kind, _, arg = data.partition(":")
    if kind == "e" and arg.isdigit():  # from /status: the list, as a message of its own
        await query.answer()
        view = render.stopped_page(await rt.tasks(), int(arg))
        await reply(context, view.text, stopped_markup(int(arg), view))
    elif kind in ("r", "n") and arg.isdigit() and query.message is not None:
        tasks = await rt.tasks()
        page = int(arg)
        if kind == "r":
            views = render.status_view(tasks, warnings=rt.warnings, email=not rt.group_chat)
            view = views[page] if page < len(views) else render.StatusPage(
                "(fewer tasks now: see the pages above)", [])
            markup = status_markup(page, view)
        else:
            view = render.stopped_page(tasks, page)
            markup = stopped_markup(page, view)
        try:
            await query.edit_message_text(view.text, parse_mode=ParseMode.HTML,
                                          reply_markup=markup, disable_web_page_preview=True)
            await query.answer("Refreshed" if kind == "r" else None)
        except BadRequest as e:
            if "not modified" not in e.message.lower():
                raise
            await query.answer("Already up to date")
    elif kind == "d" and arg.isdigit():
        await query.answer()
        await _send_details(context, int(arg))
    elif kind in control.BUTTON_KINDS:
        await control.on_press(query, rt, context.application, kind, arg)
    elif kind == "a" and not rt.may_change(query.from_user.id if query.from_user else None):
        await query.answer(NOT_AN_OWNER, show_alert=True)
    elif kind == "a" and arg == "stalled" and not rt.settings.stall_minutes:
        await query.answer("Stall alerts need TELEBOT_STALL_MINUTES on the machine running "
                           "telebot.", show_alert=True)
    elif kind == "a" and arg in rt.state.alert_kinds():
        rt.state.set_alert_kind(arg, not rt.state.alert_kinds()[arg])
        await query.edit_message_text(alerts_text(rt), parse_mode=ParseMode.HTML,
                                      reply_markup=alerts_markup(alert_switches(rt)))
        await query.answer()
    else:
        await query.answer()


async def on_other_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command no handler took: the owner gets a hint, strangers at most the fixed line."""
    await owner_only(_unknown_command)(update, context)


async def _unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None or not message.text:
        return
    word = message.text.split(maxsplit=1)[0]
    command, _, mention = word.partition("@")
    if mention and mention.lower() != (context.bot.username or "").lower():
        return  # another bot's command
    if update.effective_chat and update.effective_chat.type != "private" and not mention:
        return  # a bare command in a group may be another bot's: only ours get a hint
    await send(context, f"I don't know {render.field(command, 40)}. /help lists what I can do.")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    from telebot.logsafe import redact

    log.warning("handler error: %s: %s", type(context.error).__name__,
                redact(str(context.error)))


def add_handlers(app: Application) -> None:
    app.add_handler(TypeHandler(Update, gate), group=-2)
    for name, fn in (("start", cmd_help), ("help", cmd_help), ("status", cmd_status),
                     ("webserver", cmd_webserver), ("details", cmd_details),
                     ("report", cmd_report), ("alerts", cmd_alerts), ("mute", cmd_mute),
                     ("kill", cmd_kill)):
        app.add_handler(CommandHandler(name, fn))
    app.add_handler(CallbackQueryHandler(on_button, pattern=f"^{CALLBACK_PREFIX}"))
    app.add_handler(MessageHandler(filters.COMMAND, on_other_command))
    app.add_error_handler(on_error)


def bot_commands() -> list[BotCommand]:
    return [BotCommand(name, desc) for name, desc in COMMANDS.items()]
