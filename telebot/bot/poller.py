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

The one blind spot left: a young message ikabot may still need at the head, and a full page
(100) of other updates behind it. Nothing can be confirmed before that message is old enough,
and the owner's commands further back stay out of sight until then. That is inherent to a
shared token, so it is said once (`on_blind`): why, until when, and that TELEBOT_TOKEN avoids it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Bot, Update
from telegram.error import Conflict, NetworkError, RetryAfter, TelegramError, TimedOut

from telebot.bot.telegram_errors import retry_after_seconds
from telebot.i18n import _, number
from telebot.logsafe import redact
from telebot.state import StateDB

log = logging.getLogger(__name__)

BATCH = 100
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?:\s|$)")
# ikabot's Telegram set-up (menu 21 -> 1, `botComm.updateTelegramData`) asks the player to send
# `/ikabot NNNN` and reads it without an offset, from any chat (it learns its chat from it)
_IKABOT_SETUP = re.compile(r"^\s*/ikabot(?:@[A-Za-z0-9_]+)?(?:\s|$)", re.IGNORECASE)


def is_ikabot_setup(text: str | None) -> bool:
    """ikabot's own set-up command: telebot never answers it, and leaves it to ikabot."""
    return text is not None and _IKABOT_SETUP.match(text) is not None


def _date(update: Update) -> float | None:
    message = update.message or update.channel_post
    return message.date.timestamp() if message is not None and message.date else None


@dataclass(frozen=True)
class Mark:
    """The highest update telebot handled, and the newest message date among those seen.

    Telegram numbers updates per bot, and after a week without updates it starts again from a
    random id, possibly lower: an update at or below the mark whose message is newer than
    anything seen can then only come from that restart (every update at or below the mark
    was seen before, with its date). The mark is kept per bot id, so a new token on the same
    state directory starts its own count.
    """

    update_id: int
    date: float

    def reset_by(self, update: Update) -> bool:
        date = _date(update)
        return date is not None and date > self.date

    def after(self, updates: tuple[Update, ...]) -> Mark:
        ids = [u.update_id for u in updates]
        dates = [d for d in map(_date, updates) if d is not None]
        return Mark(max([self.update_id, *ids]), max([self.date, *dates]))


@dataclass
class Marks:
    """The poller's `Mark`, kept in the settings store per bot id."""

    state: StateDB
    bot_id: str
    started_at: float
    stored: Mark | None = None

    def current(self) -> Mark:
        if self.stored is None:
            saved = self.state.settings.update_mark(self.bot_id)
            if saved is not None:
                self.stored = Mark(int(saved.get("id", 0)), float(saved.get("date", 0.0)))
            else:
                # before marks were kept per bot: adopt the old one, dated at this start, so
                # that only a message sent since can count as a restart of the ids
                self.stored = Mark(
                    self.state.settings.legacy_last_update() or 0, self.started_at - 2
                )
        return self.stored

    async def store(self, mark: Mark) -> None:
        """Committed before the updates it covers are handed over (`SharedPoller.tick`)."""
        await self.state.run(
            self.state.settings.set_update_mark, self.bot_id, mark.update_id, mark.date
        )
        self.stored = mark


def pick_ours(
    updates: tuple[Update, ...], mark: Mark, is_ours: Callable[[Update], bool], started_at: float
) -> tuple[Mark, list[Update]]:
    """The updates of a batch that are telebot's and new, and the mark they are read from
    (moved back when Telegram's update ids started again)."""
    ours = []
    for update in updates:
        if update.update_id <= mark.update_id:
            if not mark.reset_by(update):
                continue
            log.warning(
                "Telegram's update ids started again (update %d after %d): reading from there",
                update.update_id,
                mark.update_id,
            )
            mark = Mark(update.update_id - 1, mark.date)
        if not is_ours(update):
            continue
        message = update.message or update.channel_post
        if message is not None and message.date.timestamp() < started_at - 1:
            continue  # sent before telebot started: not answered late
        ours.append(update)
    return mark, ours


def happened(update: Update, now: float, first_seen: dict[int, float]) -> float:
    """When the update happened: the message date, else when telebot first saw it."""
    first = first_seen.setdefault(update.update_id, now)
    message = update.message or update.edited_message or update.channel_post
    return message.date.timestamp() if message is not None and message.date else first


