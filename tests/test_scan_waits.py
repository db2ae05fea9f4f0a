"""A death never waits behind a scan's bulk work (issue 28: alerts at 10,000 tracked entries).

Months of ikabot leave thousands of entries of long-gone tasks. A scan every
TELEBOT_SCAN_SECONDS reads them all; a death that meets it must not queue behind that work:
not behind the views being built (the death's read of ikabot's data after the end takes the
store's lock only, not the whole scan's), and not behind telebot's memory of views that cannot
change any more (`annotate`, on the writer thread where the end's step queues, skips settled
views).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import astuple
from pathlib import Path
from typing import Any, ClassVar

from conftest import ALICE
from ikabotdata import IkabotDir
from test_tasks import KEY, dead, entry, snap

from telebot.bot import runtime
from telebot.bot.runtime import Runtime
from telebot.config import Settings
from telebot.ikabot.store import open_store
from telebot.state import StateDB, Tracked
from telebot.tasks.merge import DeadTasks, annotate, build_tasks, view_of


def _row(pid: int, started: float, now: float) -> Tracked:
    return Tracked(
        pid, pid, started, *astuple(KEY), "autoPirate", "s", None, None, [], now, now, now,
        None, None, None,
    )  # fmt: skip


def _asked(db: StateDB, tasks: list[Any]) -> list[str]:
    """The statements one `annotate` runs that read tracked rows."""
    statements: list[str] = []
    db.db.conn.set_trace_callback(statements.append)
    try:
        annotate(tasks, db.tracking)
    finally:
        db.db.conn.set_trace_callback(None)
    return [s for s in statements if "FROM tracked" in s]


def test_a_scan_looks_up_only_the_gone_views_whose_memory_can_still_change(tmp_path: Path):
    """2,000 entries of tasks long gone before telebot saw them, one whose end telebot
    recorded, one read gone before its end was written (its row still open): the next scan,
    reusing the views (ikabot's file unchanged), asks for the open one's rows alone; once its
    end is written, that scan learns it, and the one after asks for nothing."""
    db = StateDB(tmp_path)
    now = time.time()
    db.tracking.track(_row(7, now - 600, now))
    db.tracking.end(7, 7, "died", now - 5)
    db.tracking.track(_row(9, now - 300, now))  # died, its end not yet written
    entries = [entry(7, date=now - 600), entry(9, date=now - 300)]
    entries += [entry(pid, date=now - 86400 * 30) for pid in range(100_000, 102_000)]
    data, reuse = snap(entries), DeadTasks()
    tasks = build_tasks(data, probe=dead, dead=reuse)
    first = _asked(db, tasks)
    assert len(first) == 5  # 2,002 pids, 500 to a statement
    by_pid = {t.pid: t for t in tasks}
    assert by_pid[7].ended is not None and by_pid[9].ended is None

    again = build_tasks(data, probe=dead, dead=reuse)
    assert {t.pid: t for t in again}[100_000] is by_pid[100_000]  # the very view, reused
    second = _asked(db, again)
    assert second == ["SELECT * FROM tracked WHERE pid IN (9)"]

    db.tracking.end(9, 9, "killed", now - 1)
    third = build_tasks(data, probe=dead, dead=reuse)
    _asked(db, third)
    assert {t.pid: t for t in third}[9].ended is not None  # learned at the next scan
    assert _asked(db, build_tasks(data, probe=dead, dead=reuse)) == []
    db.close()


def test_a_reused_view_states_what_a_fresh_read_does(tmp_path: Path):
    """Skipping settled views changes no figure: the views a scan reuses say what views
    built afresh from the same data say (how each ended, its progress, its state)."""
    db = StateDB(tmp_path)
    now = time.time()
    with db.db.transaction():
        for pid in range(1, 301):
            db.tracking.track(_row(pid, now - 900 - pid, now))
            if pid % 3:
                db.tracking.end(pid, pid, ("died", "finished")[pid % 2], now - pid)
    entries = [entry(pid, date=now - 900 - pid, status="Pirating for 2 more runs") for pid in
               range(1, 301)]  # fmt: skip
    data, reuse = snap(entries), DeadTasks()
    for _ in range(3):
        reused = build_tasks(data, probe=dead, dead=reuse)
        annotate(reused, db.tracking)
    fresh = build_tasks(snap(entries), probe=dead)
    annotate(fresh, db.tracking)
    assert [(t.pid, t.state, t.ended, t.progress, t.remaining) for t in reused] == [
        (t.pid, t.state, t.ended, t.progress, t.remaining) for t in fresh
    ]
    db.close()


async def test_a_deaths_read_of_ikabots_data_never_waits_for_a_scans_views(
    tmp_path: Path, spawn: Any, monkeypatch: Any
) -> None:
    """While a scan builds its views (held here until the death's read is done), the read
    of ikabot's data after an end (`Runtime.ended_entry`, in the end's step on the
    writer thread) takes only the store's lock: it
    returns the dead task's entry at once instead of waiting for the scan."""
    ikabot = IkabotDir(tmp_path / "home")
    live, gone = spawn(), spawn()
    ikabot.add_task(ALICE, live.pid, "autoPirate", "Pirating for 3 more runs")
    ikabot.add_task(ALICE, gone.pid, "autoPirate", "Pirating for 2 more runs")
    settings = Settings(ikabot_path=ikabot.path)
    rt = Runtime(settings, open_store(settings), StateDB(tmp_path / "state"), "42")
    started = {t.pid: t.started for t in await rt.read()}[gone.pid]
    gone.kill()
    gone.wait()
    building, release = threading.Event(), threading.Event()
    original = runtime.build_tasks

    def slow_build(*args: Any, **kw: Any) -> Any:
        building.set()
        release.wait(30)  # a scan's thousands of views, as long as the test needs
        return original(*args, **kw)

    monkeypatch.setattr(runtime, "build_tasks", slow_build)
    scan = asyncio.create_task(rt.read())
    try:
        assert await asyncio.to_thread(building.wait, 30)
        view = await asyncio.wait_for(
            asyncio.to_thread(rt.ended_entry, gone.pid, started, time.time()), 15
        )
        assert view is not None and view.status == "Pirating for 2 more runs"
        assert not scan.done()  # the scan was still building meanwhile
    finally:
        release.set()
        await scan
        rt.state.close()


class _Looked(dict[str, Any]):
    """An entry that notes each read of one of its fields: which entries a look-up touched."""

    touched: ClassVar[set[int]] = set()

    def __getitem__(self, name: str) -> Any:
        _Looked.touched.add(dict.__getitem__(self, "pid"))
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        _Looked.touched.add(dict.__getitem__(self, "pid"))
        return dict.get(self, name, default)


def test_a_deaths_entry_is_one_look_up_not_a_walk_over_every_entry():
    """At 10,000 tracked entries, the end's step finds the dead task's entry in ikabot's data
    after the end (`Runtime.ended_entry` → `merge.view_of`) through the index built with the
    rows (`AccountData.by_pid`): it reads the fields of that pid's entries only, never those
    of the 9,999 others (a walk over the list, or an index built per death, would)."""
    now = time.time()
    entries = [entry(pid, date=now - 86400 * 30) for pid in range(100_000, 110_000)]
    entries += [entry(4242, date=now - 7200, status="old run"), entry(4242, date=now - 60)]
    data = snap([_Looked(e) for e in entries])  # the index is built here, with the rows
    _Looked.touched = set()
    view = view_of(data, 4242, now - 60)
    assert view is not None and view.started == now - 60  # the pid's later run, by its date
    assert _Looked.touched == {4242}
    assert view_of(data, 4243, now) is None and _Looked.touched == {4242}


def test_the_index_is_built_once_per_users_file_not_per_read(tmp_path: Path):
    """ikabot's file unchanged between two reads (the usual case: most deaths meet no write
    of it), the store hands back the very rows and their index; rewritten, a new index has
    the new entry."""
    ikabot = IkabotDir(tmp_path / "home")
    ikabot.add_task(ALICE, os.getpid(), "autoPirate", "Pirating for 3 more runs")
    store = open_store(Settings(ikabot_path=ikabot.path))
    first, second = store.read().accounts[0], store.read().accounts[0]
    assert second.by_pid is first.by_pid
    assert [e["status"] for e in first.by_pid[os.getpid()]] == ["Pirating for 3 more runs"]
    ikabot.set_status(ALICE, os.getpid(), "Pirating for 2 more runs")
    third = store.read().accounts[0]
    assert [e["status"] for e in third.by_pid[os.getpid()]] == ["Pirating for 2 more runs"]
