"""Where telebot's updates come from, kept right while ikabot's Telegram settings change.

With TELEBOT_TOKEN naming a bot of telebot's own, python-telegram-bot's long polling reads
the updates (and confirms them all). With ikabot's token it must be the `SharedPoller`, which
leaves ikabot its captcha answers and `pid:action` replies. Which one is decided at start and
again on every read of ikabot's data that shows new Telegram settings: a player who sets up
ikabot's Telegram with telebot's token while telebot runs makes that token shared, and long
polling would then take ikabot's updates away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import Update

from telebot.bot.callbacks import PREFIX as CALLBACK_PREFIX
from telebot.bot.context import BotApp
from telebot.bot.poller import SharedPoller
from telebot.config import Settings, shares_ikabots_token
from telebot.state import StateDB
from telebot.tasks.model import TelegramConfig

log = logging.getLogger(__name__)


@dataclass
class UpdateSource:
    app: BotApp
    settings: Settings  # as configured: `token` is TELEBOT_TOKEN, None in shared mode
    state: StateDB
    chat_id: str
    started_at: float
    telegram: TelegramConfig  # ikabot's settings, as last read
    on_blind: Callable[[int, float], Awaitable[None]] | None = None  # `SharedPoller.on_blind`
    wants: Callable[[Update], bool] | None = None  # `SharedPoller.wants` (/menu's texts)
    poller: SharedPoller | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _poller_task: asyncio.Task[None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def dedicated(self) -> bool:
        return self.poller is None

    async def start(self, error_callback: object) -> None:
        if self.settings.dedicated_token and not shares_ikabots_token(self.settings,
                                                                      self.telegram):
            if self.app.updater is None:
                raise RuntimeError("dedicated mode needs python-telegram-bot's Updater")
            await self.app.updater.start_polling(
                error_callback=error_callback,  # type: ignore[arg-type]
                drop_pending_updates=False)
        else:
            self._start_shared()

    def _start_shared(self) -> None:
        self.poller = SharedPoller(self.app.bot, self.app.update_queue, self.state,
                                   self.settings.poll_seconds,
                                   self.settings.confirm_after_minutes * 60,
                                   started_at=self.started_at, callback_prefix=CALLBACK_PREFIX,
                                   ikabot_chat=self.telegram.chat_id or self.chat_id)
        self.poller.on_blind = self.on_blind
        self.poller.wants = self.wants
        self._poller_task = asyncio.create_task(self.poller.run(self._stop),
                                                name="shared-poller")

    async def follow(self, telegram: TelegramConfig) -> None:
        """ikabot's Telegram settings as just read: switch to the shared way when TELEBOT_TOKEN
        has become ikabot's token, and keep the poller on ikabot's current chat."""
        if telegram == self.telegram:
            return
        async with self._lock:
            self.telegram = telegram
            if self.poller is not None:
                self.poller.ikabot_chat = telegram.chat_id or self.chat_id
                return
            if not shares_ikabots_token(self.settings, telegram):
                return
            log.warning("ikabot now uses TELEBOT_TOKEN too: telebot reads its updates the "
                        "shared way from now on, leaving ikabot its captcha answers")
            if self.app.updater is not None and self.app.updater.running:
                await self.app.updater.stop()
            self._start_shared()

    async def stop(self) -> None:
        self._stop.set()
        if self._poller_task is not None:
            await self._poller_task
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
