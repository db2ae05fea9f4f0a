"""Merging processList, processDetails and parsed status into task views."""

from __future__ import annotations

import time
from pathlib import Path

from telebot.tasks.facts import task_json
from telebot.tasks.merge import build_tasks
from telebot.tasks.model import AccountData, AccountKey, Progress, Snapshot, TelegramConfig

KEY = AccountKey("a@example.org", "alice", "59", "en")


def snap(entries, details=None) -> Snapshot:
    return Snapshot(
        "directory",
        Path("/x"),
        TelegramConfig(),
        [AccountData(KEY, entries, details or {})],
        ["a@example.org"],
        time.time(),
    )


def entry(pid, action="autoPirate", status="", date=None):
    return {
        "pid": pid,
        "action": action,
        "status": status,
        "date": time.time() - 10 if date is None else date,
    }


def alive(pid, started):
    return True, started


def dead(pid, started):
    return False, None


def test_details_beat_status():
    s = snap(
        [entry(1, status="Mission 1/10 complete")],
        {"1": {"progress": {"done": 7, "total": 10, "unit": "missions"}, "timestamp": time.time()}},
    )
    t = build_tasks(s, probe=alive)[0]
    assert t.progress == Progress(7, 10, "missions") and t.remaining == 3


def test_status_is_the_fallback():
    t = build_tasks(snap([entry(1, status="Mission 4/10 complete")]), probe=alive)[0]
    assert t.progress == Progress(4, 10, "missions")


def test_details_of_an_earlier_process_with_the_same_pid_are_ignored():
    s = snap(
        [entry(1, status="Mission 1/10")],
        {"1": {"progress": {"done": 9, "total": 10}, "timestamp": time.time() - 86400}},
    )
    assert build_tasks(s, probe=alive)[0].progress.done == 1


def test_finished_versus_dead():
    s = snap(
        [
            entry(1, status="Mission 10/10 complete"),
            entry(2, status="Mission 5/10"),
            entry(3, status="Pirating for 0 more runs"),
            entry(4),
        ],
        {"4": {"missions": {"total": 3, "completed": 3, "remaining": 0}, "timestamp": time.time()}},
    )
    states = {t.pid: t.state for t in build_tasks(s, probe=dead)}
    assert states == {1: "finished", 2: "dead", 3: "finished", 4: "finished"}
    assert {t.state for t in build_tasks(s, probe=alive)} == {"running"}


def test_webserver_urls_from_port_and_ip():
    s = snap(
        [entry(1, "webServer", "running on http://127.0.0.1:1")],
        {"1": {"port": 43527, "local_ip": "192.168.1.100", "timestamp": time.time()}},
    )
    assert build_tasks(s, probe=alive)[0].urls == [
        "http://127.0.0.1:43527",
        "http://192.168.1.100:43527",
    ]
    s = snap(
        [entry(1, "webServer")],
        {"1": {"urls": ["http://127.0.0.1:5", None, 7], "timestamp": time.time()}},
    )
    assert build_tasks(s, probe=alive)[0].urls == ["http://127.0.0.1:5"]


def test_bad_detail_shapes_never_raise():
    bad = [
        {"progress": "5/10"},
        {"progress": {"done": "5", "total": 10}},
        {"progress": {"done": 11, "total": 10}},
        {"missions": [1, 2]},
        {"missions": {"total": -1, "completed": True}},
        {"port": "80"},
        {"urls": "x"},
        {"port": 70000},
        {"timestamp": "now"},
    ]
    for i, d in enumerate(bad):
        t = build_tasks(snap([entry(i + 1, status="x")], {str(i + 1): d}), probe=alive)[0]
        assert t.progress is None and t.urls == []


def test_duplicate_pid_keeps_latest_and_order_is_stable():
    now = time.time()
    s = snap(
        [
            entry(5, status="old", date=now - 100),
            entry(5, status="new", date=now - 1),
            entry(3, date=now - 50),
        ]
    )
    tasks = build_tasks(s, probe=alive)
    assert [t.pid for t in tasks] == [3, 5] and tasks[1].status == "new"


def test_json_has_the_contract_keys():
    t = build_tasks(snap([entry(1, "webServer", "running on http://127.0.0.1:9")]), probe=alive)[0]
    j = task_json(t)
    assert {
        "pid",
        "action",
        "username",
        "world",
        "server",
        "status",
        "started",
        "alive",
        "state",
        "progress",
        "urls",
    } <= set(j)
    assert j["urls"] == ["http://127.0.0.1:9"] and j["progress"] is None


def test_annotate_reads_only_the_rows_of_gone_entries_through_an_index(tmp_path: Path):
    """A month of 300 deaths a day leaves 9,000 ended rows: a scan and every command must
    look up the few pids that are gone, not load the whole table on the event loop."""
    from dataclasses import astuple, replace

    from telebot.state import StateDB, Tracked
    from telebot.tasks.merge import annotate

    db = StateDB(tmp_path)
    now = time.time()
    base = Tracked(
        0,
        0,
        now - 60,
        *astuple(KEY),
        "autoPirate",
        "s",
        None,
        None,
        [],
        now,
        now,
        now,
        None,
        None,
        None,
    )
    with db.db.transaction():
        for pid in range(1, 2001):
            db.tracking.track(replace(base, pid=pid, start_ticks=pid, started=now - 600 - pid))
            db.tracking.end(pid, pid, "died", now - pid)
    tasks = build_tasks(snap([entry(7, date=now - 607), entry(9, date=now - 1)]), probe=dead)
    statements: list[str] = []
    db.db.conn.set_trace_callback(statements.append)
    try:
        annotate(tasks, db.tracking)
    finally:
        db.db.conn.set_trace_callback(None)
    assert [t.state for t in tasks] == ["dead", "dead"]
    by_pid = {t.pid: t for t in tasks}
    assert by_pid[7].ended is not None and by_pid[9].ended is None  # 9's row is another run
    reads = [s for s in statements if "tracked" in s and s.lstrip().upper().startswith("SELECT")]
    assert reads
    for sql in reads:
        plan = " ".join(str(tuple(r)) for r in db.db.conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN tracked" not in plan, (sql, plan)
    db.close()


def test_an_ended_row_of_another_account_is_not_this_entrys_end(tmp_path: Path):
    """The same pid and start date under two accounts: the end telebot saw is told of the
    account whose task it tracked, not of the other's entry."""
    from dataclasses import astuple

    from telebot.state import StateDB, Tracked
    from telebot.tasks.merge import annotate

    db = StateDB(tmp_path)
    now = time.time()
    other = AccountKey("b@example.org", "bob", "12", "de")
    db.tracking.track(
        Tracked(
            7,
            70,
            now - 600,
            *astuple(other),
            "autoPirate",
            "s",
            None,
            None,
            [],
            now,
            now,
            now,
            None,
            None,
            None,
        )
    )
    db.tracking.end(7, 70, "died", now - 1)
    tasks = build_tasks(snap([entry(7, date=now - 600)]), probe=dead)
    annotate(tasks, db.tracking)
    assert tasks[0].ended is None
    db.close()
