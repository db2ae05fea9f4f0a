"""telebot's own database failing never silences it: on a full disk a death alert still goes
out and /status still answers (from memory), with the problem told to the owner once; a
corrupt database is moved aside (its new name said) and a new one started.

The full disk is real: a tiny tmpfs mounted for the test (root, as CI runs); skipped where
mounting is refused."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE
from test_alerts import alerts, pirate

from telebot.state import StateDB

FULL = "cannot write its database"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB filesystem of its own; `fill(path)` then takes every byte left."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> None:
    """Write until the filesystem says ENOSPC."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_a_full_disk_keeps_the_outbox_in_memory(tiny_disk):
    state = StateDB(tiny_disk / "state")
    try:
        fill(tiny_disk)
        with state.db.transaction():  # an end and its alert, as the alerter writes them
            state.settings.set_mute_until(1.0)
            state.outbox.enqueue("end:1:1", "42", "died", "💀 autoPirate died")
        assert [i.text for i in state.outbox.pending()] == ["💀 autoPirate died"]
        # the whole transaction, not just its last statement
        assert state.db.conn.execute("SELECT value FROM kv WHERE key='mute_until'").fetchone()
        news = state.take_news()
        assert news is not None and FULL in news and "the disk is full" in news
        assert state.take_news() is None  # once
    finally:
        state.close()


def test_a_disk_full_at_start_starts_in_memory(tiny_disk):
    """Not "set TELEBOT_STATE_DIR to a directory you can write": the disk is only full."""
    (tiny_disk / "state").mkdir()
    fill(tiny_disk)
    state = StateDB(tiny_disk / "state")
    try:
        state.outbox.enqueue("end:1:1", "42", "died", "💀 autoPirate died")
        assert [i.text for i in state.outbox.pending()] == ["💀 autoPirate died"]
        news = state.take_news()
        assert news is not None and FULL in news and "the disk is full" in news
    finally:
        state.close()


async def test_a_full_disk_still_lets_a_death_alert_out(
    ikabot_dir, spawn, api, tmp_path, tiny_disk
):
    p = pirate(ikabot_dir, spawn)
    s = fast_settings(ikabot_dir.path, api, tiny_disk / "state")
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/status")
        assert "autoPirate" in reply["text"]
        fill(tiny_disk)
        p.kill()
        assert await bot.wait(lambda: alerts(api)), bot.texts()
        (text,) = alerts(api)
        assert str(p.pid) in text and "killed" in text.split("\n")[0]
        (reply,) = await bot.ask("/status")  # still answering
        assert "autoPirate" in reply["text"]

        def told() -> list[str]:
            return [t for t in bot.texts(OWNER) if FULL in t]

        assert await bot.wait(told)
        for _ in range(3):  # more scans, more answers: told once
            await bot.ask("/status")
        assert len(told()) == 1 and "disk is full" in told()[0]


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite database\n" * 200)


def torn_page(path: Path) -> None:
    """A real telebot database with one of its pages overwritten."""
    db = StateDB(path.parent)
    for i in range(200):
        db.outbox.enqueue(f"k{i}", "42", "died", "x" * 200)
    db.close()
    with open(path, "r+b") as f:
        f.seek(4096 * 2)
        f.write(os.urandom(4096))


@pytest.mark.parametrize("damage", [garbage, torn_page])
def test_a_corrupt_database_is_moved_aside(tmp_path, damage):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    damage(state_dir / "telebot.sqlite3")
    db = StateDB(state_dir)
    try:
        (aside,) = state_dir.glob("telebot.sqlite3.corrupt-*")
        news = db.take_news()
        assert news is not None and "corrupt" in news and aside.name in news
        assert "TELEBOT_STATE_DIR" not in news
        db.outbox.enqueue("k", "42", "died", "works")  # a new database, on disk
        assert not db.db.conn.in_memory and [i.text for i in db.outbox.pending()] == ["works"]
    finally:
        db.close()


async def test_the_owner_hears_which_file_was_corrupt(ikabot_dir, spawn, api, tmp_path):
    pirate(ikabot_dir, spawn)
    state_dir = tmp_path / "s"
    state_dir.mkdir()
    garbage(state_dir / "telebot.sqlite3")
    async with running_bot(fast_settings(ikabot_dir.path, api, state_dir), api) as bot:
        (reply,) = await bot.ask("/status")
        assert "autoPirate" in reply["text"] and ALICE.username in reply["text"]

        def told() -> list[str]:
            return [t for t in bot.texts(OWNER) if "was corrupt" in t]

        assert await bot.wait(told)
    (aside,) = state_dir.glob("telebot.sqlite3.corrupt-*")
    assert aside.name in told()[0]
