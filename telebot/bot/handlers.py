"""Command and button handlers. Only the owner's chat gets an answer with data.

Every handler reads ikabot's data afresh (a /status is worth a 10 ms read) and renders it with
`render`; nothing here formats ikabot text itself, so escaping lives in one place.
"""

from __future__ import annotations

import html
import logging
import time
import traceback
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TimedOut
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

from telebot.alerts.alerter import SWITCHES
from telebot.alerts.telegram_errors import refusal
from telebot.bot import kill
from telebot.bot.callbacks import Kind, is_ours, make, pattern, pressed
from telebot.bot.jobs import schedule_report
from telebot.bot.ordering import MEMBER_ANSWERS_PER_MINUTE, Verdict
from telebot.bot.permissions import NOT_AN_OWNER, Handler, for_actors, in_bots_chat, user_may_act
from telebot.bot.poller import is_ikabot_setup
from telebot.bot.replies import reply, runtime, send
from telebot.bot.runtime import Runtime
from telebot.logsafe import redact
from telebot.views import render
from telebot.views.page import details_html

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
    "menu": "ikabot's own menu, here (owners only); /cancel ends it",
    "cancel": "end the /menu session",
}
OLD_BUTTON = "This button is from an older telebot: send the command again."
DETAIL_BUTTONS_PER_PAGE = 99  # Telegram takes at most 100 buttons; one is Refresh

# commands a setting turns off: /help and Telegram's command list leave them out then
_SWITCHED = {"kill": ("allow_kill",), "menu": ("allow_menu",), "cancel": ("allow_menu",)}


def commands_for(settings: Any) -> dict[str, str]:
    """The commands this telebot answers, as its settings allow."""
    return {name: desc for name, desc in COMMANDS.items()
            if all(getattr(settings, flag, True) for flag in _SWITCHED.get(name, ()))}


def help_text(settings: Any = None) -> str:
    return ("<b>telebot</b> watches the tasks ikabot runs for you (autoPirate, webServer, "
            "constructionList, …) and tells you here when one dies, finishes or stalls.\n\n"
            + "\n".join(f"/{name}: {html.escape(desc)}"
                         for name, desc in commands_for(settings).items()))


HELP = help_text()

