"""Producer API on both layouts: ikabot can still read what it writes, nothing else is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ALICE, BOB
from ikabotdata import IkabotDir, LegacyFile

from telebot.config import Settings
from telebot.details import (
    Target,
    cleanup_dead_details,
    delete_process_details,
    get_process_details,
    save_process_details,
)
from telebot.errors import DataError
from telebot.ikabot import producer, sidecar
from telebot.ikabot.producer import sanitize_email
from telebot.ikabot.store import open_store
from telebot.tasks.merge import collect

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
    save_process_details(target, p.pid, {"missions": {"total": 10, "completed": 6, "remaining": 4}})
    assert get_process_details(target, p.pid)["action"] == "autoPirate"  # merged
    assert delete_process_details(target, p.pid) is True
    assert get_process_details(target, p.pid) is None
    assert delete_process_details(target, p.pid) is False


def test_directory_session_like_object(ikabot_dir: IkabotDir, spawn):
    """An ikabot task passes its own Session."""
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "webServer")
    session = ALICE.session()
    save_process_details(
        session, p.pid, {"action": "webServer", "port": 4444}, ikabot_path=ikabot_dir.path
    )
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


def test_legacy_file_is_never_written(legacy_file: LegacyFile, spawn):
    """ikabot ≤ 7.5's file stays byte for byte; the details live in telebot's sidecar."""
    p = spawn()
    legacy_file.add_task(ALICE, p.pid, "autoPirate")
    legacy_file.add_task(BOB, spawn().pid, "autoPirate")
    legacy_file.extra_lines = ["some garbage line"]
    legacy_file.write()
    before = legacy_file.path.read_bytes()
    save_process_details(legacy_file.target(ALICE), p.pid, MISSIONS)
    assert legacy_file.path.read_bytes() == before
    side = sidecar.path_for(legacy_file.path)
    assert side.stat().st_mode & 0o777 == 0o600
    # one file of telebot's beside ikabot's, and no lock file (it locks the sidecar itself)
    assert sorted(os.listdir(legacy_file.path.parent)) == [legacy_file.path.name, side.name]
    assert ALICE.email not in side.read_text() and ALICE.password not in side.read_text()
    assert get_process_details(legacy_file.target(ALICE), p.pid)["missions"]["total"] == 10
    task = collect(
        open_store(
            Settings(ikabot_path=legacy_file.path, email=ALICE.email, password=ALICE.password)
        )
    )[0]
    assert (task.progress.done, task.progress.total) == (5, 10)
    assert delete_process_details(legacy_file.target(ALICE), p.pid) is True
    assert legacy_file.path.read_bytes() == before


def test_legacy_in_place_rewriter_races_the_producer_api(legacy_file: LegacyFile, spawn):
    """ikabot ≤ 7.5 truncates and rewrites its file while a task saves details.

    Before the sidecar, a save that read inside the truncate window found no line for its
    account and wrote back a file holding only that line: Bob, the Telegram config and the
    cookies were gone; and its atomic replace detached ikabot's in-flight write. Now every
    byte of ikabot's file is what the rewriter itself wrote, in ikabot's own inode.
    """
    p, other = spawn(), spawn()
    legacy_file.add_task(ALICE, p.pid, "autoPirate")
    legacy_file.add_task(BOB, other.pid, "autoPirate")
    inode = legacy_file.path.stat().st_ino
    stop = threading.Event()
    written: list[bytes] = []

    def rewriter() -> None:  # ikabot ≤ 7.5's save: open(path, "w"), then write, no lock
        n = 0
        while not stop.is_set():
            n += 1
            for entry in legacy_file.server(BOB)["processList"]:
                entry["status"] = f"Pirating for {n} more runs"
            text = "\n".join(legacy_file.lines()) + "\n"
            with open(legacy_file.path, "w", encoding="utf-8") as f:
                f.write(text)
            written.append(text.encode("utf-8"))

    thread = threading.Thread(target=rewriter, daemon=True)
    thread.start()
    try:
        for i in range(40):
            save_process_details(
                legacy_file.target(ALICE), p.pid, {"progress": {"done": i, "total": 41}}
            )
        raced = len(written)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and raced > 1  # the two really ran side by side
    # one more save after ikabot's last write: it must not touch ikabot's file either
    save_process_details(legacy_file.target(ALICE), p.pid, {"progress": {"done": 40, "total": 41}})
    assert legacy_file.path.read_bytes() == written[-1]
    assert legacy_file.path.stat().st_ino == inode
    assert legacy_file.decrypt(BOB)["bob"]["12"]["de"]["processList"][0]["pid"] == other.pid
    assert legacy_file.decrypt(ALICE)["shared"]["telegram"]["chatId"] == "42"
    assert get_process_details(legacy_file.target(ALICE), p.pid)["progress"]["done"] == 40
    task = collect(
        open_store(
            Settings(ikabot_path=legacy_file.path, email=ALICE.email, password=ALICE.password)
        )
    )[0]
    assert (task.pid, task.progress.done) == (p.pid, 40)


INSIDE_IKABOTS_LOCK = """
import os, sys, threading
os.environ["HOME"] = sys.argv[1]
from ikabot.helpers import sessionStorage
from telebot import details
from telebot.errors import DataError
from telebot.ikabot import producer
t = details.Target("alice@example.org", "alice", "59", "en", None, sys.argv[2])
pid = int(sys.argv[3])
with sessionStorage.session_data_lock():      # a task inside ikabot's own (re-entrant) lock
    details.save_process_details(t, pid, {"action": "autoPirate"})
