"""`telebot ikabot`: ikabot 7.7.2's own menu (the offline ikabot: only the network stubbed) in
a terminal, driven through a real pseudo-terminal (pexpect) as a player at a keyboard would;
its answers recorded as /menu records them, so the task gets 🔁 Run again."""

from __future__ import annotations

import fcntl
import json
import shlex
import sqlite3
import struct
import sys
import termios
from pathlib import Path

import pexpect
import psutil
import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE, clean_env
from ikabotdata import IkabotDir
from menuharness import Player, no_leftovers, offline_command, open_gate

from telebot.menu.keys import Controls, LineEditor
from telebot.processes import liveness

WAIT = 30  # seconds: generous, the machine is shared


@pytest.fixture
def console(ikabot_dir: IkabotDir, tmp_path: Path):
    """Start `telebot ikabot [ARGS]` in a pseudo-terminal of rows × columns."""
    children: list[pexpect.spawn] = []

    def start(*args: str, rows: int = 40, columns: int = 120, **env: str) -> pexpect.spawn:
        command = offline_command(
            ikabot_dir.home, tmp_path / "ikabot.log", tmp_path / "gates", ALICE
        )
        environment = clean_env(
            tmp_path,
            IKABOT_PATH=str(ikabot_dir.path),
            IKABOT_COMMAND=shlex.join(command),
            TERM="xterm-256color",
            **env,
        )
        child = pexpect.spawn(
            sys.executable,
            ["-m", "telebot", "ikabot", *args],
            env=environment,
            cwd=str(tmp_path),
            dimensions=(rows, columns),
            timeout=WAIT,
            encoding="utf-8",
            codec_errors="replace",
        )
        children.append(child)
        return child

    with no_leftovers(tmp_path):
        yield start
        for child in children:
            child.close(force=True)


def recordings(tmp_path: Path) -> list[dict]:
    db = sqlite3.connect(tmp_path / "state" / "telebot.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM menu_recordings")]
    finally:
        db.close()


def configure_autopirate(child: pexpect.spawn, runs: str = "1") -> None:
    """ikabot 7.7.2's autoPirate questions (function/autoPirate.py), typed at the keyboard."""
    for asked, typed in (
        ("Auto-Pirate", "17"),
        ("How many pirate missions", runs),
        (r"\(y/N\)", "n"),
        ("Which pirate mission", "1"),
        ("capture points", "n"),
        ("random waiting time", "0"),
    ):
        child.expect(asked)
        child.sendline(typed)
    child.expect(r"\[Enter\]")
    child.sendline("")


def menu_pid_of(child: pexpect.spawn) -> int:
    (menu,) = [
        p
        for p in psutil.Process(child.pid).children()
        if "offline" in " ".join(p.cmdline()) or "ikabot" in " ".join(p.cmdline())
    ]
    return menu.pid


def window_of(pid: int) -> tuple[int, int]:
    """The size of the terminal process `pid` reads from (its stdin)."""
    with open(f"/proc/{pid}/fd/0", "rb", buffering=0) as tty_file:
        rows, cols, _, _ = struct.unpack(
            "HHHH", fcntl.ioctl(tty_file, termios.TIOCGWINSZ, b"\0" * 8)
        )
    return rows, cols


def test_the_console_passes_ikabot_through_and_records_what_menu_records(console, tmp_path):
    child = console(rows=33, columns=101)
    child.expect("Mail:")
    menu = menu_pid_of(child)
    assert window_of(menu) == (33, 101), "ikabot's terminal is not the player's size"
    child.setwinsize(45, 132)  # SIGWINCH: ikabot's terminal follows the window
    deadline = psutil.time.monotonic() + WAIT
    while window_of(menu) != (45, 132) and psutil.time.monotonic() < deadline:
        psutil.time.sleep(0.05)
    assert window_of(menu) == (45, 132)
    child.send("nobody@x\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f")  # typed, then erased
    child.sendline(ALICE.email)
    configure_autopirate(child, runs="2")
    child.expect(r"\(24\) Reorganize city buildings")  # the main menu again: it started
    deadline = psutil.time.monotonic() + WAIT
    while not recordings(tmp_path) and psutil.time.monotonic() < deadline:
        psutil.time.sleep(0.1)
    (rec,) = recordings(tmp_path)
    steps = json.loads(rec["steps"])
    assert [(s["answer"], s["kind"]) for s in steps] == [
        (ALICE.email, "text"),
        ("17", "choice"),
        ("2", "text"),
        ("n", "text"),
        ("1", "choice"),
        ("n", "text"),
        ("0", "text"),
        ("", "enter"),
    ]
    assert steps[0]["prompt"] == "Mail:"
    assert [17, "Auto-Pirate"] in steps[1]["choices"]
    assert rec["action"] == "autoPirate" and rec["username"] == ALICE.username
    pid = rec["pid"]
    assert liveness.same_process(pid, rec["start_ticks"])
    child.sendline("0")  # ikabot's (0) Exit
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert f"(pid {pid}" in child.before and "Run again" in child.before
    assert liveness.same_process(pid, rec["start_ticks"]), "the task died with the console"