async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Only what is recent, never an edit: telebot answers the commands sent while it runs.

    Long polling (dedicated mode) would otherwise answer commands Telegram kept for up to 24 h
    while telebot was down, all at once, and run a command again when its message is edited.
    The shared-token poller applies the same rule before the dispatcher. ikabot's own
    set-up command `/ikabot NNNN` is ikabot's: never answered (the shared-token poller does
    not even hand it over, nor confirm it).
    """
    if update.edited_message is not None or update.edited_channel_post is not None:
        raise ApplicationHandlerStop
    message = update.message or update.channel_post
    if message is not None and is_ikabot_setup(message.text):
        if context.application.updater is not None and context.application.updater.running:
            # long polling has confirmed it already: ikabot's set-up cannot see it
            log.warning("ikabot's set-up command /ikabot reached TELEBOT_TOKEN's bot, which "
                        "telebot long-polls: ikabot cannot read it there. Set ikabot up with "
                        "its own bot's token (or stop telebot during ikabot's set-up)")
        raise ApplicationHandlerStop
    if message is not None and message.date is not None and \
            message.date.timestamp() < runtime(context).started_at - 1:
        log.info("ignored a command sent before telebot started (update %s)", update.update_id)
        raise ApplicationHandlerStop


TOO_MANY = (f"⏳ At most {MEMBER_ANSWERS_PER_MINUTE} commands a minute per member here; "
            "the rest are skipped for now.")


def _for_this_bot(text: str, username: str | None) -> bool:
    """A command for this bot: bare, or /command@<this bot> (not another bot's in a group)."""
    if not text.startswith("/"):
        return False
    _, _, mention = text.split(maxsplit=1)[0].partition("@")
    return not mention or mention.lower() == (username or "").lower()


async def member_limit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group member's commands and presses, at most MEMBER_ANSWERS_PER_MINUTE a minute;
    owners (TELEBOT_OWNER_IDS) are never limited, nor is anyone in a private chat."""
    rt = runtime(context)
    chat, user = update.effective_chat, update.effective_user
    message = update.message or update.channel_post
    counted = update.callback_query is not None or (
        message is not None and _for_this_bot(message.text or "", context.bot.username))
    if chat is None or user is None or chat.type == "private" or not counted or \
            not rt.permissions.is_bots_chat(chat.id) or rt.permissions.may_act(user.id):
        return
    verdict = rt.member_limit.check(user.id)
    if verdict is Verdict.ANSWER:
        return
    log.info("skipped a command of group member %s: over %d a minute", user.id,
             MEMBER_ANSWERS_PER_MINUTE)
    if update.callback_query is not None:
        await update.callback_query.answer(TOO_MANY if verdict is Verdict.NOTICE else None)
    elif verdict is Verdict.NOTICE:
        await send(context, TOO_MANY)
    raise ApplicationHandlerStop


@in_bots_chat
async def cmd_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await send(context, help_text(runtime(context).settings))


def _detail_rows(tasks: list[Any]) -> list[list[InlineKeyboardButton]]:
    buttons = [InlineKeyboardButton(f"🔎 {render.clip(t.action, 30)} {t.pid}",
                                    callback_data=make(Kind.DETAILS, t.pid))
               for t in tasks[:DETAIL_BUTTONS_PER_PAGE]]
    return [buttons[i:i + 3] for i in range(0, len(buttons), 3)]


def status_markup(page: int, view: render.StatusPage) -> InlineKeyboardMarkup:
    """Refresh for this page, a details button for each task shown on it, and (on the last
    page) the list of stopped tasks."""
    rows = _detail_rows(view.tasks)
    last = [InlineKeyboardButton("🔄 Refresh", callback_data=make(Kind.REFRESH, page))]
    if view.stopped:
        last.append(InlineKeyboardButton(f"⏹ Not running ({view.stopped})",
                                         callback_data=make(Kind.STOPPED_LIST, 0)))
    rows.append(last)
    return InlineKeyboardMarkup(rows)


def stopped_markup(page: int, view: render.StatusPage) -> InlineKeyboardMarkup:
    rows = _detail_rows(view.tasks)
    pages = max(1, -(-view.stopped // render.STOPPED_PER_PAGE))
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=make(Kind.STOPPED_PAGE, page - 1)))
    if page + 1 < pages:
        nav.append(InlineKeyboardButton("▶", callback_data=make(Kind.STOPPED_PAGE, page + 1)))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


@in_bots_chat
async def cmd_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    tasks = await rt.refresh()
    for i, view in enumerate(render.status_view(tasks, warnings=rt.warnings,
                                                 email=not rt.permissions.group_chat)):
        await reply(context, view.text, status_markup(i, view))


@in_bots_chat
async def cmd_webserver(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await send(context, render.webserver_html(await runtime(context).refresh()))


def _find(tasks: list[Any], pid: int) -> Any:
    """The live task with this pid, else the newest entry that had it."""
    matches = [t for t in tasks if t.pid == pid]
    alive = [t for t in matches if t.alive]
    return (alive or sorted(matches, key=lambda t: t.started))[-1] if matches else None


@in_bots_chat
async def cmd_details(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    if len(args) != 1 or not args[0].isdigit():
        await send(context, "Usage: /details &lt;pid&gt;, e.g. /details 12345 "
                            "(the pids are in /status)")
        return
    await _send_details(context, int(args[0]))


async def _send_details(context: ContextTypes.DEFAULT_TYPE, pid: int) -> None:
    from telebot.bot import menu_handlers

    rt = runtime(context)
    task = _find(await rt.refresh(), pid)
    if task is None:
        gone = await menu_handlers.gone_details(rt, context.application, pid)
        await send(context, *gone) if gone else await send(
            context, f"No ikabot task with pid {pid}. /status lists them.")
        return
    markup = kill.details_markup(rt, task, context.bot)
    note, buttons = await menu_handlers.details_note(rt, context.application, task)
    if buttons:
        rows = list(markup.inline_keyboard) if markup else []
        markup = InlineKeyboardMarkup([*rows, buttons])
    text = details_html(task, history=await _history(rt, task))
    await send(context, f"{text}\n{note}" if note else text, markup)


async def _history(rt: Runtime, task: Any) -> list[tuple[float, str]]:
    """The status changes telebot saw this task make (an ended one's too)."""
    if task.history:
        return list(task.history)
    tracking = rt.state.tracking
    return await rt.state.run(tracking.history_of, task.pid, task.started, task.start_ticks)


@in_bots_chat
async def cmd_kill(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    text, markup = await kill.kill_command(runtime(context), update.effective_user,
                                              context.args or [], context.bot)
    await reply(context, text, markup)


@in_bots_chat
async def cmd_report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    args = context.args or []
    if not args:
        minutes = rt.state.settings.report_minutes(rt.settings.report_minutes)
        now = "off" if not minutes else f"every {minutes:g} minutes (when progress changed)"
        await send(context, f"Progress report: {now}.\nChange it with /report &lt;minutes&gt; "
                            "or /report off.")
        return
    if not user_may_act(update, context):
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
    await rt.state.run(rt.state.settings.set_report_minutes, minutes)
    schedule_report(context.application, minutes)
    await send(context, "Progress report off." if not minutes else
               f"Progress report every {minutes:g} minutes, when some progress changed.")


def alert_switches(rt: Runtime) -> dict[str, bool]:
    """The switches as they act: *stalled* is off while TELEBOT_STALL_MINUTES is unset,
    whatever was chosen."""
    kinds = rt.state.settings.alert_kinds()
    return {k: on and (k != "stalled" or bool(rt.settings.stall_minutes))
            for k, on in kinds.items()}


def alerts_markup(kinds: dict[str, bool]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(f"{'✅' if on else '⬜'} {kind}",
                             callback_data=make(Kind.ALERT_SWITCH, kind))
        for kind, on in kinds.items()]])


def alerts_text(rt: Runtime) -> str:
    kinds = alert_switches(rt)
    lines = ["<b>Alerts</b> (tap to switch):"]
    lines += [f"{'✅' if on else '⬜'} {kind}: {html.escape(SWITCHES.get(kind, kind))}"
              for kind, on in kinds.items()]
    mute = rt.state.settings.mute_until()
    if mute > time.time():
        lines.append(f"🔕 muted for {render.fmt_age(mute - time.time())} more (deaths still "
                     "come through); /mute 0 to unmute")
    stall = rt.settings.stall_minutes
    lines.append(f"Stall alerts after {stall:g} min without change." if stall else
                 "Stall alerts are off: TELEBOT_STALL_MINUTES is not set on the machine running "
                 "telebot.")
    return "\n".join(lines)


@in_bots_chat
async def cmd_alerts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    await reply(context, alerts_text(rt), alerts_markup(alert_switches(rt)))


@in_bots_chat
@for_actors
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
    await rt.state.run(rt.state.settings.set_mute_until,
                       time.time() + minutes * 60 if minutes else 0.0)
    if rt.alerter:
        await rt.alerter.wake()
    await send(context, f"🔕 Finished and stalled alerts held for {minutes:g} minutes; deaths "
                        "still come through." if minutes else "🔔 Alerts unmuted.")


@in_bots_chat
async def on_stopped_list(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """From /status: the list of tasks not running, as a message of its own."""
    query, button = pressed(update)
    await query.answer()
    view = render.stopped_page(await runtime(context).refresh(), button.number)
    await reply(context, view.text, stopped_markup(button.number, view))


@in_bots_chat
async def on_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """🔄 Refresh of a /status page, ◀ ▶ in the stopped list: the message, edited."""
    query, button = pressed(update)
    if query.message is None:  # too old for Telegram to say which message
        await query.answer()
        return
    rt = runtime(context)
    tasks = await rt.refresh()
    page = button.number
    if button.kind is Kind.REFRESH:
        views = render.status_view(tasks, warnings=rt.warnings,
                                   email=not rt.permissions.group_chat)
        view = views[page] if page < len(views) else render.StatusPage(
            "(fewer tasks now: see the pages above)", [])
        markup = status_markup(page, view)
    else:
        view = render.stopped_page(tasks, page)
        markup = stopped_markup(page, view)
    try:
        await query.edit_message_text(view.text, parse_mode=ParseMode.HTML,
                                      reply_markup=markup, disable_web_page_preview=True)
        await query.answer("Refreshed" if button.kind is Kind.REFRESH else None)
    except BadRequest as e:
        if "not modified" not in e.message.lower():
            raise
        await query.answer("Already up to date")


@in_bots_chat
async def on_details_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, button = pressed(update)
    await query.answer()
    await _send_details(context, button.number)


@in_bots_chat
@for_actors
async def on_alert_switch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, button = pressed(update)
    rt = runtime(context)
    settings = rt.state.settings
    kinds = settings.alert_kinds()
    if button.text == "stalled" and not rt.settings.stall_minutes:
        await query.answer("Stall alerts need TELEBOT_STALL_MINUTES on the machine running "
                           "telebot.", show_alert=True)
        return
    if button.text in kinds:
        await rt.state.run(settings.set_alert_kind, button.text, not kinds[button.text])
        await query.edit_message_text(alerts_text(rt), parse_mode=ParseMode.HTML,
                                      reply_markup=alerts_markup(alert_switches(rt)))
    await query.answer()


@in_bots_chat
async def on_old_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """telebot's prefix, but no button this version makes (an older telebot's)."""
    if update.callback_query is not None:
        await update.callback_query.answer(OLD_BUTTON, show_alert=True)


# which handler answers which buttons: one CallbackQueryHandler each, in this order
BUTTONS: list[tuple[tuple[Kind, ...], Handler]] = [
    ((Kind.STOPPED_LIST,), on_stopped_list),
    ((Kind.REFRESH, Kind.STOPPED_PAGE), on_page),
    ((Kind.DETAILS,), on_details_button),
    ((Kind.ALERT_SWITCH,), on_alert_switch),
    (kill.BUTTON_KINDS, in_bots_chat(kill.on_press)),
]


async def on_other_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command no handler took: the owner gets a hint, strangers at most the fixed line."""
    await in_bots_chat(_unknown_command)(update, context)


async def _unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None or not message.text:
        return
    if not _for_this_bot(message.text, context.bot.username):
        return  # another bot's command
    command, _, mention = message.text.split(maxsplit=1)[0].partition("@")
    if update.effective_chat and update.effective_chat.type != "private" and not mention:
        return  # a bare command in a group may be another bot's: only ours get a hint
    await send(context, f"I don't know {render.field(command, 40)}. /help lists what I can do.")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler raised: log it with its stack (redacted: a URL in it may carry the token), so
    a bug can be found; a Bot API that is briefly unreachable, or a chat that refuses the
    answer (403, chat not found: the chat's doing, not a bug), is one line."""
    error = context.error
    if error is None:
        return
    refused = refusal(error)
    if refused is not None:
        log.warning("handler error: the chat refuses the answer (%s)", refused)
        return
    if isinstance(error, (TimedOut, NetworkError)) and not isinstance(error, BadRequest):
        log.warning("handler error: %s: %s", type(error).__name__, redact(str(error)))
        return
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    log.error("handler error: %s", redact(stack.rstrip()))


def add_handlers(app: Application) -> None:
    from telebot.bot import menu_handlers

    app.add_handler(TypeHandler(Update, gate), group=-2)
    app.add_handler(TypeHandler(Update, member_limit), group=-1)
    menu_handlers.add_handlers(app)  # first: /menu's commands, keys and typed replies
    for name, fn in (("start", cmd_help), ("help", cmd_help), ("status", cmd_status),
                     ("webserver", cmd_webserver), ("details", cmd_details),
                     ("report", cmd_report), ("alerts", cmd_alerts), ("mute", cmd_mute),
                     ("kill", cmd_kill)):
        app.add_handler(CommandHandler(name, fn))
    for kinds, handler in BUTTONS:
        app.add_handler(CallbackQueryHandler(handler, pattern=pattern(*kinds)))
    app.add_handler(CallbackQueryHandler(on_old_button, pattern=is_ours))
    app.add_handler(MessageHandler(filters.COMMAND, on_other_command))
    app.add_error_handler(on_error)


def bot_commands(settings: Any = None) -> list[BotCommand]:
    return [BotCommand(name, desc) for name, desc in commands_for(settings).items()]
