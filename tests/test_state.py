"""telebot's own database: durable, deduplicated, pruned."""

from __future__ import annotations

import time
from pathlib import Path

from telebot.state import StateDB, Tracked


def row(pid: int, ended: float | None = None) -> Tracked:
    now = time.time()
    return Tracked(pid, 1000.0 + pid, now - 60, "a@b.c", "u", "1", "en", "autoPirate", "s",
                   {"done": 1, "total": 2, "unit": ""}, 1, ["http://127.0.0.1:1"], now, now,
                   now, None, None, None)


def test_survives_reopen_and_dedups(tmp_path: Path):
    db = StateDB(tmp_path)
    assert db.enqueue("died:1", "42", "died", "text") is not None
    assert db.enqueue("died:1", "42", "died", "text") is None
    db.set("last_update_id", 7)
    db.track(row(1))
    db.close()
    db = StateDB(tmp_path)
    assert [i.dedup_key for i in db.pending()] == ["died:1"]
    assert db.get("last_update_id") == 7
    (t,) = db.tracked()
    assert t.progress == {"done": 1, "total": 2, "unit": ""} and t.urls == ["http://127.0.0.1:1"]
    assert (tmp_path / "telebot.sqlite3").stat().st_mode & 0o077 == 0
    db.close()


def test_end_once_and_prune(tmp_path: Path):
    db = StateDB(tmp_path)
    db.track(row(1))
    db.track(row(2))
    assert db.end(1, 1001.0, "died", time.time() - 40 * 86400)
    assert not db.end(1, 1001.0, "died", time.time())  # reported once
    item = db.enqueue("died:1", "42", "died", "x")
    assert item is not None
    db.mark_sent(item)
    db._db.execute("UPDATE outbox SET created_at=?", (time.time() - 40 * 86400,))
    db.prune(time.time() - 30 * 86400)
    assert [t.pid for t in db.tracked(open_only=False)] == [2]
    assert db.sent() == []
    db.close()


def test_held_alerts_are_released(tmp_path: Path):
    db = StateDB(tmp_path)
    db.enqueue("finished:1", "42", "finished", "x", not_before=time.time() + 3600)
    assert db.pending() == [] and db.next_not_before() is not None
    db.release_held()
    assert len(db.pending()) == 1
    db.close()