def test_the_screen_is_ikabots_own_bytes_and_ctrl_c_is_ikabots(console, tmp_path):
    child = console()
    child.expect("Mail:")
    child.sendline(ALICE.email)
    child.expect(r"\(24\) Reorganize city buildings")
    # ikabot's clear (the terminal's own sequence for TERM) and its colours reach the player
    shown = child.before
    assert "\x1b[H" in shown or "\x1b[2J" in shown, repr(shown[:200])
    child.sendcontrol("c")  # at ikabot's prompt: ikabot's KeyboardInterrupt ends its menu
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert recordings(tmp_path) == []  # nothing started, nothing recorded


def test_answers_given_ahead_are_typed_and_recorded(console, tmp_path):
    child = console(ALICE.email, "17", "1", "n", "1", "n", "0")
    child.expect("YAAAAAR!", timeout=WAIT * 2)  # all given; ikabot's [Enter] is the player's
    child.expect(r"\[Enter\]")
    child.sendline("")
    child.expect(r"\(24\) Reorganize city buildings")
    deadline = psutil.time.monotonic() + WAIT
    while not recordings(tmp_path) and psutil.time.monotonic() < deadline:
        psutil.time.sleep(0.1)
    (rec,) = recordings(tmp_path)
    assert [s["answer"] for s in json.loads(rec["steps"])] == [
        ALICE.email,
        "17",
        "1",
        "n",
        "1",
        "n",
        "0",
        "",
    ]
    child.sendline("0")
    child.expect(pexpect.EOF)


def test_without_a_terminal_one_line_and_status_2(run_cli, ikabot_dir):
    r = run_cli("ikabot", IKABOT_PATH=str(ikabot_dir.path))
    assert r.code == 2 and "terminal" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    r = run_cli("ikabot", IKABOT_PATH=str(ikabot_dir.path), TELEBOT_LANG="pt")
    assert r.code == 2 and r.err.startswith(
        "telebot: telebot ikabot abre o menu do ikabot neste terminal"
    ), r.err


async def test_a_task_started_at_the_console_gets_run_again(console, api, ikabot_dir, tmp_path):
    child = console()
    child.expect("Mail:")
    child.sendline(ALICE.email)
    configure_autopirate(child)
    child.expect(r"\(24\) Reorganize city buildings")
    child.sendline("0")
    child.expect(pexpect.EOF)
    (rec,) = recordings(tmp_path)
    old = rec["pid"]
    command = offline_command(ikabot_dir.home, tmp_path / "ikabot.log", tmp_path / "gates", ALICE)
    settings = fast_settings(ikabot_dir.path, api, tmp_path / "state", ikabot_command=command)
    async with running_bot(settings, api) as bot:
        me = Player(bot)
        open_gate(tmp_path / "gates", f"{old}-run-1")
        alert = await me.said("autoPirate finished")
        assert str(old) in alert
        (details,) = await bot.ask(f"/details {old}")
        assert "8 recorded answers" in details["text"]
        me.presses("🔁", details)
        await me.said("Run autoPirate again")
        confirm = next(m for m in reversed(api.sent(OWNER)) if "Run autoPirate again" in m["text"])
        me.presses("🔁 Run it", confirm)
        await me.said("Replayed all 8 recorded answers, and the task runs")


def test_the_line_editor_edits_as_the_terminal_does():
    keys = Controls(canonical=True)
    editor = LineEditor()
    assert editor.take(b"ab\x7fc", keys) == (4, None) and editor.active
    assert editor.take("é\x7fü one two\x17three\n17\n".encode(), keys)[1] == "acü one three"
    assert editor.take(b"17\n", keys) == (3, "17") and not editor.active
    assert editor.take(b"junk\x03", keys) == (5, None) and not editor.active
    assert editor.take(b"x\x15y\x16\x7f\r", keys)[1] == "y\x7f"  # kill, then a literal erase
    raw = Controls(canonical=False)
    assert editor.take(b"abc\n", raw) == (4, None)
