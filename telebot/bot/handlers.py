"""Every command, button and gate, registered in one place (`add_handlers`), and the list of
commands /help and Telegram's command menu show.

Each concern has its module (one feature per file, as python-telegram-bot's examples keep
them): the gates every update passes (`gates`), /status (`status_commands`), /details
(`details_commands`), /alerts and /mute (`alert_commands`), /report (`report_commands`),
/timeline (`timeline_commands`), /kill (`kill`), /menu (`menu_handlers`), and what answers
when nothing else did (`fallbacks`). A new command: its own module, one line below, one
entry in COMMANDS.
"""

from __future__ import annotations

import html
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from telebot import i18n
from telebot.bot import (
    alert_commands,
    details_commands,
    fallbacks,
    gates,
    keepalive_commands,
    kill,
    menu_handlers,
    report_commands,
    run_all,
    status_commands,
    timeline_commands,
)
from telebot.bot.callbacks import Kind, is_ours, pattern
from telebot.bot.context import BotApp, BotContext
from telebot.bot.permissions import in_bots_chat
from telebot.bot.replies import send
from telebot.i18n import N_, _

COMMANDS = {
    "start": N_("what telebot does"),
    "help": N_("the commands"),
    "status": N_("every ikabot task, with progress"),
    "webserver": N_("URLs of running ikabot web servers"),
    "details": N_("everything about one task: /details <pid>"),
    "timeline": N_("a picture of what ran: /timeline [hours]"),
    "report": N_("scheduled progress report: /report [minutes|off]"),
    "alerts": N_("which alerts you get (died, finished, stalled)"),
    "mute": N_("hold non-urgent alerts: /mute <minutes>"),
    "kill": N_("stop a task, after a confirmation: /kill <pid>"),
    "menu": N_("ikabot's own menu, here (owners only); /cancel ends it"),
    "cancel": N_("end the /menu session"),
    "keepalive": N_("tasks started again when they die: /keepalive [<pid> on|off]"),
}

# commands a setting turns off: /help and Telegram's command list leave them out then
_SWITCHED = {
    "kill": ("allow_kill",),
    "menu": ("allow_menu",),
    "cancel": ("allow_menu",),
    "keepalive": ("allow_menu",),
}


def commands_for(settings: Any) -> dict[str, str]:
    """The commands this telebot answers, as its settings allow."""
    return {
        name: _(desc)
        for name, desc in COMMANDS.items()
        if all(getattr(settings, flag, True) for flag in _SWITCHED.get(name, ()))
    }


def help_text(settings: Any = None) -> str:
    return (
        _(
            "<b>telebot</b> watches the tasks ikabot runs for you (autoPirate, webServer, "
            "constructionList, …) and tells you here when one dies, finishes or stalls."
        )
        + "\n\n"
        + "\n".join(
            f"/{name}: {html.escape(desc)}" for name, desc in commands_for(settings).items()
        )
    )


HELP = help_text()


@in_bots_chat
async def cmd_help(update: Update, context: BotContext) -> None:
    await send(context, help_text(context.runtime.settings))


def add_handlers(app: BotApp) -> None:
    """Gates first (groups -2, -1), then /menu's commands, keys and typed replies (a text is
    the menu's while a session is open), then the other commands and buttons, one
    CallbackQueryHandler per kind of button, and last what nothing else took."""
    app.add_handler(TypeHandler(Update, gates.gate), group=-2)
    app.add_handler(TypeHandler(Update, gates.member_limit), group=-1)
    for name, command in (
        ("menu", menu_handlers.cmd_menu),
        ("cancel", menu_handlers.cmd_cancel),
        ("start", cmd_help),
        ("help", cmd_help),
        ("status", status_commands.cmd_status),
        ("webserver", status_commands.cmd_webserver),
        ("details", details_commands.cmd_details),
        ("timeline", timeline_commands.cmd_timeline),
        ("report", report_commands.cmd_report),
        ("alerts", alert_commands.cmd_alerts),
        ("mute", alert_commands.cmd_mute),
        ("kill", in_bots_chat(kill.cmd_kill)),
        ("keepalive", keepalive_commands.cmd_keepalive),
    ):
        app.add_handler(CommandHandler(name, command))
    for kind, button in (
        (Kind.MENU_KEY, menu_handlers.on_menu_key),
        (Kind.AGAIN_ASK, menu_handlers.on_again_ask),
        (Kind.AGAIN_RUN, menu_handlers.on_again_run),
        (Kind.AGAIN_CANCEL, menu_handlers.on_again_cancel),
        (Kind.KEEP_ON, keepalive_commands.on_keep_on),
        (Kind.KEEP_OFF, keepalive_commands.on_keep_off),
        (Kind.ALL_ASK, run_all.on_all_ask),
        (Kind.ALL_RUN, run_all.on_all_run),
        (Kind.STOPPED_LIST, status_commands.on_stopped_list),
        (Kind.REFRESH, status_commands.on_refresh),
        (Kind.STOPPED_PAGE, status_commands.on_stopped_page),
        (Kind.DETAILS, details_commands.on_details_button),
        (Kind.ALERT_SWITCH, alert_commands.on_alert_switch),
        (Kind.KILL_ASK, in_bots_chat(kill.on_ask)),
        (Kind.KILL_CONFIRM, in_bots_chat(kill.on_confirm)),
        (Kind.KILL_CANCEL, in_bots_chat(kill.on_cancel)),
    ):
        app.add_handler(CallbackQueryHandler(button, pattern=pattern(kind)))
    app.add_handler(CallbackQueryHandler(fallbacks.on_old_button, pattern=is_ours))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, menu_handlers.on_text))
    app.add_handler(MessageHandler(filters.COMMAND, fallbacks.on_other_command))
    app.add_error_handler(fallbacks.on_error)


def bot_commands(settings: Any = None) -> list[BotCommand]:
    """Telegram's command list, in the current language."""
    return [BotCommand(name, desc) for name, desc in commands_for(settings).items()]


def command_lists(settings: Any = None) -> list[tuple[str | None, list[BotCommand]]]:
    """(language_code, the list in it) for setMyCommands: the default (English, for any
    language telebot does not speak) and one per language, so each person's Telegram app
    shows the commands in its own language."""
    out: list[tuple[str | None, list[BotCommand]]] = []
    for lang in (None, *i18n.LANGS):
        with i18n.in_language(lang or "en"):
            out.append((lang, bot_commands(settings)))
    return out
