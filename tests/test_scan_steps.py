"""A death never queues behind a whole scan on the writer thread (issue 28, at 10,000 entries).

A death's alert is one step on the state's writer thread (`EndWriter.write`). A scan runs its
lookups (`merge.annotate`) and its writes (`Tracker._write`) on that thread too; one step each
made a death that met a scan wait for all of it (≈ 12 ms + 5 ms with 270 live tasks). Now
both are handed over in parts of a bounded size, each a few set-based statements: what a death
waits for is one part. Counted here in statements and rows, not milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_tasks import KEY, entry, snap

from telebot.alerts import tracker as tracker_module
from telebot.alerts.tracker import Tracker
from telebot.bot.runtime import annotate_in_steps
from telebot.processes.watcher import ProcessWatcher
from telebot.state import StateDB, Tracked
from telebot.tasks import merge
from telebot.tasks.merge import annotate_parts, build_tasks, learn_runs
from telebot.tasks.model import Task

LIVE = 300  # live tasks: six parts of 50
GONE = 100_000  # pids from here on are gone entries (1,200 of them, not settled yet)


def probe(pid: int, started: float) -> tuple[bool, int | None]:
    return (True, pid * 10) if pid < GONE else (False, None)


def _row(
    pid: int, ticks: int, started: float, now: float, status: str = "s", seen: float = 0
) -> Tracked:
    return Tracked(
        pid, ticks, started, *astuple(KEY), "autoPirate", status, None, None, [],
        seen or now - 3600, now - 120, now - 7200, None, None, None,
    )  # fmt: skip


def seeded(directory: Path, now: float) -> tuple[StateDB, list[dict[str, Any]]]:
    """telebot's state as months leave it, and ikabot's entries: live autoPirates and
    construction lists with rows and histories (some longer than a lookup's 50, one with two
    statuses at the same instant, a pid reused by an earlier process), gone entries, some of
    whose ends telebot recorded."""
    db = StateDB(directory)
    entries = []
    with db.db.transaction() as c:
        for pid in range(1, LIVE + 1):
            started = now - 5000 - pid
            action = "autoPirate" if pid % 3 else "constructionList"
            status = f"Pirating for {1 + pid % 9} more runs"
            entries.append({**entry(pid, action, status, started)})
            if pid % 7 == 0:
                continue  # a new task: no row yet
            seen = started + 10 if pid % 5 == 1 else 0  # seen at its start: `run k of N`
            db.tracking.track(_row(pid, pid * 10, started, now, status if pid % 2 else "old", seen))
            said = [
                (now - 4000 + i, f"Pirating for {9 - i % 9} more runs") for i in range(pid % 60)
            ]
            if pid % 4 == 0:
                said.insert(0, (now - 4001, "started"))  # ikabot's menu's: the start was seen
            if pid == 30:
                said.append((*said[-1][:1], "Pirating for 1 more runs"))  # same instant
            c.executemany(
                "INSERT INTO history VALUES(?, ?, ?, ?)", [(pid, pid * 10, at, s) for at, s in said]
            )
            if pid % 11 == 0:  # the same pid, an earlier process
                c.execute("INSERT INTO history VALUES(?, ?, ?, ?)", (pid, 1, now - 9000, "x"))
        for pid in range(GONE, GONE + 1200):
            entries.append(entry(pid, "autoPirate", "Pirating for 2 more runs", now - 86400))
            if pid % 5 == 0:
                db.tracking.track(_row(pid, 3, now - 86400, now))
                db.tracking.end(pid, 3, "died", now - 80000)
    return db, entries


class Steps:
    """Each step handed to the writer thread: its name, the statements it ran and the rows it
    read, in the order the thread ran them; `hold` keeps the first step named `held` running
    until set."""

    def __init__(self, state: StateDB) -> None:
        self.ran: list[tuple[str, int, int]] = []  # (step, statements, rows)
        self.handed: list[str] = []
        self.hold: threading.Event | None = None
        self.held = ""  # the step `hold` keeps running: the first of this name
        self.running = threading.Event()  # the held step has begun
        self._statements = self._rows = 0
        raw: sqlite3.Connection = state.db.conn._conn
        raw.set_trace_callback(self._statement)
        raw.row_factory = self._row
        original = state.db.run

        async def run(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
            name = getattr(fn, "__name__", "step")
            self.handed.append(name)
            return await original(self._step, name, fn, *args, **kw)

        state.db.run = run  # type: ignore[method-assign]

    def _statement(self, sql: str) -> None:
        self._statements += 1

    def _row(self, cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> sqlite3.Row:
        self._rows += 1
        return sqlite3.Row(cursor, row)

    def _step(self, name: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if self.hold is not None and name == self.held:
            self.running.set()
            self.hold.wait(30)
            self.hold = None
        self._statements = self._rows = 0
        try:
            return fn(*args, **kw)
        finally:
            self.ran.append((name, self._statements, self._rows))


def tracker_of(state: StateDB) -> Tracker:
    def stalled(row: Tracked, now: float) -> bool:
        return state.outbox.enqueue(f"stall:{row.pid}", "1", "stall", "stalled") is not None

    exits: list[int] = []
    watcher = ProcessWatcher(lambda pid, ticks, info: exits.append(pid))
    return Tracker(state, watcher, lambda pid, ticks: None, stalled, stall_minutes=60)


async def scan(state: StateDB, tasks: list[Task], now: float) -> bool:
    """What a scan hands the writer thread (`Runtime.refresh`): the lookups, then the writes."""
    await annotate_in_steps(state, annotate_parts(tasks))
    return await tracker_of(state).observe(tasks, now)


# One part's work at most: 50 tasks' writes (a row, a status, its history trimmed: 3
# statements each), and 50 live tasks' history (≤ 60 rows each here) and rows, or 500 gone pids
# in one IN. One step for the whole scan: 300 tasks' writes (~900 statements), or their
# histories (~8,000 rows), or a SELECT or two per task (~600 statements).
STATEMENTS_MAX = 3 * 50 + 10
ROWS_MAX = 50 * 61


async def test_no_writer_step_of_a_scan_does_more_than_a_parts_work(tmp_path: Path) -> None:
    """300 live tasks (most with a status history), 1,200 gone entries not settled yet: no
    step a scan hands the writer thread runs more than one part's statements and rows; the
    per-task lookups of before (a SELECT per live task) are one IN per part."""
    now = time.time()
    state, entries = seeded(tmp_path, now)
    steps = Steps(state)
    await scan(state, build_tasks(snap(entries), probe=probe), now)
    assert max(s for _, s, _ in steps.ran) <= STATEMENTS_MAX, steps.ran
    assert max(r for _, _, r in steps.ran) <= ROWS_MAX, steps.ran
    assert {n for n, _, _ in steps.ran} == {"annotate_part", "scan_of", "_write", "_prune"}
    annotate = [(s, r) for n, s, r in steps.ran if n == "annotate_part"]
    assert len(annotate) == 3 + 6  # 1,200 gone views in 500s, 300 live tasks in 50s
    assert max(s for s, _ in annotate) <= 3  # one IN each: the rows, the histories, the rows
    assert len([n for n, _, _ in steps.ran if n == "_write"]) == 6
    state.close()


@pytest.mark.parametrize("which", ["annotate", "track"])
async def test_an_end_handed_over_mid_scan_runs_before_the_scans_last_step(
    tmp_path: Path, which: str
) -> None:
    """While the scan's first step runs, a death's step is handed to the writer thread: it
    runs after that step, before the scan's last one (with one step for the whole scan it
    would wait for all of it)."""
    now = time.time()
    state, entries = seeded(tmp_path, now)
    tasks = build_tasks(snap(entries), probe=probe)
    if which == "track":
        await annotate_in_steps(state, annotate_parts(tasks))
    steps = Steps(state)
    steps.hold, part = threading.Event(), "annotate_part" if which == "annotate" else "_write"
    steps.held = part
    parts = annotate_parts(tasks)
    work = annotate_in_steps(state, parts) if which == "annotate" else tracker_of(state).observe(
        tasks, now
    )  # fmt: skip
    scanning = asyncio.ensure_future(work)
    assert await asyncio.to_thread(steps.running.wait, 30)

    def end() -> None:
        pass

    ended = asyncio.ensure_future(state.run(end))
    deadline = time.monotonic() + 30
    while "end" not in steps.handed and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    steps.hold.set()
    await asyncio.wait_for(asyncio.gather(scanning, ended), 60)
    order = [n for n, _, _ in steps.ran]
    first = order.index(part)
    assert order.index("end") == first + 1, order  # right after the part under way
    assert part in order[first + 2 :], order  # before the scan's other parts
    state.close()


def per_task(tasks: list[Task], state: StateDB) -> None:
    """The live lookups as they were before the parts, a SELECT or two per task: the reference
    the batched lookups must agree with."""
    for task in tasks:
        if not task.alive or task.start_ticks is None:
            continue
        if task.action == "autoPirate" or task.progress is None:
            history = state.tracking.status_history(task.pid, task.start_ticks, limit=50)
            row = (
                state.tracking.tracked_one(task.pid, task.start_ticks)
                if task.action == "autoPirate" and task.progress is None and history
                else None
            )
            learn_runs(task, history, row.first_seen if row else None)


def _seen(tasks: list[Task]) -> list[tuple[Any, ...]]:
    return [
        (t.pid, t.state, t.ended, t.progress, t.remaining, t.settled, [s for _, s in t.history])
        for t in tasks
    ]


def _tables(state: StateDB) -> list[list[tuple[Any, ...]]]:
    c = state.db.conn
    return [
        [tuple(r) for r in c.execute(sql)]
        for sql in (
            "SELECT * FROM tracked ORDER BY pid, start_ticks",
            "SELECT *, rowid FROM history ORDER BY rowid",  # the same order of the same rows
            "SELECT id, dedup_key, kind, text FROM outbox ORDER BY id",  # in the same order
        )
    ]


async def test_a_scan_in_parts_finds_and_writes_what_one_step_did(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The same tasks and the same state, scanned in parts and in one step each: the same
    views (how each ended, `run k of N`, the history), the same rows, history and stall
    alerts written; and the batched lookups say what a SELECT per task said."""
    now = time.time()
    monkeypatch.setattr(merge, "time", SimpleNamespace(time=lambda: now))  # the ETAs' clock
    results = []
    for parts in (True, False):
        state, entries = seeded(tmp_path / str(parts), now)
        tasks = build_tasks(snap(entries), probe=probe)
        if not parts:
            for module, name in [(merge, "PART_LIVE"), (merge, "PART_GONE")]:
                monkeypatch.setattr(module, name, 10**6)
            monkeypatch.setattr(tracker_module, "PART_TASKS", 10**6)
        await annotate_in_steps(state, annotate_parts(tasks))
        if not parts:  # before the writes: what the lookups found, a SELECT per task
            reference = build_tasks(snap(entries), probe=probe)
            await annotate_in_steps(state, annotate_parts([t for t in reference if not t.alive]))
            await state.run(per_task, reference, state)
            assert _seen(reference) == _seen(tasks)
        stalled = await tracker_of(state).observe(tasks, now)
        results.append((_seen(tasks), _tables(state), stalled))
        state.close()
    assert results[0] == results[1]
    views, (_, _, outbox), stalled = results[0]
    assert stalled and len(outbox) > 10  # the stalls were written, in parts too
    assert any(t[3] is not None and t[0] < GONE for t in views)  # some `run k of N` learned
    assert any(t[2] is not None for t in views)  # and some ends


