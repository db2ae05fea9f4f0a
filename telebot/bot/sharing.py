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

from telegram import Update

from telebot.bot.callbacks import PREFIX as CALLBACK_PREFIX
from telebot.bot.context import BotApp
from telebot.bot.poller import SharedPoller
from telebot.config import Settings, shares_ikabots_token
from telebot.state import StateDB
from telebot.tasks.model import TelegramConfig

log = logging.getLogger(__name__)


class UpdateSource:
    """Where telebot's updates come from: its own token (python-telegram-bot's polling) or
    the token it shares with ikabot (`SharedPoller`), switched as ikabot's settings change
    (a service with a life: a plain class)."""

    def __init__(
        self,
        app: BotApp,
        settings: Settings,
        state: StateDB,
        chat_id: str,
        started_at: float,
        telegram: TelegramConfig,
        *,
        on_blind: Callable[[int, float], Awaitable[None]] | None = None,
        wants: Callable[[Update], bool] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings  # as configured: `token` is TELEBOT_TOKEN, None in shared mode
        self.state, self.chat_id, self.started_at = state, chat_id, started_at
        self.telegram = telegram  # ikabot's settings, as last read
        self.on_blind = on_blind  # `SharedPoller.on_blind`
        self.wants = wants  # `SharedPoller.wants` (/menu's texts)
        self.poller: SharedPoller | None = None
        self._stop = asyncio.Event()
        self._poller_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def dedicated(self) -> bool:
        return self.poller is None

    async def start(self, error_callback: object) -> None:
        if self.settings.dedicated_token and not shares_ikabots_token(self.settings, self.telegram):
            if self.app.updater is None:
                raise RuntimeError("dedicated mode needs python-telegram-bot's Updater")
            await self.app.updater.start_polling(
                error_callback=error_callback,  # type: ignore[arg-type]
                drop_pending_updates=False,
            )
        else:
            self._start_shared()

    def _start_shared(self) -> None:
        self.poller = SharedPoller(
            self.app.bot,
            self.app.update_queue,
            self.state,
            self.settings.poll_seconds,
            self.settings.confirm_after_minutes * 60,
            started_at=self.started_at,
            callback_prefix=CALLBACK_PREFIX,
            ikabot_chat=self.telegram.chat_id or self.chat_id,
        )
        self.poller.on_blind = self.on_blind
        self.poller.wants = self.wants
        self._poller_task = asyncio.create_task(self.poller.run(self._stop), name="shared-poller")

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
            log.warning(
                "ikabot now uses TELEBOT_TOKEN too: telebot reads its updates the "
                "shared way from now on, leaving ikabot its captcha answers"
            )
            if self.app.updater is not None and self.app.updater.running:
                await self.app.updater.stop()
            self._start_shared()

    async def stop(self) -> None:
        self._stop.set()
        if self._poller_task is not None:
            await self._poller_task
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