print("re-entered", flush=True)
held, release = threading.Event(), threading.Event()
def holder():
    with sessionStorage.session_data_lock():
        held.set()
        release.wait(30)
threading.Thread(target=holder, daemon=True).start()
held.wait(30)
producer.LOCK_TIMEOUT = 0.2                   # another thread of ikabot holds it: bounded wait
try:
    details.save_process_details(t, pid, {"action": "x"})
except DataError as e:
    print("bounded:", e, flush=True)
release.set()
"""


def test_called_inside_ikabots_own_lock(ikabot_dir: IkabotDir, spawn):
    """A task publishing details while it holds ikabot's re-entrant lock: no deadlock; and a
    wait for another thread's hold ends in a clear error. Run in a child with a timeout, so a
    deadlock fails the test instead of hanging the suite."""
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 5 more runs")
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                INSIDE_IKABOTS_LOCK,
                str(ikabot_dir.home),
                str(ikabot_dir.path),
                str(p.pid),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the producer API deadlocked inside ikabot's lock")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "re-entered"
    assert lines[1].startswith("bounded:") and "0.2 s" in lines[1]
    assert ikabot_dir.session_data(ALICE)["processDetails"][str(p.pid)]["action"] == "autoPirate"


def test_lock_wait_is_bounded(ikabot_dir: IkabotDir, monkeypatch):
    """Another process holding session.lock for good gives a clear error, not a hang."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys, time\n"
                "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                "print('held', flush=True)\n"
                "time.sleep(60)\n"
            ),
            str(ikabot_dir.path / "session.lock"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        monkeypatch.setattr(producer, "LOCK_TIMEOUT", 0.2)
        with pytest.raises(DataError) as e:
            save_process_details(ikabot_dir.target(ALICE), 4242, MISSIONS)
        assert "locked" in str(e.value)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo", "not_utf8"])
def test_users_file_we_must_not_replace(ikabot_dir: IkabotDir, tmp_path: Path, kind: str):
    file = ikabot_dir.user_file(ALICE)
    file.unlink(missing_ok=True)
    if kind == "symlink":
        real = tmp_path / "real.json"
        real.write_text(json.dumps({"email": ALICE.email, "players": {}}))
        file.symlink_to(real)
    elif kind == "directory":
        file.mkdir()
    elif kind == "fifo":
        os.mkfifo(file)
    else:
        file.write_bytes(b'{"email": "\xff\xfe"}')
    with pytest.raises(DataError) as e:
        save_process_details(ikabot_dir.target(ALICE), 4242, MISSIONS)
    assert "\n" not in str(e.value) and str(file) in str(e.value)
    if kind == "symlink":
        assert file.is_symlink() and json.loads(real.read_text())["players"] == {}


def test_concurrent_writers_lose_nothing(ikabot_dir: IkabotDir, tmp_path: Path):
    """Two processes each save 30 pids under ikabot's exclusive lock: all 60 survive."""
    code = (
        "import sys\n"
        "from telebot.details import Target, save_process_details\n"
        "t = Target('alice@example.org', 'alice', '59', 'en', None, sys.argv[1])\n"
        "for i in range(30):\n"
        "    save_process_details(t, int(sys.argv[2]) + i,\n"
        "                         {'progress': {'done': i, 'total': 30}})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(ikabot_dir.path), str(base)])
        for base in (100000, 200000)
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    data = ikabot_dir.session_data(ALICE)
    assert len(data["processDetails"]) == 60


def test_concurrent_sidecar_writers_lose_nothing(legacy_file: LegacyFile):
    """Legacy layout: two processes each save 30 pids; the sidecar's own lock keeps all 60."""
    code = (
        "import sys\n"
        "from telebot.details import Target, save_process_details\n"
        "t = Target('alice@example.org', 'alice', '59', 'en', None, sys.argv[1])\n"
        "for i in range(30):\n"
        "    save_process_details(t, int(sys.argv[2]) + i,\n"
        "                         {'progress': {'done': i, 'total': 30}})\n"
    )
    before = legacy_file.path.read_bytes()
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(legacy_file.path), str(base)])
        for base in (100000, 200000)
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    data = sidecar.load(legacy_file.path)
    server = sidecar.details_of(data, ALICE.email)["alice"]["59"]["en"]
    assert len(server["processDetails"]) == 60
    assert legacy_file.path.read_bytes() == before


def test_symlinked_sidecar_is_refused(legacy_file: LegacyFile, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    sidecar.path_for(legacy_file.path).symlink_to(elsewhere)
    with pytest.raises(DataError) as e:
        save_process_details(legacy_file.target(ALICE), 4242, MISSIONS)
    assert "not writing" in str(e.value) and "\n" not in str(e.value)
    assert elsewhere.read_text() == "{}"
