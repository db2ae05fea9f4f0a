"""What the alerts stage hands to whoever talks to Telegram, and what it hears back.

The alerts decide *what* to say and keep it durably; they never speak Telegram themselves.
They hand a typed `Send` (a new message) or `Edit` (a new text for a message already sent) to
an `Out`, and the `Out` answers with the sent message's id or one of the outcomes below. The
bot stage implements `Out` with python-telegram-bot (`telebot.bot.alert_out.BotOut`) and
translates its errors into these, so the delivery loop's decisions (retry, hold the chat,
drop one text, send as plain text) read in the alerts' own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ChatRefuses",
    "Edit",
    "NotModified",
    "Nowhere",
    "Out",
    "Rejected",
    "Send",
    "TokenRejected",
    "TryLater",
    "Undelivered",
    "Unparsable",
    "Unreachable",
]


@dataclass(frozen=True)
class Send:
    """A new message: Telegram HTML (or plain text with `html=False`), its buttons as the Bot
    API's JSON (`InlineKeyboardMarkup`), never a link preview."""

    chat_id: str
    text: str
    markup: str | None = None
    html: bool = True


@dataclass(frozen=True)
class Edit:
    """A new text (Telegram HTML) for a message already sent: a storm grew."""

    chat_id: str
    message_id: int
    text: str
    markup: str | None = None  # its buttons (JSON) to keep; None: an edit drops them


class Out(Protocol):
    """The way out to Telegram. `send` returns the new message's id (None if unknown); both
    raise an `Undelivered` when Telegram did not take it."""

    async def send(self, message: Send) -> int | None: ...

    async def edit(self, message: Edit) -> None: ...


class Undelivered(Exception):
    """Telegram did not take a message; `why` is one line without secrets."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class TryLater(Undelivered):
    """Too many requests (429): try again after `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"429: retry after {seconds:g} s")
        self.seconds = seconds


class TokenRejected(Undelivered):
    """The bot token is not (or no longer) valid (401): nothing goes out until it is."""


class ChatRefuses(Undelivered):
    """The chat refuses the bot ('403: bot was blocked by the user', '400: chat not found', a
    closed topic): the same message may be taken later, once the owner acts."""


class Unparsable(Undelivered):
    """Telegram cannot parse the HTML (400 "can't parse entities"): plain text would do."""


class NotModified(Undelivered):
    """An edit that changes nothing (400 "message is not modified"): as good as done."""


class Rejected(Undelivered):
    """Any other 400: this very text or edit will never be taken."""


class Unreachable(Undelivered):
    """The network, a timeout, Telegram's 5xx: try again with backoff."""


class Nowhere:
    """An `Out` for an alerter without a bot (tests of deciding alone, `telebot status`):
    every message stays in the outbox."""

    async def send(self, message: Send) -> int | None:
        raise Unreachable("no bot to send with")

    async def edit(self, message: Edit) -> None:
        raise Unreachable("no bot to send with")
