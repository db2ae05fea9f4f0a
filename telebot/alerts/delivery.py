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

Two parts: the `Courier` keeps the outbox's record (each step one durable commit on the
state's writer thread), the `Deliverer` runs the loop that hands each item to the way out
(`sending.Out`, the bot stage's) and reads its outcome. Listeners on `on_delivered` hear of
every item Telegram took (a metric, a follow-up), the moment it took it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from telebot.alerts.sending import (
    ChatRefuses,
    Edit,
    NotModified,
    Out,
    Rejected,
    Send,
    TokenRejected,
    TryLater,
    Unparsable,
    Unreachable,
)
from telebot.i18n import ngettext, number
from telebot.logsafe import redact
from telebot.state import OutboxItem, Pending, StateDB

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
TOKEN_BACKOFF = 60.0
HOLD_START = 30.0  # a refusing chat: first retry after this, doubling …
HOLD_MAX = 600.0  # … to at most every 10 minutes
GIVE_UP_AFTER = 7 * 86400.0  # an alert refused this long is dropped (with an error line)

T = TypeVar("T")
# told of each item Telegram took, after it was marked sent: the item, and when (time.time)
OnDelivered = Callable[[OutboxItem, float], None]


_TAGS = re.compile(r"<[^>]*>")


def plain_text(text_html: str) -> str:
    """What a person reads in an HTML alert, without the markup: tags out, entities decoded."""
    return html.unescape(_TAGS.sub("", text_html))


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


class Courier:
    """The outbox's record of delivery: every step one durable commit on the state's writer
    thread (what it reads was committed; no commit stalls the event loop)."""

    def __init__(self, state: StateDB) -> None:
        self.state = state
        self.outbox = state.outbox

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.state.run(fn, *args, **kwargs)

    async def pending(self, now: float) -> list[OutboxItem]:
        return await self._db(self.outbox.pending, now)

    async def next_held(self) -> float | None:
        return await self._db(self.outbox.next_not_before)

    async def sent(self, item: OutboxItem, message_id: int | None) -> bool:
        """Marked sent; True when its text changed on the way (a storm grew: an edit is
        queued)."""
        return await self._db(self.outbox.mark_sent_and_follow, item, message_id)

    async def done(self, item: OutboxItem, message_id: int | None = None) -> None:
        await self._db(self.outbox.mark_sent, item.id, message_id)

    async def supersede(self, item: OutboxItem) -> None:
        """Older pending edits of the same message are moot once this one goes."""
        await self._db(self.outbox.supersede_edits, item.edits or 0, item.id)

    async def head(self, item: OutboxItem) -> OutboxItem | None:
        """The message an edit is for."""
        return await self._db(self.outbox.item, item.edits or 0)

    async def retarget(
        self, item: OutboxItem, head: OutboxItem | None, message_id: int | None
    ) -> None:
        await self._db(self.outbox.retarget, item, head, message_id)

    async def failed(self, item: OutboxItem, why: str, *, drop: bool = False) -> None:
        await self._db(self.outbox.record_failure, item.id, why, drop=drop)


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
        expired = await self.state.run(
            outbox.drop_pending_before, now - GIVE_UP_AFTER, f"given up: {why}"
        )
        if expired:
            log.error("gave up on %d alert(s) the chat refused for 7 days (%s)", expired, why)
        if self.refused != why:
            log.error(
                "the chat %s refuses alerts (%s): they are kept and tried again, at "
                "most every %d minutes, until it accepts them (open the bot in Telegram "
                "and press Start; `telebot check` says more)",
                item.chat_id,
                why,
                HOLD_MAX // 60,
            )
            self.refused, self.delay = why, HOLD_START
            await self.state.run(settings.set_chat_refusal, {"since": now, "reason": why})
        else:
            self.delay = min(HOLD_MAX, self.delay * 2)
        self.until = now + self.delay
        log.info(
            "alert %d held (the chat refuses it: %s); next try in %.0f s", item.id, why, self.delay
        )
        return self.delay

    async def accepted(self, count: int) -> None:
        if self.refused is None:
            return
        log.warning(
            "the chat accepts alerts again (it refused them: %s); sending the %d held, in order",
            self.refused,
            count,
        )
        self.refused, self.until, self.delay = None, 0.0, HOLD_START
        await self.state.run(self.state.settings.set_chat_refusal, None)


class Handover:
    """What an end's writer step found pending (as its commit began), kept for the deliverer's
    next round. Only the deliverer takes items out of the outbox, and it awaits each of those
    writes before its next round: an unchanged `taken` count means none of the handed items
    was sent or dropped since (never sent twice). Other writes do not spoil the list: in a
    storm the first death's alert leaves while the next deaths are written (one retexting the
    unsent first: it is sent as handed and then edited)."""

    def __init__(self, state: StateDB) -> None:
        self.outbox = state.outbox
        self._pending: Pending | None = None

    def give(self, pending: Pending) -> None:
        self._pending = pending

    def take(self) -> list[OutboxItem] | None:
        """The handed items if still the table's (once), else None: read them afresh."""
        pending, self._pending = self._pending, None
        if pending is None or pending.taken != self.outbox.taken:
            return None
        return pending.items


class Deliverer:
    """The delivery loop: what the outbox holds, handed to `out` in order, its outcome read."""

    def __init__(self, state: StateDB, out: Out, *, clock: Callable[[], float] = time.time) -> None:
        self.state, self.out, self.clock = state, out, clock
        self.courier = Courier(state)
        self.hold = Hold(state)
        self.on_delivered: list[OnDelivered] = []
        self._wakeup = Wakeup()
        self._handed = Handover(state)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self, pending: Pending | None = None) -> None:
        """Look at the outbox now (`Wakeup.wake`). `pending`: what a writer step read after its
        commit; the next round sends from it instead of reading again, if no write came since
        (a death's alert then leaves without another trip to the writer thread)."""
        if pending is not None:
            self._handed.give(pending)
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
                    held = await self.courier.next_held()
                    if held:
                        delay = max(0.05, held - self.clock())
                elif delay < 0:  # a failure that backs off
                    delay, backoff = backoff, min(BACKOFF_MAX, backoff * 2)
            except Exception as e:  # a database hiccup must not end delivery for good
                log.error(
                    "alert delivery error (%s: %s); retrying in %.1f s",
                    type(e).__name__,
                    redact(str(e)),
                    backoff,
                )
                delay, backoff = backoff, min(BACKOFF_MAX, backoff * 2)
            await self._wakeup.sleep(delay)

    async def _round(self) -> float | None:
        """Send what is pending; None when done, a delay to wait, or -1 for the backoff."""
        now = self.clock()
        wait = self.hold.waiting(now)
        if wait is not None:
            return wait  # a refusing chat: not before the next retry
        handed = self._handed.take()
        items = handed if handed is not None else await self.courier.pending(now)
        latest_edit = {item.edits: item.id for item in items if item.edits is not None}
        for item in items:
            if item.edits is not None and latest_edit[item.edits] != item.id:
                continue  # a newer text for the same message follows
            try:
                await self._deliver(item)
            except TryLater as e:
                await self.courier.failed(item, "429")
                return e.seconds + 0.05
            except TokenRejected as e:
                await self.courier.failed(item, e.why)
                log.error(
                    "Telegram rejects the bot token; alerts are kept until it works "
                    "again (check TELEBOT_TOKEN or ikabot's Telegram settings)"
                )
                return TOKEN_BACKOFF
            except ChatRefuses as e:  # the chat, not this text: hold them all, in order
                return await self.hold.refuse(item, e.why, now)
            except (Rejected, Unparsable) as e:  # never accepted; don't block the rest
                log.error("alert %d dropped: %s", item.id, e.why)
                await self.courier.failed(item, e.why, drop=True)
            except (Unreachable, OSError) as e:
                why = e.why if isinstance(e, Unreachable) else redact(str(e))
                await self.courier.failed(item, why)
                log.warning("alert %d not sent yet (%s); retrying", item.id, why)
                return -1
            else:
                await self.hold.accepted(len(items))
        return None

    async def _deliver(self, item: OutboxItem) -> None:
        """One item: an edit, or a new message; a text Telegram cannot parse goes as plain."""
        try:
            if item.edits is not None:
                await self.courier.supersede(item)
                await self._edit(item)
                return
            mid = await self.out.send(Send(item.chat_id, item.text, item.markup))
            self._took(item)
            if await self.courier.sent(item, mid):  # a storm grew on the way: edit queued
                self._wakeup.woken = True
        except Unparsable as e:
            log.warning(
                "alert %d: Telegram cannot parse its text (%s); sending it as plain text",
                item.id,
                e.why,
            )
            mid = await self.out.send(Send(item.chat_id, plain_text(item.text), html=False))
            self._took(item)
            await self.courier.done(item, mid)

    async def _edit(self, item: OutboxItem) -> None:
        head = await self.courier.head(item)
        target = head.message_id if head is not None else None
        if target is not None:
            try:
                await self.out.edit(Edit(item.chat_id, target, item.text, item.markup))
            except NotModified:
                pass  # as good as done
            except (Rejected, Unparsable):  # too old, deleted, …: a new message carries it
                target = None
            if target is not None:
                self._took(item)
                await self.courier.done(item)
                return
        mid = await self.out.send(Send(item.chat_id, item.text, item.markup))  # anew
        self._took(item)
        await self.courier.retarget(item, head, mid)

    def _took(self, item: OutboxItem) -> None:
        """Telegram took `item` (just now: the alert's latency ends here, before the commit
        that records it)."""
        delivered(item, self.clock(), self.on_delivered)


def delivered(item: OutboxItem, at: float, listeners: list[OnDelivered]) -> None:
    """One log line, and each listener told, none able to stop delivery."""
    log.info(
        "alert %d (%s) delivered, %.0f ms after it was written",
        item.id,
        item.kind,
        max(0.0, at - item.created_at) * 1000,
    )
    for listener in listeners:
        try:
            listener(item, at)
        except Exception as e:
            log.error("on_delivered listener failed: %s", type(e).__name__)


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
    return ngettext(
        "{n} alert waiting since {time}: the chat refuses it ({why})",
        "{n} alerts waiting since {time}: the chat refuses them ({why})",
        n,
    ).format(n=number(n), time=clock_text, why=held["reason"])
