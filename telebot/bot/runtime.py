"""What the running bot shares between its handlers, jobs and the alerter."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telebot.config import Settings
from telebot.ikabot.store import Store, open_store
from telebot.model import Task
from telebot.state import StateDB
from telebot.tasks import DeadTasks, annotate, build_tasks

if TYPE_CHECKING:
    from telebot.alerts.alerter import Alerter

log = logging.getLogger(__name__)

STRANGER_QUIET = 3600.0  # seconds between two fixed lines to one stranger's chat
STRANGERS_REMEMBERED = 10_000
STRANGER_LINES_PER_MINUTE = 10  # fixed lines to all strangers together


@dataclass
class Runtime:
    settings: Settings
    store: Store
    state: StateDB
    chat_id: str
    started_at: float = field(default_factory=time.time)
    alerter: Alerter | None = None
    last_tasks: list[Task] = field(default_factory=list)
    _read_lock: threading.Lock = field(default_factory=threading.Lock)
    _dead: DeadTasks = field(default_factory=DeadTasks)

    def _read(self) -> list[Task]:
        with self._read_lock:  # the store keeps caches; one reader at a time
            if self.store.layout == "legacy" and self.store.path.is_dir():
                # ikabot was upgraded to 7.6+ while telebot ran: it moved the file into a
                # directory (the old lines wait in .legacy_migration.enc); follow it
                log.warning("ikabot's data at %s is now a directory; reading that layout",
                            self.store.path)
                self.store = open_store(self.settings)
            if not self.store.path.exists():
                # removed (a volume gone, ikabot reinstalled): no tasks to read, and the
                # owner is told once (`data_gone`); tracked tasks are still watched
                self.warnings = [f"ikabot's data at {self.store.path} is gone"]
                self.data_gone = True
                return []
            if self.data_gone and self.store.layout == "directory":
                self.store = open_store(self.settings)  # back: read it afresh
            self.data_gone = False
            snap = self.store.read()
            self.warnings = list(snap.warnings)
            return build_tasks(snap, dead=self._dead)

    def gone_news(self) -> str | None:
        """Once per disappearance: the line that tells the owner ikabot's data is gone."""
        if not self.data_gone:
            self._told_gone = False
            return None
        if self._told_gone:
            return None
        self._told_gone = True
        return (f"⚠️ ikabot's data at {self.store.path} is gone: telebot sees no tasks now "
                "(it still watches the ones it tracked). Was ikabot removed, or its volume "
                "unmounted? telebot reads it again as soon as it is back.")

    async def tasks(self) -> list[Task]:
        """A fresh read (off the event loop: a torn legacy read may back off for a moment)."""
        self.read_at = time.time()
        tasks = await asyncio.to_thread(self._read)
        annotate(tasks, self.state)
        if self.alerter is not None:
            # every read is a scan: a status that lasted less than a scan interval but was
            # shown to the player is in the task's history too (its `Mission k/N` depends on it)
            self.alerter.observe(tasks)
        self.last_tasks = tasks
        return tasks

    _told: dict[int, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what the last read could not read
    data_gone: bool = False  # ikabot's data disappeared (the last read found nothing there)
    _told_gone: bool = False
    read_at: float = 0.0  # when the last read of ikabot's data began

    @property
    def group_chat(self) -> bool:
        """telebot's chat is a group (negative ids): its members need not see the login."""
        return self.chat_id.startswith("-")

    def is_owner(self, chat_id: int | str | None) -> bool:
        """Is this the owner's chat (the one that gets answers with data)?"""
        return chat_id is not None and str(chat_id) == self.chat_id

    def may_change(self, user_id: int | None) -> bool:
        """May this user change anything (alerts, mute, reports, stop tasks)?

        TELEBOT_OWNER_IDS when set; otherwise the user of the owner's private chat. In a group
        chat without TELEBOT_OWNER_IDS everyone there can read, and nobody can change anything:
        every member of a group would otherwise steer the bot.
        """
        if user_id is None:
            return False
        if self.settings.owner_ids:
            return user_id in self.settings.owner_ids
        return not self.group_chat and str(user_id) == self.chat_id

    def tell_stranger(self, chat_id: int, now: float | None = None) -> bool:
        """Strangers get the fixed line at most once an hour a chat (a flood costs nothing)."""
        now = time.time() if now is None else now
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
