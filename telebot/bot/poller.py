"""Reading updates on a bot token that ikabot reads too.

ikabot asks `getUpdates` *without* an offset for captcha answers and `pid:action` replies, so
it only sees updates nobody confirmed. Normal long polling would confirm (and so take away)
everything; this poller never passes an offset for a young update. It asks without offset,
hands telebot's own commands and buttons to the Application (as the custom-webhook example
does: `.updater(None)` and `update_queue.put`), and remembers the highest update it handled in
its database, so each command is answered once, across restarts too.

A queue nobody confirms fills up: Telegram returns only the first 100 unconfirmed updates,
after which ikabot and telebot would both go deaf. So updates older than
TELEBOT_CONFIRM_AFTER_MINUTES are confirmed, by an offset just past the longest run of old
updates at the head of the queue (an offset confirms *everything* before it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from telegram import Bot, Update
from telegram.error import Conflict, NetworkError, RetryAfter, TelegramError, TimedOut

from telebot.logsafe import redact
from telebot.state import StateDB

log = logging.getLogger(__name__)

BATCH = 100
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?:\s|$)")


def retry_after_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


@dataclass
class SharedPoller:
    bot: Bot
    queue: asyncio.Queue[object]
    state: StateDB
    commands: Collection[str]
    poll_seconds: float
    confirm_after: float  # seconds
    started_at: float = field(default_factory=time.time)
    callback_prefix: str = "tb:"
    _first_seen: dict[int, float] = field(default_factory=dict)
    handled: int = 0

    def is_ours(self, update: Update) -> bool:
        if update.callback_query is not None:
            return (update.callback_query.data or "").startswith(self.callback_prefix)
        message = update.message or update.channel_post
        if message is None or not message.text:
            return False
        m = _COMMAND.match(message.text)
        if not m or m.group(1).lower() not in self.commands:
            return False
        mention = m.group(2)
        if mention is None:
            return True
        try:
            return mention.lower() == self.bot.username.lower()
        except RuntimeError:  # not initialised yet: the name is unknown, take it
            return True

    def _age_base(self, update: Update, now: float) -> float:
        """When the update happened: the message date, else when telebot first saw it."""
        first = self._first_seen.setdefault(update.update_id, now)
        message = update.message or update.edited_message or update.channel_post
        return message.date.timestamp() if message is not None and message.date else first

    async def tick(self) -> int:
        """One poll; returns how many of telebot's updates it handed over."""
        handed = 0
        for _ in range(5):  # a full batch that the janitor shortened: look again at once
            try:
                updates = await self.bot.get_updates(timeout=0, limit=BATCH)
            except Conflict:
                return handed  # ikabot polled at the same moment: normal, next tick
            except RetryAfter as e:
                await asyncio.sleep(retry_after_seconds(e))
                return handed
            except (TimedOut, NetworkError) as e:
                log.warning("getUpdates failed, retrying next tick: %s", redact(str(e)))
                return handed
            now = time.time()
            last = int(self.state.get("last_update_id", 0))
            new_last = last
            ours = []
            for update in updates:
                if update.update_id <= last:
                    continue
                new_last = max(new_last, update.update_id)
                if not self.is_ours(update):
                    continue
                message = update.message or update.channel_post
                if message is not None and message.date.timestamp() < self.started_at - 1:
                    continue  # sent before telebot started: not answered late
                ours.append(update)
            if new_last != last:
                # recorded before handing over: a crash in between loses an answer, and
                # never answers a command twice
                self.state.set("last_update_id", new_last)
            for update in ours:
                await self.queue.put(update)
            handed += len(ours)
            confirmed = await self._janitor(updates, now)
            if not (confirmed and len(updates) >= BATCH):
                break
        self.handled += handed
        return handed

    async def _janitor(self, updates: tuple[Update, ...], now: float) -> bool:
        limit = now - self.confirm_after
        upto = None
        for update in sorted(updates, key=lambda u: u.update_id):
            if self._age_base(update, now) > limit:
                break
            upto = update.update_id
        for uid in [u for u in self._first_seen if upto is not None and u <= upto]:
            del self._first_seen[uid]
        if upto is None:
            return False
        try:
            await self.bot.get_updates(offset=upto + 1, limit=1, timeout=0)
        except TelegramError as e:
            log.info("could not confirm old updates yet: %s", redact(str(e)))
            return False
        log.info("confirmed Telegram updates up to %s (older than %.0f min)", upto,
                 self.confirm_after / 60)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as e:  # the poller must outlive any surprise
                log.warning("poller error: %s: %s", type(e).__name__, redact(str(e)))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
