"""The store on data written by ikabot's own code, in both layouts."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import ALICE, BOB, CHAT, TOKEN
from ikabotdata import Account, IkabotDir, LegacyFile, building_status, home
from util import DEADLINE, dead_pid, wait_until

from telebot.config import Settings
from telebot.errors import DataError
from telebot.ikabot import legacy, store
from telebot.ikabot.store import open_store
from telebot.tasks.merge import build_tasks, collect


def by_pid(tasks):
    return {t.pid: t for t in tasks}


def test_directory_layout_every_account_and_task(ikabot_dir: IkabotDir, spawn):
    a1, a2, b = spawn(), spawn(), spawn()
    alice2 = Account(ALICE.email, "alice-second", "7", "es")
    ikabot_dir.add_task(ALICE, a1.pid, "autoPirate", "Mission 5/10 complete")
    ikabot_dir.add_task(alice2, a2.pid, "webServer")
    ikabot_dir.set_status(alice2, a2.pid, "running on http://127.0.0.1:43527 ")
    ikabot_dir.add_task(
        BOB, b.pid, "constructionList", building_status("Athens", "Academy", 4, 3720, 11040)
    )
    snap = open_store(Settings(ikabot_path=ikabot_dir.path)).read()
    assert snap.layout == "directory"
    assert snap.telegram.bot_token == TOKEN and snap.telegram.chat_id == CHAT
    assert sorted(snap.emails) == [ALICE.email, BOB.email]
    keys = {(a.key.email, a.key.username, a.key.world, a.key.server) for a in snap.accounts}
    assert keys == {
        (ALICE.email, "alice", "59", "en"),
        (ALICE.email, "alice-second", "7", "es"),
        (BOB.email, "bob", "12", "de"),
    }
    tasks = by_pid(build_tasks(snap))
    assert tasks[a1.pid].progress.done == 5 and tasks[a1.pid].progress.total == 10
    assert tasks[a2.pid].urls == ["http://127.0.0.1:43527"]
    assert tasks[b.pid].parsed.building == "Academy"
    assert all(t.state == "running" for t in tasks.values())


def test_email_filter_and_unknown_email(ikabot_dir: IkabotDir, spawn):
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    ikabot_dir.add_task(BOB, spawn().pid, "autoPirate")
    snap = open_store(Settings(ikabot_path=ikabot_dir.path, email=BOB.email)).read()
    assert {a.key.email for a in snap.accounts} == {BOB.email}
    with pytest.raises(DataError, match=r"IKABOT_EMAIL=nobody@example\.org"):
        open_store(Settings(ikabot_path=ikabot_dir.path, email="nobody@example.org"))


def test_legacy_layout(legacy_file: LegacyFile, spawn):
    p, q = spawn(), spawn()
    legacy_file.add_task(ALICE, p.pid, "autoPirate", "Pirating for 3 more runs")
    legacy_file.add_task(
        Account(ALICE.email, "alt", "3", "fr", ALICE.password),
        q.pid,
        "webServer",
        "running on http://127.0.0.1:1234 and http://10.0.0.2:1234",
    )
    legacy_file.add_task(BOB, spawn().pid, "autoPirate")  # another e-mail's line
    snap = open_store(
        Settings(ikabot_path=legacy_file.path, email=ALICE.email, password=ALICE.password)
    ).read()
    assert snap.layout == "legacy" and snap.telegram.bot_token == TOKEN
    assert {a.key.username for a in snap.accounts} == {"alice", "alt"}
    tasks = by_pid(build_tasks(snap))
    assert set(tasks) == {p.pid, q.pid}
    assert tasks[p.pid].remaining == 3
    assert tasks[q.pid].urls == ["http://127.0.0.1:1234", "http://10.0.0.2:1234"]


def test_legacy_garbage_line_costs_only_itself(legacy_file: LegacyFile, spawn):
    legacy_file.add_task(ALICE, spawn().pid, "autoPirate")
    legacy_file.extra_lines = ["garbage", "f" * 64 + " bm90IGEgdmFsaWQgbGluZQ=="]
    legacy_file.write()
    tasks = collect(
        open_store(
            Settings(ikabot_path=legacy_file.path, email=ALICE.email, password=ALICE.password)
        )
    )
    assert len(tasks) == 1


def test_legacy_key_derived_once(legacy_file: LegacyFile, spawn, monkeypatch):
    legacy_file.add_task(ALICE, spawn().pid, "autoPirate")
    calls = []
    real = legacy.derive_key
    monkeypatch.setattr(legacy, "derive_key", lambda e, p: calls.append(e) or real(e, p))
    s = open_store(
        Settings(ikabot_path=legacy_file.path, email=ALICE.email, password=ALICE.password)
    )
    for _ in range(20):
        s.read()
    assert calls == [ALICE.email]


def test_legacy_migration_file_is_read(tmp_path: Path, spawn):
    """ikabot 7.6+ moves a legacy file to .legacy_migration.enc until the account logs in."""
    home_dir = tmp_path / "home"
    home_dir.mkdir()
    old = LegacyFile(home_dir / ".ikabot")
    p = spawn()
    old.add_task(ALICE, p.pid, "autoPirate", "Mission 2/4 complete")
    IkabotDir(home_dir)  # ikabot's init_storage performs the move
    assert (home_dir / ".ikabot" / ".legacy_migration.enc").is_file()
    s = open_store(
        Settings(ikabot_path=home_dir / ".ikabot", email=ALICE.email, password=ALICE.password)
    )
    tasks = collect(s)
    assert [t.pid for t in tasks] == [p.pid] and tasks[0].progress.done == 2
    no_creds = open_store(Settings(ikabot_path=home_dir / ".ikabot")).read()
    assert no_creds.accounts == [] and "legacy_migration" in no_creds.warnings[0]


def test_torn_reads_never_lose_tasks(legacy_file: LegacyFile, spawn, monkeypatch, tmp_path: Path):
    """A writer rewrites the file in place, as ikabot does, while 1,000 reads run."""
    monkeypatch.setattr(store, "BACKOFF", 0.001)  # the same retries, less waiting
    for i in range(5):
        legacy_file.add_task(ALICE, spawn().pid, "autoPirate", f"Mission {i}/10 complete")
    s = open_store(
        Settings(ikabot_path=legacy_file.path, email=ALICE.email, password=ALICE.password)
    )
    payload = tmp_path / "payload"
    payload.write_text("\n".join(legacy_file.lines()) + "\n")
    counter = tmp_path / "writes"
    # another process, like ikabot: open("w") truncates, then the text goes in two parts
    writer = spawn(
        "import itertools, os, time\n"
        f"data = open({str(payload)!r}).read(); half = len(data) // 2\n"
        "for n in itertools.count():\n"
        f"    f = open({str(legacy_file.path)!r}, 'w'); f.write(data[:half]); f.flush()\n"
        "    f.write(data[half:]); f.close()\n"
        "    time.sleep(0.001)  # ikabot saves often, not back to back\n"
        f"    if n % 50 == 0: open({str(counter)!r} + '.t', 'w').write(str(n)); "
        f"os.replace({str(counter)!r} + '.t', {str(counter)!r})\n"
    )
    assert wait_until(counter.exists)
    try:
        snapshots = [s.read() for _ in range(1000)]
    finally:
        writer.kill()
    assert int(counter.read_text()) >= 50  # the file really was being rewritten
    assert min(len(build_tasks(snap)) for snap in snapshots) == 5
    # and the reads were real ones, not the last good snapshot kept over and over
    fresh = [snap for snap in snapshots if not snap.warnings]
    assert len(fresh) >= 100, f"only {len(fresh)} of 1000 reads were fresh"
    assert len({snap.read_at for snap in fresh}) == len(fresh)


def test_directory_read_takes_a_shared_lock_and_waits_for_a_writer(
    ikabot_dir: IkabotDir, spawn, monkeypatch
):
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    s = open_store(Settings(ikabot_path=ikabot_dir.path))
    lock = ikabot_dir.path / "session.lock"
    fd = os.open(lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # an ikabot writer in the middle of an update
    events: list[str] = []  # in order: the reader's tries, the writer's release, the read
    real_flock = fcntl.flock

    def flock(f: int, how: int) -> None:
        if threading.current_thread() is threading.main_thread():
            return real_flock(f, how)
        try:
            real_flock(f, how)
        except BlockingIOError:
            events.append("refused")
            raise
        events.append("held")

    monkeypatch.setattr(fcntl, "flock", flock)
    done = threading.Event()
    threading.Thread(target=lambda: (s.read(), events.append("read"), done.set())).start()
    # the reader waits for the writer: told by what it did, not by a pause
    assert wait_until(lambda: events.count("refused") >= 2)
    events.append("released")
    os.close(fd)
    assert done.wait(DEADLINE)  # ...and proceeds when it is done, under the lock
    assert "held" not in events[: events.index("released")], events
    assert events[-2:] == ["held", "read"], events[-5:]
    monkeypatch.undo()
    # and the reader's lock is shared: it coexists with another shared holder
    fd = os.open(lock, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        assert len(s.read().accounts) == 1
    finally:
        os.close(fd)


def test_directory_bad_json_keeps_last_good(ikabot_dir: IkabotDir, spawn):
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    s = open_store(Settings(ikabot_path=ikabot_dir.path))
    assert len(collect(s)) == 1
    ikabot_dir.user_file(ALICE).write_text('{"email": "half')
    snap = s.read()
    assert len(build_tasks(snap)) == 1 and snap.warnings


def test_reading_never_writes(ikabot_dir: IkabotDir, spawn):
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    before = {p: p.read_bytes() for p in ikabot_dir.path.rglob("*") if p.is_file()}
    s = open_store(Settings(ikabot_path=ikabot_dir.path))
    for _ in range(3):
        collect(s)
    after = {p: p.read_bytes() for p in ikabot_dir.path.rglob("*") if p.is_file()}
    assert before == after


def test_dead_and_reused_pids(ikabot_dir: IkabotDir, spawn):
    live, doomed, other = spawn(), spawn(), spawn(ikabot=False)
    ikabot_dir.add_task(ALICE, live.pid, "autoPirate")
    ikabot_dir.add_task(ALICE, doomed.pid, "autoPirate", "Mission 5/10 complete")
    # a live pid recorded with an old date: the pid was reused by another process
    ikabot_dir.add_task(ALICE, other.pid, "webServer", date=time.time() - 3600)
    doomed.kill()
    doomed.wait()
    tasks = by_pid(collect(open_store(Settings(ikabot_path=ikabot_dir.path))))
    assert tasks[live.pid].alive and tasks[live.pid].state == "running"
    assert not tasks[doomed.pid].alive and tasks[doomed.pid].state == "dead"
    assert not tasks[other.pid].alive


# ---------------------------------------------------------------- bad input

SECRET = "Sup3r-Secret-pw"


def snapshot_files(path: Path) -> dict[Path, bytes]:
    if path.is_file():
        return {path: path.read_bytes()}
    return {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "wrong_password",
        "unknown_email",
        "empty",
        "corrupt",
        "no_credentials",
        "not_ikabot_dir",
    ],
)
def test_bad_input_one_line(case: str, tmp_path: Path, spawn):
    f = LegacyFile(tmp_path / "legacy")
    f.set_telegram(ALICE, TOKEN, CHAT)
    f.add_task(ALICE, spawn().pid, "autoPirate")
    settings = Settings(ikabot_path=f.path, email=ALICE.email, password=ALICE.password)
    if case == "missing":
        settings = Settings(ikabot_path=tmp_path / "nope")
    elif case == "wrong_password":
        settings = Settings(ikabot_path=f.path, email=ALICE.email, password=SECRET)
    elif case == "unknown_email":
        settings = Settings(ikabot_path=f.path, email="who@example.org", password=SECRET)
    elif case == "empty":
        f.path.write_text("")
    elif case == "corrupt":
        f.path.write_bytes(b"\x00\x01 not ikabot \xff\n")
    elif case == "no_credentials":
        settings = Settings(ikabot_path=f.path)
    elif case == "not_ikabot_dir":
        (tmp_path / "emptydir").mkdir()
        settings = Settings(ikabot_path=tmp_path / "emptydir")
    before = snapshot_files(f.path)
    with pytest.raises(DataError) as e:
        open_store(settings).read()
    msg = str(e.value)
    assert "\n" not in msg and SECRET not in msg and ALICE.password not in msg
    assert "IKABOT_" in msg  # it names the setting to fix
    assert snapshot_files(f.path) == before


def test_store_shapes_are_defensive(tmp_path: Path):
    gone, gone2 = dead_pid(), dead_pid()
    d = tmp_path / ".ikabot"
    (d / "users").mkdir(parents=True)
    (d / "global.json").write_text(json.dumps({"telegram": "not a dict"}))
    (d / "users" / "x.json").write_text(
        json.dumps(
            {
                "email": "x@example.org",
                "players": {
                    "u": {
                        "1": {
                            "en": {
                                "processList": [
                                    {"pid": str(gone), "action": 5},
                                    {"pid": None},
                                    "junk",
                                    {"pid": True},
                                    {"pid": gone2, "action": "a", "date": "yesterday", "status": 7},
                                ],
                                "processDetails": ["not", "a", "dict"],
                            }
                        },
                        "2": "junk",
                    }
                },
            }
        )
    )
    snap = open_store(Settings(ikabot_path=d)).read()
    assert [e["pid"] for e in snap.accounts[0].process_list] == [gone, gone2]
    assert snap.telegram.bot_token is None
    assert {t.state for t in build_tasks(snap)} == {"dead"}


def test_home_context_restores(tmp_path: Path):
    before = os.environ.get("HOME")
    with home(tmp_path):
        assert os.environ["HOME"] == str(tmp_path)
    assert os.environ.get("HOME") == before


def test_retry_gives_up_to_last_good(legacy_file: LegacyFile, spawn, monkeypatch):
    legacy_file.add_task(ALICE, spawn().pid, "autoPirate")
    s = open_store(
        Settings(ikabot_path=legacy_file.path, email=ALICE.email, password=ALICE.password)
    )
    monkeypatch.setattr(store, "BACKOFF", 0.0001)
    legacy_file.path.write_text("")  # ikabot died mid-write: empty for good
    snap = s.read()
    assert len(snap.accounts) == 1 and "last good" in snap.warnings[0]


async def test_runtime_follows_ikabots_upgrade_to_the_directory_layout(tmp_path: Path, spawn):
    """ikabot 7.6+ moves ~/.ikabot (a file) into ~/.ikabot/.legacy_migration.enc."""
    from telebot.bot.runtime import Runtime
    from telebot.state import StateDB

    home_dir = tmp_path / "home"
    home_dir.mkdir()
    f = LegacyFile(home_dir / ".ikabot")
    p = spawn()
    f.add_task(ALICE, p.pid, "autoPirate", "Mission 4/10 complete")
    settings = Settings(ikabot_path=f.path, email=ALICE.email, password=ALICE.password)
    rt = Runtime(settings, open_store(settings), StateDB(tmp_path / "state"), "42")
    assert [t.pid for t in await rt.read()] == [p.pid]
    IkabotDir(home_dir)  # ikabot 7.7 starts: init_storage migrates the file
    assert f.path.is_dir()
    tasks = await rt.read()
    assert [t.pid for t in tasks] == [p.pid] and tasks[0].progress.done == 4
    assert rt.store.layout == "directory"
    rt.state.close()
