"""What answers when no handler did: an older telebot's button, a command telebot does not
know, and a handler that raised (the error handler)."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.error import BadRequest, NetworkError, TimedOut

from telebot.bot.context import BotContext
from telebot.bot.gates import for_this_bot
from telebot.bot.permissions import in_bots_chat, user_may_act
from telebot.bot.replies import send
from telebot.bot.telegram_errors import refusal
from telebot.i18n import N_, _
from telebot.logsafe import redact
from telebot.views import render

log = logging.getLogger(__name__)

OLD_BUTTON = N_("This button is from an older telebot: send the command again.")


@in_bots_chat
async def on_old_button(update: Update, context: BotContext) -> None:
    """telebot's prefix, but no button this version makes (an older telebot's)."""
    if update.callback_query is not None:
        await update.callback_query.answer(_(OLD_BUTTON), show_alert=True)


async def on_other_command(update: Update, context: BotContext) -> None:
    """A command no handler took: the owner gets a hint, strangers at most the fixed line."""
    await in_bots_chat(_unknown_command)(update, context)


async def _unknown_command(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None or not message.text:
        return
    if not for_this_bot(message.text, context.bot.username):
        return  # another bot's command
    command, _at, mention = message.text.split(maxsplit=1)[0].partition("@")
    if update.effective_chat and update.effective_chat.type != "private" and not mention:
        return  # a bare command in a group may be another bot's: only ours get a hint
    await send(
        context,
        _("I don't know {command}. /help lists what I can do.").format(
            command=render.field(command, 40)
        ),
    )


async def on_plain_text(update: Update, context: BotContext) -> None:
    """A text with no /menu open ("hello"): in the owner's private chat, a hint naming /help,
    as an unknown command gets. Not in a group (people talk there), not from a stranger. On
    ikabot's shared token no such text reaches here: the poller leaves it to ikabot (it may be
    the player's answer to ikabot's question)."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None or chat.type != "private":
        return
    if not user_may_act(update, context):
        return
    if not context.runtime.permissions.is_bots_chat(chat.id):
        return
    await send(context, _("Send /help to see what I can do."))


async def on_error(update: object, context: BotContext) -> None:
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
