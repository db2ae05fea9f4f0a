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
            return build_tasks(self.store.read(), dead=self._dead)

    async def tasks(self) -> list[Task]:
        """A fresh read, off the event loop: a torn legacy read may back off for a moment."""
        tasks = await asyncio.to_thread(self._read)
        annotate(tasks, self.state)
        self.last_tasks = tasks
        return tasks

    def is_owner(self, chat_id: int | str | None) -> bool:
        return chat_id is not None and str(chat_id) == self.chat_id
