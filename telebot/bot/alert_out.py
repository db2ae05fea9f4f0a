"""The alerts' way out, spoken in python-telegram-bot: `BotOut` sends the alerts stage's typed
`Send` and `Edit` through the bot (HTML, buttons from their JSON, no link previews) and turns
Telegram's errors into the alerts' outcomes (`telebot.alerts.sending`), and `attach` routes
process deaths through the Application's update queue. Only here do alerts meet Telegram.
"""

from __future__ import annotations

import json
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application, TypeHandler

from telebot.alerts.alerter import Alerter, ProcessExited, on_process_exited
from telebot.alerts.sending import (
    ChatRefuses,
    Edit,
    NotModified,
    Rejected,
    Send,
    TokenRejected,
    TryLater,
    Undelivered,
    Unparsable,
    Unreachable,
)
from telebot.bot.telegram_errors import refusal, retry_after_seconds
from telebot.logsafe import redact


def outcome(error: TelegramError) -> Undelivered:
    """What a python-telegram-bot error means for an alert, in the alerts' words."""
    said = redact(str(error))
    if isinstance(error, RetryAfter):
        return TryLater(retry_after_seconds(error))
    if isinstance(error, InvalidToken):
        return TokenRejected("the bot token was rejected (401)")
    why = refusal(error)
    if why is not None:
        return ChatRefuses(why)
    if isinstance(error, BadRequest):
        lower = str(error.message).lower()
        if "can't parse entities" in lower:
            return Unparsable(said)
        if "not modified" in lower:
            return NotModified(said)
        return Rejected(said)
    return Unreachable(said)  # NetworkError, TimedOut, a 5xx, ChatMigrated, …


class BotOut:
    """An `Out` over the application's bot (which tags the machine and picks the topic)."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot

    async def send(self, message: Send) -> int | None:
        buttons = (
            InlineKeyboardMarkup.de_json(json.loads(message.markup), self.bot)
            if message.markup
            else None
        )
        try:
            sent = await self.bot.send_message(
                message.chat_id,
                message.text,
                parse_mode=ParseMode.HTML if message.html else None,
                reply_markup=buttons,
                disable_web_page_preview=True,
            )
        except TelegramError as e:
            raise outcome(e) from None
        mid = getattr(sent, "message_id", None)
        return mid if isinstance(mid, int) else None

    async def edit(self, message: Edit) -> None:
        buttons = (
            InlineKeyboardMarkup.de_json(json.loads(message.markup), self.bot)
            if message.markup
            else None
        )
        try:
            await self.bot.edit_message_text(
                message.text,
                chat_id=message.chat_id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=buttons,
                disable_web_page_preview=True,
            )
        except TelegramError as e:
            raise outcome(e) from None


def attach(app: Application[Any, Any, Any, Any, Any, Any], alerter: Alerter) -> None:
    """Route process deaths through the Application's update queue, like Telegram updates
    (one dispatcher for both)."""
    alerter.exits = app.update_queue.put_nowait

    async def on_exit(update: object, context: object) -> None:
        if isinstance(update, ProcessExited):  # the TypeHandler lets only these through
            await on_process_exited(alerter, update)

    app.add_handler(TypeHandler(ProcessExited, on_exit), group=-1)
