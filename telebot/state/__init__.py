"""telebot's own state, in SQLite under TELEBOT_STATE_DIR (never in ikabot's files).

Holds what must survive a restart or a SIGKILL, one store per concern over one shared
connection (`db.Database`: one writer thread, one transaction helper; the schema and its
migrations are in `schema`):

- `settings`: report interval, mute, alert switches, the poller's update marks per bot;
- `tracking`: the tasks being tracked (a death while telebot was down is still told) and their
  status history;
- `outbox`: the alerts, written before they are sent, marked sent after Telegram said ok;
- `control`: /kill's and 🔁 Run it's one-time buttons, and stop requests;
- `recordings`: /menu's recorded answers, for 🔁 Run again;
- `menus`: the /menu processes running (pid + identity), so that a menu a killed telebot
  left behind is ended at the next start;
- `keepalive`: ♻️ keep alive: the owner's word per task, chains of restarts, restarts due.

Code on the event loop hands store calls to the writer thread: `await state.run(fn, …)`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from telebot.state.control import ControlStore
from telebot.state.db import Database
from telebot.state.keepalive import KeepaliveStore
from telebot.state.menu_processes import MenuProcessesStore
from telebot.state.outbox import OutboxStore, Pending
from telebot.state.recordings import RecordingsStore
from telebot.state.rows import (
    AgainButton,
    Kept,
    KillButton,
    MenuProcess,
    OutboxItem,
    StopRequest,
    Tracked,
)
from telebot.state.schema import SCHEMA_VERSION
from telebot.state.settings import SettingsStore
from telebot.state.tracking import HISTORY_KEEP, TrackingStore

P = ParamSpec("P")
T = TypeVar("T")

__all__ = [
    "HISTORY_KEEP",
    "SCHEMA_VERSION",
    "AgainButton",
    "Kept",
    "KillButton",
    "MenuProcess",
    "OutboxItem",
    "Pending",
    "StateDB",
    "StopRequest",
    "Tracked",
]


class StateDB:
    """The stores, over one database."""

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        self.db = Database(directory, readonly=readonly)
        self.settings = SettingsStore(self.db)
        self.tracking = TrackingStore(self.db)
        self.outbox = OutboxStore(self.db)
        self.control = ControlStore(self.db)
        self.recordings = RecordingsStore(self.db)
        self.keepalive = KeepaliveStore(self.db)
        self.menus = MenuProcessesStore(self.db)

    @classmethod
    def open_readonly(cls, directory: Path) -> StateDB | None:
        """The database if telebot has one there, for a look; None otherwise."""
        if not (Path(directory) / "telebot.sqlite3").is_file():
            return None
        try:
            state = cls(directory, readonly=True)
            state.db.conn.execute("SELECT 1 FROM tracked LIMIT 1")
            return state
        except sqlite3.Error:
            return None

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args)` on the writer thread, awaited (`Database.run`)."""
        return await self.db.run(fn, *args, **kwargs)

    def take_news(self) -> str | None:
        """A problem with the database the owner has not been told yet (`Database.take_news`)."""
        return self.db.take_news()

    def close(self) -> None:
        self.db.close()
