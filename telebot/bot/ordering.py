"""Updates handled concurrently across chats, in order within one chat.

A /status of 10,000 tasks must not hold up a death alert (which enters the dispatcher as an
update of its own type), and a flood of strangers' commands must not queue ahead of the owner's.
Yet within one chat a person expects answers in the order they asked (/status, then /help), and
a press on ◀ must not overtake the command that drew the page: so each chat (and the stream of
process events) is its own queue, and the queues run side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

MAX_CONCURRENT = 256


def _lane(update: object) -> object:
    if isinstance(update, Update):
        chat = update.effective_chat
        return ("chat", chat.id) if chat is not None else ("update", update.update_id)
    return ("type", type(update).__name__)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT) -> None:
        super().__init__(max_concurrent_updates)
        # a lane lives only while it has updates queued: strangers' chats do not pile up here
        self._lanes: dict[object, tuple[asyncio.Lock, list[int]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _lane(update)
        lock, users = self._lanes.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                await coroutine
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._lanes[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