CHILD = """
import asyncio, json, sys, time
from pathlib import Path
import test_scan_steps as t
from telebot.state import StateDB
from telebot.state.tracking import TrackingStore
from telebot.tasks.merge import build_tasks

directory, now, data = Path(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
state = StateDB(directory)
tasks = build_tasks(t.snap(json.loads(data.read_text())), probe=t.probe)
record, parts = TrackingStore.record_statuses, []

def held(self, changes):
    parts.append(1)
    if len(parts) == 3:  # two parts committed, the third's rows written, not yet its history
        print("killed", flush=True)
        time.sleep(600)
    return record(self, changes)

TrackingStore.record_statuses = held
asyncio.run(t.tracker_of(state).observe(tasks, now))
"""


def _kept(state: StateDB) -> tuple[Any, ...]:
    """What a scan's write leaves that does not depend on when it ran."""
    c = state.db.conn
    rows = [
        tuple(r)
        for r in c.execute(
            "SELECT pid, start_ticks, status, progress, remaining, ended_at, "
            "stalled_at IS NOT NULL FROM tracked ORDER BY pid, start_ticks"
        )
    ]
    said = [
        tuple(r)
        for r in c.execute("SELECT pid, start_ticks, status FROM history ORDER BY 1, 2, at, rowid")
    ]
    alerts = sorted(r[0] for r in c.execute("SELECT dedup_key FROM outbox"))
    return rows, said, alerts


