"""The /menu screen as one Telegram message: ikabot's screen in `<pre>`, a button for each
`(N) text` choice, ⏎ while echo is off, ✖; sent once, then edited in place."""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError

from telebot.bot.callbacks import Kind, make
from telebot.bot.telegram_errors import retry_after_seconds
from telebot.i18n import N_, _
from telebot.menu.session import View
from telebot.views import render

log = logging.getLogger(__name__)

ROW = 3  # choice buttons a row
ATTEMPTS = 3


def key_data(token: str, screen: int, key: str | int) -> str:
    """A key of session `token` under its screen number `screen` (`session.Screens`): a
    choice's number, `e` (⏎) or `x` (✖)."""
    return make(Kind.MENU_KEY, f"{token}-{screen}.{key}")


def key_of(first: str) -> tuple[str, int]:
    """(session token, screen number) of a key's first half; -1: no number (an older
    telebot's key)."""
    token, _, screen = first.partition("-")
    return token, int(screen) if screen.isascii() and screen.isdigit() else -1


def markup(token: str, view: View) -> InlineKeyboardMarkup | None:
    if view.ended:
        return None
    buttons = [
        InlineKeyboardButton(
            f"({c.number}) {render.clip(c.text, 24)}",
            callback_data=key_data(token, view.screen, c.number),
        )
        for c in view.question.choices
    ]
    rows = [buttons[i : i + ROW] for i in range(0, len(buttons), ROW)]
    last = []
    if view.echo_off:
        last.append(
            InlineKeyboardButton(_("⏎ Enter"), callback_data=key_data(token, view.screen, "e"))
        )
    last.append(
        InlineKeyboardButton(_("✖ End session"), callback_data=key_data(token, view.screen, "x"))
    )
    rows.append(last)
    return InlineKeyboardMarkup(rows)


GROUP_SECRET = N_(
    " In a group its members see your reply until it is deleted, and telebot "
    "can delete it only as an admin allowed to delete messages."
)


def text(end_reason: str, view: View, group: bool = False) -> str:
    if view.ended:
        # the reasons are marked N_ where they are set: said here in the chat's language
        head = _("⏹ ikabot's menu closed: {why}.").format(
            why=html.escape(_(end_reason) if end_reason else _("ended"))
        )
    elif view.echo_off:
        head = _(
            "🔒 ikabot reads this with echo off: your reply is typed in, then deleted "
            "from the chat (never stored). ⏎ answers an [Enter]."
        ) + (_(GROUP_SECRET) if group else "")
    else:
        head = _("📟 ikabot's menu · tap a choice or reply with text · /cancel ends it")
    return f"{head}\n<pre>{html.escape(view.text)}</pre>"


@dataclass
class ScreenMessage:
    bot: Any
    chat_id: str
    message_id: int | None = None  # None: the next screen is a new message
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def show(self, token: str, end_reason: str, view: View) -> None:
        """Send or edit; a message the owner deleted is sent anew; never raises."""
        async with self._lock:
            body = text(end_reason, view, group=self.chat_id.startswith("-"))
            keys = markup(token, view)
            for _attempt in range(ATTEMPTS):
                try:
                    if self.message_id is None:
                        m = await self.bot.send_message(
                            self.chat_id, body, parse_mode=ParseMode.HTML, reply_markup=keys
                        )
                        self.message_id = m.message_id
                    else:
                        await self.bot.edit_message_text(
                            body,
                            chat_id=self.chat_id,
                            message_id=self.message_id,
                            parse_mode=ParseMode.HTML,
                            reply_markup=keys,
                        )
                    return
                except RetryAfter as e:
                    await asyncio.sleep(retry_after_seconds(e))
                except BadRequest as e:
                    low = e.message.lower()
                    if "not modified" in low:
                        return
                    if "not found" in low or "can't be edited" in low:
                        self.message_id = None
                        continue
                    log.warning("menu screen not shown: %s", e.message)
                    return
                except TelegramError as e:
                    log.warning("menu screen not shown yet: %s", type(e).__name__)
                    await asyncio.sleep(1)
