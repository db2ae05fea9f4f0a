"""What the running bot shares between its handlers, jobs and the alerter.

Reading ikabot's data runs in a worker thread (a torn legacy read may back off for a moment);
the worker only *returns* what it found (`Read`), and the event loop applies it, so handlers
never see a half-updated runtime. Handing the tasks to the alerter is a step of its own
(`refresh`), not a side effect of reading.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telebot.bot.ordering import MemberLimit
from telebot.bot.permissions import Permissions, Strangers
from telebot.config import Settings
from telebot.i18n import _
from telebot.ikabot.store import Store, open_store
from telebot.state import StateDB
from telebot.tasks.merge import DeadTasks, annotate_part, annotate_parts, build_tasks, view_of
from telebot.tasks.model import Snapshot, Task, TelegramConfig

if TYPE_CHECKING:
    from telebot.alerts.alerter import Alerter
    from telebot.metrics.exporter import MetricsExporter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Read:
    """What one read of ikabot's data found."""

    tasks: list[Task]
    warnings: list[str]  # what could not be read
    data_gone: bool  # ikabot's data is not there at all
    store: Store | None = None  # a store opened afresh (the layout changed, or the data is back)
    telegram: TelegramConfig | None = None  # ikabot's Telegram settings, when read


def read_tasks(
    store: Store,
    settings: Settings,
    data_gone: bool,
    dead: DeadTasks,
    store_lock: AbstractContextManager[object] | None = None,
) -> Read:
    """One read (blocking: for a worker thread). `data_gone`: what the last read found.
    `store_lock` is held while the store reads (it keeps caches), not while the views are
    built: a death's read of ikabot's data (`Runtime.ended_entry`) waits for the files' stat
    calls of a scan, never for its thousands of views."""
    fresh = None
    with store_lock or nullcontext():
        if store.layout == "legacy" and store.path.is_dir():
            # ikabot was upgraded to 7.6+ while telebot ran: it moved the file into a
            # directory (the old lines wait in .legacy_migration.enc); follow it
            log.warning("ikabot's data at %s is now a directory; reading that layout", store.path)
            store = fresh = open_store(settings)
        if not store.path.exists():
            # removed (a volume gone, ikabot reinstalled): no tasks to read, and the owner is
            # told once (`Runtime.gone_news`); tracked tasks are still watched
            gone = _("ikabot's data at {path} is gone").format(path=store.path)
            return Read([], [gone], True, fresh)
        if data_gone and store.layout == "directory":
            store = fresh = open_store(settings)  # back: read it afresh
        snap = store.read()
    return Read(build_tasks(snap, dead=dead), list(snap.warnings), False, fresh, snap.telegram)


async def annotate_in_steps(state: StateDB, parts: list[list[Task]]) -> None:
    """`merge.annotate` on the state's writer thread, one part a step (`annotate_parts`): a
    death's step (`EndWriter.write`), queued meanwhile, runs after the part under way, not
    after the whole scan's."""
    for part in parts:
        await state.run(annotate_part, part, state.tracking)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    state: StateDB
    chat_id: str
    started_at: float = field(default_factory=time.time)
    alerter: Alerter | None = None
    metrics: MetricsExporter | None = None  # TELEBOT_METRICS_ADDR / _FILE, when set
    permissions: Permissions = field(init=False)
    strangers: Strangers = field(default_factory=Strangers)
    warnings: list[str] = field(default_factory=list)  # what the last read could not read
    data_gone: bool = False  # ikabot's data disappeared (the last read found nothing there)
    _told_gone: bool = False
    _after_end: tuple[float, Snapshot] | None = None  # (read at, what): ended_entry's
    _read_lock: threading.Lock = field(default_factory=threading.Lock)  # the store's reads
    _build_lock: threading.Lock = field(default_factory=threading.Lock)  # `_dead`'s builders
    _dead: DeadTasks = field(default_factory=DeadTasks)  # touched under `_build_lock` only
    member_limit: MemberLimit = field(default_factory=MemberLimit)  # a group member's pace
    # told ikabot's Telegram settings after each read (`sharing.UpdateSource.follow`)
    on_telegram: Callable[[TelegramConfig], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        self.permissions = Permissions(self.chat_id, self.settings.owner_ids)

    def _read(self, store: Store, data_gone: bool) -> Read:
        with self._build_lock:  # one scan's views at a time (`_dead` is reused between them)
            return read_tasks(store, self.settings, data_gone, self._dead, self._read_lock)

    def _read_parts(self, store: Store, data_gone: bool) -> tuple[Read, list[list[Task]]]:
        found = self._read(store, data_gone)  # and the parts (a pass over every view) too
        return found, annotate_parts(found.tasks)

    async def read(self) -> list[Task]:
        """ikabot's tasks as they are now, with what telebot's database knows of them."""
        found, parts = await asyncio.to_thread(self._read_parts, self.store, self.data_gone)
        if found.store is not None:
            self.store = found.store
        self.warnings, self.data_gone = found.warnings, found.data_gone
        try:
            await annotate_in_steps(self.state, parts)
        except sqlite3.Error as e:  # a locked database: the tasks as ikabot recorded them
            log.warning("telebot's database could not be read (%s)", e)
        if self.on_telegram is not None and found.telegram is not None:
            await self.on_telegram(found.telegram)  # token equality, checked on every read
        return found.tasks

    async def refresh(self) -> list[Task]:
        """`read`, then hand the tasks to the alerter: every read is a scan, so a status that
        lasted less than a scan interval but was shown to the player is in the task's history
        too (its `run k of N` depends on it)."""
        tasks = await self.read()
        if self.alerter is not None:
            await self.alerter.read_log()
            try:
                await self.alerter.observe(tasks)
            except sqlite3.Error as e:  # /status answers even when tracking cannot write
                log.warning("tracking the tasks failed (%s)", e)
        return tasks

    def _snapshot(self) -> Snapshot:
        with self._read_lock:
            return self.store.read()

    def ended_entry(self, pid: int, started: float, ended_at: float) -> Task | None:
        """The entry of a task whose process just ended, as ikabot left it; on the state's
        writer thread, in the end's one step (`EndWriter.write`). One read of ikabot's data
        after the end (ikabot's unchanged files cost a stat each) serves every end before it,
        as in a storm. None if it cannot be read: the alert then states what the last scan
        saw, and goes out anyway."""
        if self._after_end is None or self._after_end[0] < ended_at:
            try:
                at = time.time()
                self._after_end = (at, self._snapshot())
            except Exception as e:  # never in the way of an alert
                log.warning("reading ikabot's data after an end: %s: %s", type(e).__name__, e)
                return None
        return view_of(self._after_end[1], pid, started)

    def gone_news(self) -> str | None:
        """Once per disappearance: the line that tells the owner ikabot's data is gone."""
        if not self.data_gone:
            self._told_gone = False
            return None
        if self._told_gone:
            return None
        self._told_gone = True
        return _(
            "⚠️ ikabot's data at {path} is gone: telebot sees no tasks now (it still "
            "watches the ones it tracked). Was ikabot removed, or its volume unmounted? "
            "telebot reads it again as soon as it is back."
        ).format(path=self.store.path)
