"""Who may do what: the two checks every command and button goes through, in one place.

1. `is_bots_chat(chat_id)`: the update comes from telebot's chat (ikabot's chat, or
   TELEBOT_CHAT_ID). Only there does telebot answer with data; anyone else gets at most one
   fixed line.
2. `may_act(user_id)`: this person may change something (alerts, mute, reports, stopping a
   task). TELEBOT_OWNER_IDS when set; otherwise the user of telebot's private chat. In a group
   without TELEBOT_OWNER_IDS everyone there can read and nobody can change anything: every
   member of a group would otherwise steer the bot.

The first is about a chat, the second about a person: a group member passes the first and not
the second. The guards below apply them to python-telegram-bot handlers.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, TypeVar

from telegram import Bot, Update

from telebot.i18n import N_, _

log = logging.getLogger(__name__)

NOT_AUTHORISED = N_("Sorry, this bot answers only its owner.")
NOT_AN_OWNER = N_(
    "Only an owner can change this (TELEBOT_OWNER_IDS on the machine running telebot)."
)

STRANGER_QUIET = 3600.0  # seconds between two fixed lines to one stranger's chat
STRANGERS_REMEMBERED = 10_000
STRANGER_LINES_PER_MINUTE = 10  # fixed lines to all strangers together


def clock() -> float:
    """The clock strangers' quiet hour is measured on (a test drives it)."""
    return time.time()


@dataclass(frozen=True)
class Permissions:
    chat_id: str  # telebot's chat
    owner_ids: frozenset[int] = frozenset()  # TELEBOT_OWNER_IDS

    def is_bots_chat(self, chat_id: int | str | None) -> bool:
        """Is this telebot's chat (the one that gets answers with data)?"""
        return chat_id is not None and str(chat_id) == self.chat_id

    def may_act(self, user_id: int | None) -> bool:
        """May this user change anything (alerts, mute, reports, stop tasks)?"""
        if user_id is None:
            return False
        if self.owner_ids:
            return user_id in self.owner_ids
        return not self.group_chat and str(user_id) == self.chat_id

    @property
    def group_chat(self) -> bool:
        """telebot's chat is a group (negative ids): its members need not see the login."""
        return self.chat_id.startswith("-")


@dataclass
class Strangers:
    """Strangers get the fixed line at most once an hour a chat (a flood costs nothing)."""

    _told: dict[int, float] = field(default_factory=dict)

    def tell(self, chat_id: int, now: float | None = None) -> bool:
        """May this stranger's chat get the fixed line now? (Then it is counted as told.)"""
        now = clock() if now is None else now
        if len(self._told) > STRANGERS_REMEMBERED:
            self._told = {c: t for c, t in self._told.items() if now - t < STRANGER_QUIET}
        if now - self._told.get(chat_id, float("-inf")) < STRANGER_QUIET:
            return False
        if len(self._told) > STRANGERS_REMEMBERED:
            return False  # a flood from that many chats within the hour: say nothing more
        recent = [t for t in self._told.values() if now - t < 60]
        if len(recent) >= STRANGER_LINES_PER_MINUTE:
            # many strangers at once (a bot list, a raid): their lines would fill Telegram's
            # 30 messages a second, and the owner's answers would wait behind them
            return False
        self._told[chat_id] = now
        return True


class _Knows(Protocol):
    """What the guards read of the bot's runtime (`bot.runtime.Runtime`)."""

    @property
    def permissions(self) -> Permissions: ...

    @property
    def strangers(self) -> Strangers: ...


class GuardedContext(Protocol):
    """What the guards need of a handler's context (`bot.context.BotContext` has it): named
    by its shape, so this module stays below the runtime that holds its `Permissions`."""

    @property
    def runtime(self) -> _Knows: ...

    @property
    def bot(self) -> Bot: ...


C = TypeVar("C", bound=GuardedContext)
# a handler python-telegram-bot can call (it wants a coroutine function, not any awaitable)
Handler: TypeAlias = Callable[[Update, C], Coroutine[Any, Any, None]]


def user_may_act(update: Update, context: GuardedContext) -> bool:
    user = update.effective_user
    if context.runtime.permissions.may_act(user.id if user else None):
        return True
    log.info("refused a change asked by user %s, not an owner", user.id if user else "?")
    return False


def in_bots_chat(handler: Handler[C]) -> Handler[C]:
    """Run `handler` for updates from telebot's chat only; anyone else gets at most the fixed
    line (a private chat, once an hour: `Strangers`) and is logged without their
    text."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: C) -> None:
        chat = update.effective_chat
        if chat is not None and context.runtime.permissions.is_bots_chat(chat.id):
            await handler(update, context)
            return
        log.info(
            "ignored an update from chat %s (%s) that is not telebot's",
            chat.id if chat else "?",
            chat.type if chat else "?",
        )
        if update.callback_query:
            await update.callback_query.answer(_(NOT_AUTHORISED))
        elif (
            chat is not None
            and chat.type == "private"
            and update.effective_message
            and context.runtime.strangers.tell(chat.id)
        ):
            await update.effective_message.reply_text(_(NOT_AUTHORISED))

    return guarded


def for_actors(handler: Handler[C]) -> Handler[C]:
    """Run `handler` only when the user may act; a press is answered with an alert saying
    why not, a command with a message in the chat."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: C) -> None:
        if user_may_act(update, context):
            await handler(update, context)
        elif update.callback_query is not None:
            await update.callback_query.answer(_(NOT_AN_OWNER), show_alert=True)
        elif update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, _(NOT_AN_OWNER))

    return guarded