class SharedPoller:
    """getUpdates on the token telebot shares with ikabot, taking only telebot's updates
    (a service with a life: a plain class)."""

    def __init__(
        self,
        bot: Bot,
        queue: asyncio.Queue[object],
        state: StateDB,
        poll_seconds: float,
        confirm_after: float,
        *,
        started_at: float | None = None,
        callback_prefix: str = "tb:",
        ikabot_chat: str | None = None,
    ) -> None:
        self.bot, self.queue, self.state = bot, queue, state
        self.poll_seconds = poll_seconds
        self.confirm_after = confirm_after  # seconds
        self.started_at = time.time() if started_at is None else started_at
        self.callback_prefix = callback_prefix
        self.ikabot_chat = ikabot_chat  # the chat ikabot reads its answers from
        self.handled = 0
        self.marks = Marks(self.state, self.bot.token.partition(":")[0], self.started_at)
        self.wants: Callable[[Update], bool] | None = None  # more of telebot's (/menu's texts)
        self.on_blind: Callable[[int, float], Awaitable[None]] | None = None  # (head, until)
        self._first_seen: dict[int, float] = {}
        self._blind_head: int | None = None

    def is_ours(self, update: Update) -> bool:
        if update.callback_query is not None:
            return (update.callback_query.data or "").startswith(self.callback_prefix)
        message = update.message or update.channel_post
        if message is None or not message.text or is_ikabot_setup(message.text):
            return False
        if not (m := _COMMAND.match(message.text)):
            return self.wants is not None and self.wants(update)
        mention = m.group(2)
        if mention is None:  # a bare unknown command still gets its hint (in a private chat)
            return True
        try:
            return mention.lower() == self.bot.username.lower()
        except RuntimeError:  # not initialised yet: the name is unknown, take it
            return True

    async def tick(self) -> int:
        """One poll; returns how many of telebot's updates it handed over."""
        handed = 0
        for _try in range(5):  # a full batch that the janitor shortened: look again at once
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
            mark, ours = pick_ours(updates, self.marks.current(), self.is_ours, self.started_at)
            new = mark.after(updates)
            if new != self.marks.stored:
                # recorded before handing over: a crash in between loses an answer, and
                # never answers a command twice
                await self.marks.store(new)
            for update in ours:
                await self.queue.put(update)
            handed += len(ours)
            confirmed = await self._janitor(updates, now)
            await self._watch_blind_spot(updates, now, confirmed)
            if not (confirmed and len(updates) >= BATCH):
                break
        self.handled += handed
        return handed

    def ikabot_may_use(self, update: Update, mark: Mark) -> bool:
        """Could ikabot still want this update? It reads only `message` updates from its own
        chat (captcha answers, `pid:action` replies), and never telebot's commands; its set-up
        command `/ikabot NNNN` from any chat (the set-up learns ikabot's chat from it)."""
        message = update.message
        if message is None or self.ikabot_chat is None or is_ikabot_setup(message.text):
            return message is not None
        if str(message.chat.id) != self.ikabot_chat:
            return False
        return not (update.update_id <= mark.update_id and self.is_ours(update))

    async def _janitor(self, updates: tuple[Update, ...], now: float) -> bool:
        """Confirm the head run of the queue that nobody needs any more: updates ikabot can
        never use (a stranger's 100 messages would otherwise hide everything behind them from
        both ikabot and telebot), and any update older than TELEBOT_CONFIRM_AFTER_MINUTES."""
        limit = now - self.confirm_after
        mark = self.marks.current()
        upto = None
        for update in sorted(updates, key=lambda u: u.update_id):
            recent = happened(update, now, self._first_seen) > limit
            if recent and self.ikabot_may_use(update, mark):
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
        log.info(
            "confirmed Telegram updates up to %s (ikabot cannot use them, or older than %.0f min)",
            upto,
            self.confirm_after / 60,
        )
        return True

    async def _watch_blind_spot(
        self, updates: tuple[Update, ...], now: float, confirmed: bool
    ) -> None:
        """A full page whose head could not be confirmed: updates past it are out of sight
        until the head is old enough. Said once per head."""
        if confirmed or len(updates) < BATCH:
            self._blind_head = None
            return
        head = min(updates, key=lambda u: u.update_id)
        until = happened(head, now, self._first_seen) + self.confirm_after
        if until <= now or self._blind_head == head.update_id:
            return
        self._blind_head = head.update_id
        log.warning(
            "shared token: a message ikabot may still need heads Telegram's queue with "
            "%d+ updates behind it; telebot cannot see commands behind them until %s "
            "(a TELEBOT_TOKEN of its own avoids this)",
            len(updates),
            time.strftime("%H:%M", time.localtime(until)),
        )
        if self.on_blind is not None:
            await self.on_blind(head.update_id, until)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as e:  # the poller must outlive any surprise
                log.warning("poller error: %s: %s", type(e).__name__, redact(str(e)))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_seconds)


def blind_spot_text(until_clock: str, confirm_minutes: float) -> str:
    """What the owner is told once when the shared token's queue hides their commands."""
    return _(
        "⚠️ telebot cannot see your commands for now (until about {clock}). It shares "
        "ikabot's bot token: Telegram shows both only the first 100 waiting updates, and "
        "the first of them is a message ikabot may still need (a captcha answer or a "
        "reply), which telebot must not take away before it is {minutes} minutes old; "
        "more than 100 messages from other chats wait behind it. Alerts still arrive. A "
        "bot of telebot's own (TELEBOT_TOKEN, see README) avoids this."
    ).format(clock=until_clock, minutes=number(round(confirm_minutes)))
