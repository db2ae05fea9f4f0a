"""Delivering the durable outbox: in order, retried, and never given up on while it can work.

An item is marked sent only after Telegram answered ok, so delivery is *at least once*: a send
whose answer was lost (a timeout after Telegram took it) is sent again; Telegram has no
idempotency key to do better. Network errors, 5xx and 429 (after `retry_after`) are retried
with backoff; a rejected token (401) keeps every alert until the token works again; only a text
or chat Telegram will never accept (400, 403) is dropped. The loop survives any exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from telebot.logsafe import redact
from telebot.state import OutboxItem, StateDB
from telebot.state.outbox import OutboxStore
from telebot.telegram_errors import retry_after_seconds

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
TOKEN_BACKOFF = 60.0

T = TypeVar("T")
Send = Callable[[str, str], Awaitable[Any]]  # → the sent message's id (or a Message)
Edit = Callable[[str, int, str], Awaitable[Any]]


def _message_id(result: Any) -> int | None:
    mid = getattr(result, "message_id", result)
    return mid if isinstance(mid, int) and not isinstance(mid, bool) else None


@dataclass
class Deliverer:
    state: StateDB
    send: Send
    edit: Edit | None = None
    _woken: bool = False
    _waiter: asyncio.Future[None] | None = None
    _stopping: bool = False
    _task: asyncio.Task[None] | None = None

    @property
    def outbox(self) -> OutboxStore:
        return self.state.outbox

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Every read and write on the state's writer thread: an item this reads was committed
        (the write that stored it was handed over first), and no commit stalls the loop."""
        return await self.state.run(fn, *args, **kwargs)

    def wake(self) -> None:
        """Look at the outbox now. The waiting loop resumes in the event loop's very next
        step (a bare future, not an Event under wait_for, which takes three): the first alert
        of a storm goes out while the deaths after it are still being written."""
        self._woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _sleep(self, delay: float | None) -> None:
        if self._woken:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if delay is None else loop.call_later(
            delay, lambda: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="alert-outbox")

    async def stop(self, grace: float = 5.0) -> None:
        """Let a send in flight finish and be marked: cancelling it after Telegram took the
        message would send it again after the restart."""
        self._stopping = True
        self.wake()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except asyncio.TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = BACKOFF_START
        while not self._stopping:
            self._woken = False
            try:
                delay = await self._round()
                if delay is None:
                    backoff = BACKOFF_START
                    held = await self._db(self.outbox.next_not_before)
                    if held:
                        delay = max(0.05, held - time.time())
                elif delay < 0:  # a failure that backs off
                    delay, backoff = backoff, min(BACKOFF_MAX, backoff * 2)
            except Exception as e:  # a database hiccup must not end delivery for good
                log.error("alert delivery error (%s: %s); retrying in %.1f s", type(e).__name__,
                          redact(str(e)), backoff)
                delay, backoff = backoff, min(BACKOFF_MAX, backoff * 2)
            await self._sleep(delay)

    async def _round(self) -> float | None:
        """Send what is pending; None when done, a delay to wait, or -1 for the backoff."""
        items = await self._db(self.outbox.pending)
        latest_edit: dict[int, int] = {}
        for item in items:
            if item.edits is not None:
                latest_edit[item.edits] = item.id
        for item in items:
            if item.edits is not None and latest_edit[item.edits] != item.id:
                continue  # a newer text for the same message follows
            try:
                if item.edits is not None:
                    await self._db(self.outbox.supersede_edits, item.edits, item.id)
                    await self._edit(item)
                else:
                    result = await self.send(item.chat_id, item.text)
                    # a storm grew while it was on its way: its edit is queued
                    if await self._db(self.outbox.mark_sent_and_follow, item,
                                      _message_id(result)):
                        self._woken = True
            except RetryAfter as e:
                await self._db(self.outbox.record_failure, item.id, "429")
                return retry_after_seconds(e) + 0.05
            except InvalidToken:
                await self._db(self.outbox.record_failure, item.id,
                               "the bot token was rejected (401)")
                log.error("Telegram rejects the bot token; alerts are kept until it works "
                          "again (check TELEBOT_TOKEN or ikabot's Telegram settings)")
                return TOKEN_BACKOFF
            except (BadRequest, Forbidden) as e:
                # permanent: this text or chat will never be accepted; don't block the rest
                log.error("alert %d dropped: %s", item.id, redact(str(e)))
                await self._db(self.outbox.record_failure, item.id, redact(str(e)), drop=True)
            except (TelegramError, OSError) as e:
                await self._db(self.outbox.record_failure, item.id, redact(str(e)))
                log.warning("alert %d not sent yet (%s); retrying", item.id, redact(str(e)))
                return -1
        return None

    async def _edit(self, item: OutboxItem) -> None:
        head = await self._db(self.outbox.item, item.edits or 0)
        target = head.message_id if head is not None else None
        if target is None or self.edit is None:
            result = await self.send(item.chat_id, item.text)  # nothing to edit: a new message
            await self._db(self.outbox.retarget, item, head, _message_id(result))
            return
        try:
            await self.edit(item.chat_id, target, item.text)
        except BadRequest as e:
            if "not modified" in str(e).lower():
                await self._db(self.outbox.mark_sent, item.id)
                return
            # too old, deleted, …: a new message carries the whole storm
            result = await self.send(item.chat_id, item.text)
            await self._db(self.outbox.retarget, item, head, _message_id(result))
            return
        await self._db(self.outbox.mark_sent, item.id)
