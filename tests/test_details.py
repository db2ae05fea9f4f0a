"""Producer API on both layouts: ikabot can still read what it writes, nothing else is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ALICE, BOB
from ikabotdata import IkabotDir, LegacyFile, entry_key

from telebot.config import Settings
from telebot.ikabot.details import (
    Target,
    cleanup_dead_details,
    delete_process_details,
    get_process_details,
    sanitize_email,
    save_process_details,
)
from telebot.ikabot.store import open_store
from telebot.tasks import collect

MISSIONS = {"action": "autoPirate", "missions": {"total": 10, "completed": 5, "remaining": 5}}


def test_sanitize_matches_ikabot(tmp_path: Path):
    from ikabot.helpers.sessionStorage import sanitize_email as ika

    for email in ["Player.One@Gmail.com", " a b@c.d ", 'x/\\:*?"<>|y@z', "..a@b..", ""]:
        assert sanitize_email(email) == ika(email)


def test_directory_save_get_delete(ikabot_dir: IkabotDir, spawn):
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 5 more runs")
    target = ikabot_dir.target(ALICE)
    saved = save_process_details(target, p.pid, MISSIONS)
    assert saved["timestamp"] > 0
    assert get_process_details(target, p.pid)["missions"]["completed"] == 5
    # ikabot reads its data as before, process list untouched, details beside it
    data = ikabot_dir.session_data(ALICE)
    assert [e["pid"] for e in data["processList"]] == [p.pid]
    assert data["processDetails"][str(p.pid)]["action"] == "autoPirate"
    # telebot shows it
    task = collect(open_store(Settings(ikabot_path=ikabot_dir.path)))[0]
    assert (task.progress.done, task.progress.total) == (5, 10)
    save_process_details(target, p.pid, {"missions": {"total": 10, "completed": 6,
                                                      "remaining": 4}})
    assert get_process_details(target, p.pid)["action"] == "autoPirate"  # merged
    assert delete_process_details(target, p.pid) is True
    assert get_process_details(target, p.pid) is None
    assert delete_process_details(target, p.pid) is False


def test_directory_session_like_object(ikabot_dir: IkabotDir, spawn):
    """An ikabot task passes its own Session."""
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "webServer")
    session = ALICE.session()
    save_process_details(session, p.pid, {"action": "webServer", "port": 4444},
                         ikabot_path=ikabot_dir.path)
    assert get_process_details(Target.of(session, ikabot_dir.path), p.pid)["port"] == 4444


def test_cleanup_drops_only_dead(ikabot_dir: IkabotDir, spawn):
    live, dead = spawn(), spawn()
    target = ikabot_dir.target(ALICE)
    save_process_details(target, live.pid, MISSIONS)
    save_process_details(target, dead.pid, MISSIONS)
    dead.kill()
    dead.wait()
    assert cleanup_dead_details(target) == [dead.pid]
    assert get_process_details(target, live.pid) is not None
    assert get_process_details(target, dead.pid) is None


def test_legacy_keeps_other_lines(legacy_file: LegacyFile, spawn):
    p = spawn()
    legacy_file.add_task(ALICE, p.pid, "autoPirate")
    legacy_file.add_task(BOB, spawn().pid, "autoPirate")
    legacy_file.extra_lines = ["some garbage line"]
    legacy_file.write()
    bob_line = next(ln for ln in legacy_file.path.read_text().splitlines()
                    if ln.startswith(entry_key(BOB.email)))
    save_process_details(legacy_file.target(ALICE), p.pid, MISSIONS)
    text = legacy_file.path.read_text()
    assert bob_line in text.splitlines() and "some garbage line" in text
    # ikabot's own cipher reads the updated line
    data = legacy_file.decrypt(ALICE)
    assert data["alice"]["59"]["en"]["processDetails"][str(p.pid)]["missions"]["total"] == 10
    assert data["shared"]["telegram"]["chatId"] == "42"
    task = collect(open_store(Settings(ikabot_path=legacy_file.path, email=ALICE.email,
                                       password=ALICE.password)))[0]
    assert task.progress.done == 5


def test_concurrent_writers_lose_nothing(ikabot_dir: IkabotDir, tmp_path: Path):
    """Two processes each save 30 pids under ikabot's exclusive lock: all 60 survive."""
    code = (
        "import sys\n"
        "from telebot.ikabot.details import Target, save_process_details\n"
        "t = Target('alice@example.org', 'alice', '59', 'en', None, sys.argv[1])\n"
        "for i in range(30):\n"
        "    save_process_details(t, int(sys.argv[2]) + i,\n"
        "                         {'progress': {'done': i, 'total': 30}})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ikabot_dir.path), str(base)])
             for base in (100000, 200000)]
    assert [p.wait(60) for p in procs] == [0, 0]
    data = ikabot_dir.session_data(ALICE)
    assert len(data["processDetails"]) == 60
