"""telebot's own database: durable, deduplicated, pruned."""

from __future__ import annotations

import time
from pathlib import Path

from telebot.state import StateDB, Tracked


def row(pid: int, ended: float | None = None) -> Tracked:
    now = time.time()
    return Tracked(
        pid,
        1000 + pid,
        now - 60,
        "a@b.c",
        "u",
        "1",
        "en",
        "autoPirate",
        "s",
        {"done": 1, "total": 2, "unit": ""},
        1,
        ["http://127.0.0.1:1"],
        now,
        now,
        now,
        None,
        None,
        None,
    )


def test_survives_reopen_and_dedups(tmp_path: Path):
    db = StateDB(tmp_path)
    assert db.outbox.enqueue("died:1", "42", "died", "text") is not None
    assert db.outbox.enqueue("died:1", "42", "died", "text") is None
    db.settings.set_report_minutes(7)
    db.tracking.track(row(1))
    db.close()
    db = StateDB(tmp_path)
    assert [i.dedup_key for i in db.outbox.pending()] == ["died:1"]
    assert db.settings.report_minutes(60) == 7
    (t,) = db.tracking.tracked()
    assert t.progress == {"done": 1, "total": 2, "unit": ""} and t.urls == ["http://127.0.0.1:1"]
    assert (tmp_path / "telebot.sqlite3").stat().st_mode & 0o077 == 0
    db.close()


def test_end_once_and_prune(tmp_path: Path):
    db = StateDB(tmp_path)
    db.tracking.track(row(1))
    db.tracking.track(row(2))
    db.tracking.record_status(1, 1001, "Pirating for 3 more runs", time.time() - 41 * 86400)
    assert db.tracking.end(1, 1001, "died", time.time() - 40 * 86400)
    assert not db.tracking.end(1, 1001, "died", time.time())  # reported once
    item = db.outbox.enqueue("died:1", "42", "died", "x")
    assert item is not None
    db.outbox.mark_sent(item)
    db.db.conn.execute("UPDATE outbox SET created_at=?", (time.time() - 40 * 86400,))
    db.tracking.prune(time.time() - 30 * 86400)
    db.outbox.prune(time.time() - 30 * 86400)
    assert [t.pid for t in db.tracking.tracked(open_only=False)] == [2]
    assert db.outbox.sent() == [] and db.tracking.status_history(1, 1001) == []
    db.close()


def test_held_alerts_are_released(tmp_path: Path):
    db = StateDB(tmp_path)
    db.outbox.enqueue("finished:1", "42", "finished", "x", not_before=time.time() + 3600)
    assert db.outbox.pending() == [] and db.outbox.next_not_before() is not None
    db.outbox.release_held()
    assert len(db.outbox.pending()) == 1
    db.close()


def test_status_history_is_bounded(tmp_path: Path):
    db = StateDB(tmp_path)
    for i in range(80):
        db.tracking.record_status(7, 70, f"Pirating for {80 - i} more runs", 1000.0 + i)
    history = db.tracking.status_history(7, 70)
    assert len(history) == 50 and history[-1] == (1079.0, "Pirating for 1 more runs")
    assert history[0][0] < history[-1][0]
    db.close()


def test_state_files_are_owner_only(tmp_path: Path):
    """The database, its -wal and -shm files and the directory; a too-open directory is
    tightened."""
    d = tmp_path / "state"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    db = StateDB(d)
    db.settings.set_mute_until(1.0)
    assert d.stat().st_mode & 0o077 == 0
    files = [f for f in d.iterdir() if f.name.startswith("telebot.sqlite3")]
    assert {f.name for f in files} >= {"telebot.sqlite3", "telebot.sqlite3-wal"}
    assert all(f.stat().st_mode & 0o077 == 0 for f in files), [oct(f.stat().st_mode) for f in files]
    db.close()