async def test_telebot_killed_mid_scan_leaves_what_the_next_scan_completes(
    tmp_path: Path,
) -> None:
    """A telebot SIGKILLed in a scan's third part, its rows written but not yet their
    history: the two parts before are committed whole (each row with its status history), the
    third and later ones are as the scan before left them (a part is one transaction); the
    first scan after the restart writes them, and then the state is what two uninterrupted
    scans leave (the same rows, statuses, histories and stall alerts; only the redone parts'
    times are the later scan's)."""
    now = time.time()
    state, entries = seeded(tmp_path / "killed", now)
    state.close()
    data = tmp_path / "entries.json"
    data.write_text(json.dumps(entries))
    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests)])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "killed"), repr(now), str(data)],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60)
        assert line.strip() == b"killed"
    finally:
        child.kill()
        child.wait()
    state = StateDB(tmp_path / "killed")
    written = [
        r[0]
        for r in state.db.conn.execute("SELECT pid FROM tracked WHERE last_seen_alive = ?", (now,))
    ]
    tasks = build_tasks(snap(entries), probe=probe)
    live = [t.pid for t in tasks if t.alive]
    assert sorted(written) == sorted(live[: 2 * tracker_module.PART_TASKS])  # two parts, whole
    later = await tracker_of(state).observe(build_tasks(snap(entries), probe=probe), now + 15)
    reference, _ = seeded(tmp_path / "whole", now)
    await tracker_of(reference).observe(build_tasks(snap(entries), probe=probe), now)
    again = await tracker_of(reference).observe(build_tasks(snap(entries), probe=probe), now + 15)
    assert _kept(state) == _kept(reference)
    assert later and not again  # the redone parts' stalls, told once
    state.close()
    reference.close()
