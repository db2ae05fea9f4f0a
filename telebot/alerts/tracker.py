"""Which live tasks telebot tracks, remembered in its database so a restart loses none.

After each scan of ikabot's data: a new live task is tracked and watched (pidfd), a changed
status is written (and kept in the task's status history), an unchanged task is written only
once a minute (an SD card lives longer for it), a stall is noticed. At start: tracked tasks
whose process is gone (or that belong to an earlier boot of the machine) ended while telebot
was not running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telebot.processes import liveness
from telebot.processes.watcher import ProcessWatcher
from telebot.state import StateDB, Tracked
from telebot.state.tracking import TrackingStore
from telebot.tasks.facts import progress_json
from telebot.tasks.merge import ACTION_KEEP, STATUS_KEEP
from telebot.tasks.model import Task
from telebot.tasks.progress import runs_progress
from telebot.views import render

SEEN_ALIVE_EVERY = 60.0  # how often an unchanged task's "last seen alive" is written
KEEP_DAYS = 30  # ended tasks and sent alerts are forgotten after this

Gone = Callable[[int, int], None]
Stalled = Callable[[Tracked, float], bool]


PART_TASKS = 50  # tasks one writer step writes (`Tracker._write`): a death waits for one part


@dataclass
class Scan:
    """What one scan's write found: the keys of the rows open before it, the tasks it writes
    (in parts, `PART_TASKS` each), the live keys, the new ones, and whether a stall alert was
    written."""

    open_keys: list[tuple[int, int]]
    parts: list[list[Task]] = field(default_factory=list)
    seen: set[tuple[int, int]] = field(default_factory=set)
    new: list[tuple[int, int]] = field(default_factory=list)
    stalled: bool = False


def scan_of(tracking: TrackingStore, tasks: list[Task]) -> Scan:
    """A scan's first writer step: the keys of the open rows (no row read whole) and the tasks
    the write is about (the live ones, and the gone ones whose pid a row is open for), in
    parts in their order."""
    open_keys = tracking.open_keys()
    pids = {pid for pid, _ in open_keys}
    mine = [t for t in tasks if (t.alive and t.start_ticks is not None) or t.pid in pids]
    return Scan(open_keys, [mine[i : i + PART_TASKS] for i in range(0, len(mine), PART_TASKS)])


def tracked_row(task: Task, now: float, prev: Tracked | None) -> Tracked:
    """The row a scan keeps of a live task (`prev`: the row kept before, if any)."""
    progress = progress_json(task.progress)
    status = task.status[:STATUS_KEEP]
    changed = prev is None or prev.status != status or prev.progress != progress
    return Tracked(
        task.pid,
        int(task.start_ticks or 0),
        task.started,
        *task.account.fields,
        task.action[:ACTION_KEEP],
        status,
        progress,
        task.remaining,
        list(task.urls[: render.URLS_SHOWN]),  # what an alert can show
        prev.first_seen if prev else now,
        now,
        now if changed or prev is None else prev.last_change,
        None if changed or prev is None else prev.stalled_at,
        None,
        None,
    )


@dataclass
class Tracker:
    state: StateDB
    watcher: ProcessWatcher
    on_gone: Gone  # a tracked task found gone by a scan rather than by its pidfd
    on_stall: Stalled  # on the writer thread, inside the scan's transaction: write the alert
    stall_minutes: float = 0.0
    rebooted: bool = False  # set by `gone_at_start`: the machine booted since telebot last ran
    _pruned: float = field(default=0.0)

    async def observe(self, tasks: list[Task], now: float | None = None) -> bool:
        """After each scan: track new live tasks, keep their last state, spot stalls (True
        when a stall alert was written). The write runs on the state's writer thread in
        steps of `PART_TASKS` tasks, each its own transaction, so a death's step (queued on
        that thread) waits for one part, not the whole scan. A telebot killed between two
        parts leaves the parts before written and the later ones as the scan before left
        them: a consistent state (a row, its history and its stall alert commit together)
        that the next scan, or the first after a restart, brings up to date as it does any
        scan's changes."""
        now = time.time() if now is None else now
        scan = await self.state.run(scan_of, self.state.tracking, tasks)
        for part in scan.parts:
            new = len(scan.new)
            await self.state.run(self._write, part, now, scan)
            for pid, ticks in scan.new[new:]:
                self.watcher.watch(pid, ticks)
        if now - self._pruned >= 3600:  # months of running must not grow the database
            await self.state.run(self._prune, now)
        watched = self.watcher.watched()
        for key in scan.open_keys:  # tracked, gone from the live list, not watched
            pid, ticks = key
            if (
                key not in scan.seen
                and watched.get(pid) != ticks
                and not liveness.same_process(pid, ticks)
            ):
                self.on_gone(pid, ticks)
        return scan.stalled

    def _write(self, tasks: list[Task], now: float, scan: Scan) -> None:
        """One part of a scan (`scan_of`), one transaction, its rows read as they are now (an
        end written since the scan began is seen); unchanged tasks are written once a
        minute."""
        tracking = self.state.tracking
        rows = tracking.rows_of(t.pid for t in tasks)
        opened = sorted(  # as `tracked()` orders them: by_pid keeps the newest
            (r for mine in rows.values() for r in mine if r.ended_at is None),
            key=lambda r: (r.first_seen, r.pid),
        )
        open_rows = {r.key: r for r in opened}
        by_pid = {r.pid: r for r in opened}
        history: list[tuple[int, int, str, float]] = []
        with self.state.db.transaction():
            for task in tasks:
                if not task.alive and task.pid in by_pid:
                    self._last_words(by_pid[task.pid], task, now)
                if not task.alive or task.start_ticks is None:
                    continue
                key = (task.pid, task.start_ticks)
                scan.seen.add(key)
                prev = open_rows.get(key)
                row = tracked_row(task, now, prev)
                if prev is None or prev.status != row.status:
                    history.append((row.pid, row.start_ticks, row.status, now))
                if (
                    prev is None
                    or row.last_change != prev.last_change
                    or now - prev.last_seen_alive >= SEEN_ALIVE_EVERY
                ):
                    tracking.track(row)
                else:
                    row.last_seen_alive = prev.last_seen_alive
                if prev is None:
                    scan.new.append(key)
                scan.stalled |= self._check_stall(row, now)
            tracking.record_statuses(history)

    def _prune(self, now: float) -> None:
        with self.state.db.transaction():
            self.state.tracking.prune(now - KEEP_DAYS * 86400)
            self.state.outbox.prune(now - KEEP_DAYS * 86400)
        self._pruned = now

    def _last_words(self, row: Tracked, task: Task, now: float) -> None:
        changed = self.last_words(row, task, now)
        if changed is not None:
            self.keep_last_words(row, changed, now)

    def last_words(self, row: Tracked, task: Task, now: float) -> bool | None:
        """A tracked task whose process is gone, its end not yet recorded: what ikabot wrote
        last (a status that came after the last scan) is what its alert states. Updates
        `row` (not the database: `keep_last_words`); None when nothing changed, else whether
        the status did. On the writer thread, as `keep_last_words`."""
        if abs(row.started - task.started) >= 1 or row.ended_at is not None:
            return None
        progress = progress_json(task.progress)
        status = task.status[:STATUS_KEEP]  # kept as bounded as a scan's row (`_row`)
        status_changed = row.status != status
        if not status_changed and (progress is None or progress == row.progress):
            return None
        if status_changed and task.progress is None and task.action == "autoPirate":
            history = [*self.state.tracking.status_history(row.pid, row.start_ticks), (now, status)]
            progress = progress_json(runs_progress(history, row.started, row.first_seen))
        row.status = status
        if progress is not None:
            row.progress, row.remaining = progress, task.remaining
        elif task.remaining is not None:
            row.remaining = task.remaining
        row.urls = list(task.urls[: render.URLS_SHOWN]) or row.urls
        return status_changed

    def keep_last_words(self, row: Tracked, status_changed: bool, now: float) -> None:
        if status_changed:
            self.state.tracking.record_status(row.pid, row.start_ticks, row.status, now)
        self.state.tracking.track(row)

    def _check_stall(self, row: Tracked, now: float) -> bool:
        if not self.stall_minutes or row.stalled_at is not None:
            return False
        if now - row.last_change < self.stall_minutes * 60:
            return False
        row.stalled_at = now
        self.state.tracking.track(row)
        return self.on_stall(row, now)

    async def gone_at_start(self) -> list[Tracked]:
        """Tracked tasks that ended while telebot was down; the others are watched again.

        Start ticks mean nothing across a reboot (a new process can start at the same tick
        with the same pid), so every task tracked under another boot id has ended.
        """
        boot = liveness.boot_id()
        same_boot = self.state.settings.boot_id() in (None, boot)
        self.rebooted = not same_boot
        await self.state.run(self.state.settings.set_boot_id, boot)
        gone = []
        for row in await self.state.run(self.state.tracking.tracked):
            if same_boot and liveness.same_process(row.pid, row.start_ticks):
                self.watcher.watch(row.pid, row.start_ticks)
            else:
                gone.append(row)
        return gone
