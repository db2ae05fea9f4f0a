"""Delivering the durable outbox: in order, retried, and never given up on while it can work.

An item is marked sent only after Telegram answered ok, so delivery is *at least once*: a send
whose answer was lost (a timeout after Telegram took it) is sent again; Telegram has no
idempotency key to do better. Network errors, 5xx and 429 (after `retry_after`) are retried
with backoff; a rejected token (401) keeps every alert until the token works again.

A chat that refuses the bot (403: blocked, never started, removed from the group; 400: chat not
found) is not forever: it ends when the owner presses Start or fixes the chat id. Every alert is
held, in order, and tried again with backoff, at most `HOLD_MAX` apart, until the chat accepts
one; then all held alerts go out, in order, once. Each change (refused, accepted again, given up
after `GIVE_UP_AFTER`) is one log line, not one per retry, and `telebot status` says why alerts
wait (`waiting_line`). A text Telegram cannot parse (400 "can't parse entities") goes out again
as plain text. Only another 400 (a text Telegram will never take) drops one alert, with an error
line. The loop survives any exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from telebot.alerts.telegram_errors import refusal, retry_after_seconds
from telebot.i18n import ngettext, number
from telebot.logsafe import redact
from telebot.state import OutboxItem, StateDB
from telebot.state.outbox import OutboxStore

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
TOKEN_BACKOFF = 60.0
HOLD_START = 30.0  # a refusing chat: first retry after this, doubling …
HOLD_MAX = 600.0  # … to at most every 10 minutes
GIVE_UP_AFTER = 7 * 86400.0  # an alert refused this long is dropped (with an error line)

T = TypeVar("T")
# (chat, text[, markup=buttons as JSON]) → the sent message's id (or a Message)
Send = Callable[..., Awaitable[Any]]
Edit = Callable[[str, int, str], Awaitable[Any]]


_TAGS = re.compile(r"<[^>]*>")


def plain_text(text_html: str) -> str:
    """What a person reads in an HTML alert, without the markup: tags out, entities decoded."""
    return html.unescape(_TAGS.sub("", text_html))


def _unparsable(error: BadRequest) -> bool:
    return "can't parse entities" in str(error.message).lower()


def _message_id(result: Any) -> int | None:
    mid = getattr(result, "message_id", result)
    return mid if isinstance(mid, int) and not isinstance(mid, bool) else None


@dataclass
class Wakeup:
    """The delivery loop's sleep, cut short by `wake`. The sleeper resumes in the event loop's
    very next step (a bare future, not an Event under wait_for, which takes three): the first
    alert of a storm goes out while the deaths after it are still being written."""

    woken: bool = False
    _waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        self.woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def sleep(self, delay: float | None) -> None:
        """Up to `delay` seconds (None: until woken); not at all if woken meanwhile."""
        if self.woken:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()

        def due() -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer = None if delay is None else loop.call_later(delay, due)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()


@dataclass
class Hold:
    """A chat that refuses alerts: why, and when to try again (backoff up to `HOLD_MAX`).
    Kept in the settings store too, so a restart still holds (and still says why)."""

    state: StateDB
    refused: str | None = None  # why the chat refuses alerts, while it does
    until: float = 0.0
    delay: float = HOLD_START

    def load(self) -> None:
        held = self.state.settings.chat_refusal()  # refused before a restart: tried now
        self.refused = held.get("reason") if held is not None else None

    def waiting(self, now: float) -> float | None:
        """Seconds until the next try while the chat refuses, else None."""
        return self.until - now if self.refused is not None and now < self.until else None

    async def refuse(self, item: OutboxItem, why: str, now: float) -> float:
        """The chat refuses: keep every alert, retry later; say it once per change."""
        outbox, settings = self.state.outbox, self.state.settings
        await self.state.run(outbox.record_failure, item.id, why)
        expired = await self.state.run(outbox.drop_pending_before, now - GIVE_UP_AFTER,
                                       f"given up: {why}")
        if expired:
            log.error("gave up on %d alert(s) the chat refused for 7 days (%s)", expired, why)
        if self.refused != why:
            log.error("the chat %s refuses alerts (%s): they are kept and tried again, at "
                      "most every %d minutes, until it accepts them (open the bot in Telegram "
                      "and press Start; `telebot check` says more)", item.chat_id, why,
                      HOLD_MAX // 60)
            self.refused, self.delay = why, HOLD_START
            await self.state.run(settings.set_chat_refusal, {"since": now, "reason": why})
        else:
            self.delay = min(HOLD_MAX, self.delay * 2)
        self.until = now + self.delay
        return self.delay

    async def accepted(self, count: int) -> None:
        if self.refused is None:
            return
        log.warning("the chat accepts alerts again (it refused them: %s); sending the %d "
                    "held, in order", self.refused, count)
        self.refused, self.until, self.delay = None, 0.0, HOLD_START
        await self.state.run(self.state.settings.set_chat_refusal, None)


@dataclass
class Deliverer:
    state: StateDB
    send: Send
    edit: Edit | None = None
    send_plain: Send | None = None  # no parse mode; else `send` with the plain text escaped
    clock: Callable[[], float] = time.time
    # buttons for an item by its key (JSON; on the writer thread), when it has none of its own
    markup_for: Callable[[str], str | None] | None = None
    on_delivered: Callable[[OutboxItem, float], None] | None = None  # (item, when accepted)
    hold: Hold = field(init=False)
    _wakeup: Wakeup = field(default_factory=lambda: Wakeup())
    _stopping: bool = False
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.hold = Hold(self.state)

    @property
    def outbox(self) -> OutboxStore:
        return self.state.outbox

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """On the writer thread: what this reads was committed, no commit stalls the loop."""
        return await self.state.run(fn, *args, **kwargs)

    def wake(self) -> None:
        """Look at the outbox now (`Wakeup.wake`)."""
        self._wakeup.wake()

    def start(self) -> None:
        self.hold.load()
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
            self._wakeup.woken = False
            try:
                delay = await self._round()
                if delay is None:
                    backoff = BACKOFF_START
                    held = await self._db(self.outbox.next_not_before)
                    if held:
                        delay = max(0.05, held - self.clock())
                elif delay < 0:  # a failure that backs off
                    delay, backoff = backoff, min(BACKOFF_MAX, backoff * 2)
            except Exception as e:  # a database hiccup must not end delivery for good
                log.error("alert delivery error (%s: %s); retrying in %.1f s", type(e).__name__,
                          redact(str(e)), backoff)
                delay, backoff = backoff, min(BACKOFF_MAX, backoff * 2)
            await self._wakeup.sleep(delay)

    async def _round(self) -> float | None:
        """Send what is pending; None when done, a delay to wait, or -1 for the backoff."""
        now = self.clock()
        wait = self.hold.waiting(now)
        if wait is not None:
            return wait  # a refusing chat: not before the next retry
        items = await self._db(self.outbox.pending, now)
        latest_edit = {item.edits: item.id for item in items if item.edits is not None}
        for item in items:
            if item.edits is not None and latest_edit[item.edits] != item.id:
                continue  # a newer text for the same message follows
            try:
                await self._deliver(item)
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
                why = refusal(e)
                if why is not None:  # the chat, not this text: hold them all, in order
                    return await self.hold.refuse(item, why, now)
                # this text will never be accepted; don't block the rest
                log.error("alert %d dropped: %s", item.id, redact(str(e)))
                await self._db(self.outbox.record_failure, item.id, redact(str(e)), drop=True)
            except (TelegramError, OSError) as e:
                await self._db(self.outbox.record_failure, item.id, redact(str(e)))
                log.warning("alert %d not sent yet (%s); retrying", item.id, redact(str(e)))
                return -1
            else:
                await self.hold.accepted(len(items))
        return None

    async def _deliver(self, item: OutboxItem) -> None:
        """One item: an edit, or a new message; a text Telegram cannot parse goes as plain."""
        try:
            if item.edits is not None:
                await self._db(self.outbox.supersede_edits, item.edits, item.id)
                await self._edit(item)
                return
            markup = item.markup or (await self._db(self.markup_for, item.dedup_key)
                                     if self.markup_for else None)
            result = await (self.send(item.chat_id, item.text, markup=markup)
                            if markup else self.send(item.chat_id, item.text))
            if self.on_delivered is not None:  # Telegram took it: the alert latency ends
                self.on_delivered(item, self.clock())
            # a storm grew while it was on its way: its edit is queued
            if await self._db(self.outbox.mark_sent_and_follow, item, _message_id(result)):
                self._wakeup.woken = True
        except BadRequest as e:
            if not _unparsable(e):
                raise
            log.warning("alert %d: Telegram cannot parse its text (%s); sending it as plain "
                        "text", item.id, redact(str(e)))
            text = plain_text(item.text)
            result = await (self.send_plain(item.chat_id, text) if self.send_plain else
                            self.send(item.chat_id, html.escape(text, quote=False)))
            if self.on_delivered is not None:  # Telegram took it: the alert latency ends
                self.on_delivered(item, self.clock())
            await self._db(self.outbox.mark_sent, item.id, _message_id(result))

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


def waiting(state: StateDB, now: float | None = None) -> dict[str, Any] | None:
    """Alerts held because the chat refuses them: count, since when, why (None if none)."""
    refused = state.settings.chat_refusal()
    if refused is None:
        return None
    count, oldest = state.outbox.unsent()
    if not count:
        return None
    return {"count": count, "since": oldest, "reason": refused.get("reason")}


def waiting_line(held: dict[str, Any], clock_text: str) -> str:
    """`3 alerts waiting since 12:03: the chat refuses them (403: bot was blocked by the user)`"""
    n = held["count"]
    return ngettext("{n} alert waiting since {time}: the chat refuses it ({why})",
                    "{n} alerts waiting since {time}: the chat refuses them ({why})", n).format(
        n=number(n), time=clock_text, why=held["reason"])
