"""How every handler answers the owner: one message, riding out a brief Bot API hiccup, and
the runtime a handler works on. Shared by the command modules, so none imports another."""

from __future__ import annotations

import asyncio

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut

from telebot.bot.context import BotContext
from telebot.bot.runtime import Runtime
from telebot.views import render

REPLY_RETRIES = 3


def runtime(context: BotContext) -> Runtime:
    """The runtime a handler works on (the same as `context.runtime`)."""
    return context.runtime


async def reply(context: BotContext, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Send one message to the owner, riding out a brief Bot API hiccup (5xx, a reset).

    429 is handled by the rate limiter; errors Telegram means (400, 403) are not retried.
    """
    for attempt in range(REPLY_RETRIES + 1):
        try:
            await context.bot.send_message(
                runtime(context).chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                disable_web_page_preview=True,
            )
            return
        except (BadRequest, Forbidden):
            raise
        except (TimedOut, NetworkError):
            if attempt == REPLY_RETRIES:
                raise
            await asyncio.sleep(0.5 * 2**attempt)


async def send(context: BotContext, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    for chunk in render.split_message(text):
        await reply(context, chunk, markup)