def test_version_1_database_is_migrated(tmp_path: Path, spawn):
    """A row tracked by telebot 0.1 (psutil create time) keeps its task when it still runs."""
    import sqlite3

    import psutil

    from telebot.processes import liveness

    p = spawn()
    db = sqlite3.connect(tmp_path / "telebot.sqlite3")
    db.executescript("""
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tracked (
    pid INTEGER NOT NULL, create_time REAL NOT NULL, started REAL NOT NULL,
    email TEXT, username TEXT NOT NULL, world TEXT NOT NULL, server TEXT NOT NULL,
    action TEXT NOT NULL, status TEXT NOT NULL, progress TEXT, remaining INTEGER,
    urls TEXT NOT NULL, first_seen REAL NOT NULL, last_seen_alive REAL NOT NULL,
    last_change REAL NOT NULL, stalled_at REAL, ended_at REAL, end_kind TEXT,
    PRIMARY KEY (pid, create_time));
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, dedup_key TEXT UNIQUE NOT NULL,
    chat_id TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, created_at REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0, sent_at REAL, attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, dropped INTEGER NOT NULL DEFAULT 0);
""")
    now = time.time()
    db.execute(
        "INSERT INTO tracked VALUES(?, ?, ?, 'a@b.c', 'u', '1', 'en', 'autoPirate', 's', "
        "NULL, NULL, '[]', ?, ?, ?, NULL, NULL, NULL)",
        (p.pid, psutil.Process(p.pid).create_time(), now, now, now, now),
    )
    db.commit()
    db.close()
    state = StateDB(tmp_path)
    (row,) = state.tracking.tracked()
    assert row.start_ticks == liveness.start_ticks(p.pid)
    state.close()


async def test_no_statement_runs_on_the_event_loop(ikabot_dir, spawn, api, tmp_path, monkeypatch):
    """Every commit (an fsync, slow on an SD card) and every query of the running bot happen
    on the state's writer thread, never on the event loop's: through a death, its alert,
    /status, /mute, an /alerts switch and a /kill."""
    import threading

    from botharness import OWNER, fast_settings, running_bot
    from conftest import ALICE
    from test_control import buttons, press

    from telebot.alerts.texts import MARKS
    from telebot.state.db import Database

    threads: set[str] = set()
    run, commit = Database.run, Database.commit

    async def watched_run(self, fn, *args, **kwargs):
        threads.add("loop" if threading.current_thread() is loop_thread else "other")
        return await run(self, fn, *args, **kwargs)

    def watched_commit(self):
        threads.add(
            "commit on the loop"
            if threading.current_thread() is loop_thread
            else "commit elsewhere"
        )
        commit(self)

    monkeypatch.setattr(Database, "commit", watched_commit)
    loop_thread = threading.current_thread()
    doomed, kept = spawn(), spawn()
    ikabot_dir.add_pirate(ALICE, doomed.pid)
    ikabot_dir.add_pirate(ALICE, kept.pid)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        monkeypatch.setattr(Database, "run", watched_run)
        doomed.kill()
        assert await bot.wait(lambda: any(m["text"].startswith(MARKS) for m in api.sent(OWNER)))
        await bot.ask("/status")
        await bot.ask("/mute 5")
        (alerts,) = await bot.ask("/alerts")
        await press(bot, "tb:a:died", alerts)
        (confirm,) = await bot.ask(f"/kill {kept.pid}")
        await press(bot, buttons(confirm)["Cancel"], confirm)
        await bot.settled()
    assert "commit elsewhere" in threads and "loop" in threads
    assert "commit on the loop" not in threads


async def test_the_outbox_is_read_on_the_writer_thread(
    ikabot_dir, spawn, api, tmp_path, monkeypatch
):
    """The deliverer's reads of the outbox (what is pending) run on the state's writer
    thread, as its commits do: never on the event loop (a read waits for a commit too)."""
    import threading

    from botharness import OWNER, fast_settings, running_bot
    from conftest import ALICE

    from telebot.alerts.texts import MARKS
    from telebot.state.outbox import OutboxStore

    reads: list[threading.Thread] = []
    pending = OutboxStore.pending

    def watched(self, now=None):
        reads.append(threading.current_thread())
        return pending(self, now)

    monkeypatch.setattr(OutboxStore, "pending", watched)
    loop_thread = threading.current_thread()
    doomed = spawn()
    ikabot_dir.add_pirate(ALICE, doomed.pid)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        doomed.kill()
        assert await bot.wait(lambda: any(m["text"].startswith(MARKS) for m in api.sent(OWNER)))
    assert reads, "the outbox was never read"
    assert loop_thread not in reads
    assert {t.name.split("_")[0] for t in reads} == {"telebot-state"}, reads
