"""Bad data ikabot (or another user) can leave behind never breaks a read, hangs, or hides
the good tasks: each bad entry or file is dropped alone, with a warning."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from conftest import ALICE, BOB
from ikabotdata import IkabotDir
from util import DEADLINE

from telebot.config import Settings
from telebot.ikabot.store import open_store
from telebot.tasks.merge import build_tasks


def users_file(d: IkabotDir, email: str) -> Path:
    (f,) = [
        p
        for p in (d.path / "users").glob("*.json")
        if json.loads(p.read_text()).get("email") == email
    ]
    return f


def add_raw_entries(d: IkabotDir, email: str, entries: list[object]) -> None:
    """Entries written as Python's json writes them (NaN, Infinity), beside ikabot's own."""
    f = users_file(d, email)
    data = json.loads(f.read_text())
    for worlds in data["players"].values():
        for servers in worlds.values():
            for server in servers.values():
                server["processList"].extend(entries)
    f.write_text(json.dumps(data))


@pytest.fixture
def good_and_bad(ikabot_dir: IkabotDir, spawn):
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 3 more runs")
    add_raw_entries(
        ikabot_dir,
        ALICE.email,
        [
            {"pid": 2147483648, "action": "past pid_max", "date": 1.0, "status": ""},
            {"pid": "²", "action": "superscript two", "date": 1.0, "status": ""},
            {"pid": 4242, "action": "nan date", "date": float("nan"), "status": ""},
            {"pid": 4243, "action": "infinite date", "date": float("inf"), "status": ""},
            "not even an object",
        ],
    )
    return p


def test_one_bad_entry_never_breaks_a_read(ikabot_dir, good_and_bad, run_cli):
    r = run_cli("status", "--json", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0, r.err
    procs = json.loads(r.out)["processes"]  # strict JSON: json.loads would take NaN, so…
    assert "NaN" not in r.out and "Infinity" not in r.out
    assert [p["pid"] for p in procs] == [good_and_bad.pid]
    assert "skipped 5 processList entries" in r.err and "Traceback" not in r.err


def test_a_100000_deep_file_is_skipped_alone(ikabot_dir, good_and_bad, run_cli):
    (ikabot_dir.path / "users" / "deep@example.org.json").write_text("[" * 100_000 + "]" * 100_000)
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0, r.err
    assert "autoPirate" in r.out and "deep@example.org.json" in r.err
    assert "Traceback" not in r.err and "internal error" not in r.err


def test_a_fifo_in_users_does_not_hang_anything(ikabot_dir, good_and_bad, run_cli):
    fifo = ikabot_dir.path / "users" / "fifo@example.org.json"
    os.mkfifo(fifo)
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path), timeout=DEADLINE)
    assert r.code == 0, r.err
    assert "autoPirate" in r.out and "fifo@example.org.json" in r.err
    # the store in-process too, from a thread, with a deadline
    done = threading.Event()
    out: list[int] = []
    threading.Thread(
        target=lambda: (
            out.append(len(build_tasks(open_store(Settings(ikabot_path=ikabot_dir.path)).read()))),
            done.set(),
        ),
        daemon=True,
    ).start()
    assert done.wait(DEADLINE) and out == [1]


def test_partly_unreadable_data_is_named_and_nothing_readable_is_exit_2(ikabot_dir, spawn, run_cli):
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    ikabot_dir.add_task(BOB, spawn().pid, "webServer")
    alice, bob = users_file(ikabot_dir, ALICE.email), users_file(ikabot_dir, BOB.email)
    bob.write_text('{"email": "bob@example.org", "pla')  # torn
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0 and "autoPirate" in r.out and "webServer" not in r.out
    assert "unreadable or not JSON; skipped" in r.err
    alice.write_text("\x00garbage")
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 2 and "nothing in" in r.err and "could be read" in r.err
    assert "No ikabot tasks recorded" not in r.out
    # `check` agrees with `status`: nothing readable is not "all good"
    r = run_cli("check", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 2 and "all good" not in r.out and "Traceback" not in r.err
    assert "nothing in" in r.err and "could be read" in r.err


async def test_status_in_telegram_names_what_was_skipped(ikabot_dir, good_and_bad, tmp_path):
    from botharness import fast_settings, running_bot
    from conftest import TOKEN

    from telebot.demo.fakeapi import FakeBotAPI

    with FakeBotAPI(token=TOKEN) as api:
        async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
            (reply,) = await bot.ask("/status")
    assert "autoPirate" in reply["text"]
    assert "⚠️ skipped 5 processList entries" in reply["text"]


def test_an_undated_entry_on_a_live_pid_is_said(ikabot_dir, spawn, run_cli):
    """Without a date a reused pid cannot be told from the task: shown, and said."""
    p = spawn()
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    add_raw_entries(
        ikabot_dir, ALICE.email, [{"pid": p.pid, "action": "undated", "status": "no date"}]
    )
    r = run_cli("status", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 0 and "undated" in r.out
    assert "1 processList entry of alice@example.org without a date" in r.err


async def test_data_that_disappears_is_told_once(ikabot_dir, spawn, tmp_path):
    """ikabot's data gone for good while telebot runs (a volume unmounted, ikabot removed):
    the owner hears it once, and telebot reads the data again when it is back."""
    from botharness import OWNER, fast_settings, running_bot
    from conftest import TOKEN

    from telebot.demo.fakeapi import FakeBotAPI

    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate", "Pirating for 3 more runs")
    away = ikabot_dir.path.with_name(".ikabot-away")
    with FakeBotAPI(token=TOKEN) as api:
        async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
            ikabot_dir.path.rename(away)

            def gone() -> list[str]:
                return [t for t in bot.texts(OWNER) if t.startswith("⚠️ ikabot's data at")]

            assert await bot.wait(lambda: gone())
            (reply,) = await bot.ask("/status")  # more reads: still told once
            assert "is gone" in reply["text"]
            await bot.settled()
            assert len(gone()) == 1
            away.rename(ikabot_dir.path)
            (reply,) = await bot.ask("/status")
            assert "autoPirate" in reply["text"] and "is gone" not in reply["text"]


async def test_the_data_gone_notice_speaks_telebot_lang(ikabot_dir, spawn, tmp_path):
    from botharness import OWNER, fast_settings, running_bot
    from conftest import TOKEN

    from telebot.demo.fakeapi import FakeBotAPI

    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate", "Pirating for 3 more runs")
    with FakeBotAPI(token=TOKEN) as api:
        s = fast_settings(ikabot_dir.path, api, tmp_path / "s", lang="pt")
        async with running_bot(s, api) as bot:
            ikabot_dir.path.rename(ikabot_dir.path.with_name(".ikabot-away"))
            assert await bot.wait(
                lambda: any(
                    t.startswith("⚠️ Os dados do ikabot em") and "sumiram" in t
                    for t in bot.texts(OWNER)
                )
            )


def test_safeio_refuses_a_fifo_as_unsafe_never_reads_it_as_empty(tmp_path):
    """A FIFO is refused (`UnsafeFile`, "not a regular file"), which an empty file is not:
    read from a thread with a deadline, so a check that waited on the FIFO fails, not hangs."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Late

    from telebot.ikabot.safeio import UnsafeFile, read_bytes_capped

    empty, fifo = tmp_path / "empty.json", tmp_path / "fifo.json"
    empty.write_bytes(b"")
    os.mkfifo(fifo)
    assert read_bytes_capped(empty) == b""  # the twin: empty is read, as empty
    pool = ThreadPoolExecutor(1)
    reading = pool.submit(read_bytes_capped, fifo)
    try:
        with pytest.raises(UnsafeFile, match=r"fifo\.json is not a regular file"):
            reading.result(timeout=20)
    except Late:
        raise AssertionError("reading a FIFO waited for a writer") from None
    finally:
        if not reading.done():  # a writer and its end let a hung read return
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        pool.shutdown(wait=True)
