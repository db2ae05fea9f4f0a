"""Updates handled concurrently across chats, in order within one chat.

A /status of 10,000 tasks must not hold up a death alert (which enters the dispatcher as an
update of its own type), and a flood of strangers' commands must not queue ahead of the owner's.
Yet within one chat a person expects answers in the order they asked (/status, then /help), and
a press on ◀ must not overtake the command that drew the page: so each chat (and the stream of
process events) is its own queue, and the queues run side by side. In a group chat the order
that matters is each person's own, so each member is a queue of their own there: one member's
thirty /status do not hold up the owner's command.

A member's commands are also limited in number (`MemberLimit`): every answer in a group counts
against Telegram's 20 messages a minute to that group, which death alerts need too.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

MAX_CONCURRENT = 256  # updates handled at once (each in its lane's turn)
UNLIMITED = 2**31 - 1  # python-telegram-bot's own count of updates in flight: no limit


def _lane(update: object) -> object:
    if isinstance(update, Update):
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return ("update", update.update_id)
        if chat.type != "private" and user is not None:
            return ("chat", chat.id, user.id)
        return ("chat", chat.id)
    return ("type", type(update).__name__)


# A group member's commands answered a minute. Telegram takes 20 messages a minute to a group
# (python-telegram-bot's AIORateLimiter waits beyond that), and a death alert needs one of them.
MEMBER_ANSWERS_PER_MINUTE = 6
MEMBERS_REMEMBERED = 1000  # members counted at once; beyond, the quiet ones are forgotten


class Verdict(Enum):
    ANSWER = "answer"
    NOTICE = "notice"  # over the limit: dropped, with one short line for the whole minute
    DROP = "drop"


@dataclass
class MemberLimit:
    """At most `per_minute` commands a minute per group member, in a sliding minute; the
    excess is dropped, and the member told once. Owners are never asked about."""

    per_minute: int = MEMBER_ANSWERS_PER_MINUTE
    _recent: dict[int, deque[float]] = field(default_factory=dict)
    _told: dict[int, float] = field(default_factory=dict)

    def check(self, user_id: int, now: float | None = None) -> Verdict:
        now = time.monotonic() if now is None else now
        if len(self._recent) > MEMBERS_REMEMBERED:
            self._recent = {u: q for u, q in self._recent.items() if q and now - q[-1] < 60}
            self._told = {u: t for u, t in self._told.items() if now - t < 60}
        recent = self._recent.setdefault(user_id, deque(maxlen=self.per_minute))
        if len(recent) < self.per_minute or now - recent[0] >= 60:
            recent.append(now)
            return Verdict.ANSWER
        if now - self._told.get(user_id, float("-inf")) < 60:
            return Verdict.DROP
        self._told[user_id] = now
        return Verdict.NOTICE


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Each lane in order, the lanes side by side, at most `max_concurrent` updates handled
    at once. Its lane's turn comes first, then one of those slots (python-telegram-bot's own
    limit, taken before `do_process_update`, is set out of reach): an update waiting for its
    lane holds no slot, so a chat with a thousand button presses queued holds one slot, not
    all of them, and a death alert (a lane of its own) never waits behind them."""

    def __init__(self, max_concurrent: int = MAX_CONCURRENT) -> None:
        super().__init__(UNLIMITED)
        self._slots = asyncio.BoundedSemaphore(max_concurrent)
        # a lane lives only while it has updates queued: strangers' chats do not pile up here
        self._lanes: dict[object, tuple[asyncio.Lock, list[int]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _lane(update)
        lock, users = self._lanes.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._lanes[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
