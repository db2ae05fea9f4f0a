"""The pure parts of /menu: what a phone is shown of ikabot's screen, the question an answer is
matched against, how the menu is started. The screens are ikabot 7.7.2's own (its `banner()`
and menu texts, rendered by the same terminal emulator telebot uses)."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path

import pyte
import pytest
from ikabot.helpers import gui
from util import DEADLINE, until

from telebot import logsafe
from telebot.config import Settings
from telebot.menu.launch import menu_command, menu_env
from telebot.menu.screen import MAX_CHARS, Choice, choices, question, text_for_chat, visible
from telebot.views.render import tg_len


def rendered(text: str, columns: int = 80, rows: int = 50) -> tuple[list[str], int]:
    screen = pyte.Screen(columns, rows)
    pyte.Stream(screen).feed(text.replace("\n", "\r\n"))
    return list(screen.display), screen.cursor.y


def banner_text(capsys, monkeypatch) -> str:
    # ikabot's clear() runs `clear`: nothing to clear here
    monkeypatch.setattr(gui.os, "system", lambda command: 0)
    gui.banner()
    return capsys.readouterr().out


def test_the_banner_art_is_dropped_and_ikabots_text_kept(capsys, monkeypatch):
    menu = "(0)  Exit\n(1)  Construction list\n >>  "
    lines, _ = rendered(banner_text(capsys, monkeypatch) + menu)
    shown = visible(lines)
    assert not any("MM" in line for line in shown)
    assert not any(line.strip().startswith("v7.") for line in shown)
    assert shown[-3:] == ["(0)  Exit", "(1)  Construction list", " >>"]
    assert shown[0] != ""  # leading blank rows dropped


def test_choices_and_the_question_of_a_menu(capsys, monkeypatch):
    screen = (
        banner_text(capsys, monkeypatch) + "| pid | task |\n|  1  | x    |\n\n(0)  Exit\n"
        "(17) Auto-Pirate\n >>  "
    )
    lines, cursor = rendered(screen)
    assert choices(lines) == [Choice(0, "Exit"), Choice(17, "Auto-Pirate")]
    q = question(lines, cursor)
    assert q.prompt == ">>" and q.choices == (Choice(0, "Exit"), Choice(17, "Auto-Pirate"))
    # the process table above changes between visits; the question does not
    other, cursor2 = rendered(screen.replace("|  1  | x    |", "| 99 | y |\n| 7 | z |"))
    assert question(other, cursor2) == q


def test_a_question_with_its_title_and_a_wrapped_line():
    lines, cursor = rendered(
        "Which pirate mission should I do?\n    (1) 2m 30s\n    (2) 7m\n\n >>  "
    )
    q = question(lines, cursor)
    assert q.prompt == "Which pirate mission should I do?\n>>"  # the title belongs to it
    assert [c.number for c in q.choices] == [1, 2]
    long = "You do not have any city with a pirate fortress capable of executing this mission!"
    lines, cursor = rendered(f" >>  0\n{long}\n\n[Enter]")
    assert question(lines, cursor).prompt == f"{long}\n[Enter]"


def test_the_text_fits_telegram_and_keeps_the_bottom():
    lines = [f"line {i} " + "x" * 70 for i in range(200)] + [" >>  "]
    text = text_for_chat(lines, limit=1000)
    assert len(text) <= 1000 and text.endswith(">>")


def test_a_screen_of_emoji_fits_telegram_as_it_counts():
    """Telegram counts UTF-16 units: an emoji (ikabot prints 💡, 🚢) is two of them."""
    lines = ["🚢" * 70 for _ in range(50)] + [" >>  "]
    assert tg_len(text_for_chat(lines)) <= MAX_CHARS


def test_under_systemd_the_menu_gets_a_scope_of_its_own(tmp_path: Path):
    tool = tmp_path / "bin" / "systemd-run"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "bus").touch()
    settings = Settings(
        ikabot_path=tmp_path / "home" / ".ikabot", ikabot_command=("/opt/ikabot/bin/ikabot",)
    )
    env = {"PATH": str(tool.parent), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    assert menu_command(settings, env) == ["/opt/ikabot/bin/ikabot"]  # not a service
    argv = menu_command(settings, {**env, "INVOCATION_ID": "abc"})
    assert argv[:3] == [str(tool), "--user", "--scope"] and argv[-1] == "/opt/ikabot/bin/ikabot"


def test_ikabot_finds_the_data_telebot_reads(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TELEBOT_TOKEN", "1:secret")
    monkeypatch.setenv("IKABOT_PASSWORD", "pw")
    env = menu_env(Settings(ikabot_path=tmp_path / "h" / ".ikabot"))
    assert env["HOME"] == str(tmp_path / "h") and env["TERM"]
    assert "TELEBOT_TOKEN" not in env and "IKABOT_PASSWORD" not in env
    assert env["PATH"] == os.environ["PATH"]


def test_a_bad_ikabot_command_is_one_clear_line():
    import pytest

    from telebot.errors import ConfigError

    with pytest.raises(ConfigError, match="IKABOT_COMMAND"):
        Settings.from_env({"IKABOT_COMMAND": "'/opt/ikabot/bin/ikabot"})
    assert Settings.from_env({"IKABOT_COMMAND": "python3 '/a b/ikabot'"}).ikabot_command == (
        "python3",
        "/a b/ikabot",
    )
    assert Settings.from_env({"TELEBOT_ALLOW_MENU": "0"}).allow_menu is False


async def test_a_session_nobody_answers_ends_and_its_menu_with_it():
    import sys

    import psutil

    from telebot.menu.session import MenuSession

    shown = []

    async def publish(view):
        shown.append(view)

    async def no_tasks():
        return []

    async def started(*args):
        raise AssertionError("no task here")

    session = MenuSession(
        [sys.executable, "-c", "print('<b>&'); input(' >>  ')"],
        dict(os.environ),
        publish,
        no_tasks,
        started,
        idle_limit=0.5,
    )
    session.start()
    await asyncio.wait_for(session.ended.wait(), DEADLINE)
    assert session.end_reason == "nobody answered for 10 minutes"
    assert (
        not psutil.pid_exists(session.pid)
        or psutil.Process(session.pid).status() == psutil.STATUS_ZOMBIE
    )
    assert shown[-1].ended and "<b>&" in shown[-1].text  # the glue escapes it, once


async def test_a_reply_is_typed_as_one_line_of_printable_text():
    import sys

    from telebot.menu.session import MenuSession

    async def nothing(*args):
        return []

    code = "import sys; print(repr(input(' >>  ')), flush=True); input(' >>  ')"
    session = MenuSession([sys.executable, "-c", code], dict(os.environ), nothing, nothing, nothing)
    session.start()
    try:
        assert await session.next_settle(0, DEADLINE)
        session.answer("first\nsecond\x03\x1a", "text")
        assert await until(
            lambda: any("'first second'" in line for line in session.terminal.lines())
        )
    finally:
        await session.close("test over")


@pytest.mark.parametrize(
    ("reply", "typed"),
    [
        ("\x1b[A", ""),  # an arrow key: the whole CSI, not `[A`
        ("1\x1b[1;5C2", "12"),  # with parameters
        ("\x9b31mred", "red"),  # the 8-bit CSI
        ("\x1b]0;pwned title\x07ok", "ok"),  # an OSC title, ended by BEL
        ("\x1b]2;pwned\x1b\\ok", "ok"),  # … by ST
        ("ok\x1b]0;never ended", "ok"),  # … by the end of the reply
        ("\x1bP1$r\x1b\\z", "z"),  # a DCS string
        ("\x1bOAy", "y"),  # SS3 and the key it shifts
        ("\x1b(By\x1b", "y"),  # a charset designation; a lone ESC
        ("5\n6\x03", "5 6"),
    ],
)
def test_a_reply_loses_whole_control_sequences(reply: str, typed: str):
    from telebot.menu.session import one_line

    assert one_line(reply) == typed


async def test_an_arrow_key_and_a_title_never_reach_the_menu_in_pieces():
    """What the menu reads, printed back by it: `[A` of ESC [ A, and every character of an OSC
    title, are never read (issue 23, item 4)."""
    import sys

    from telebot.menu.session import MenuSession

    async def nothing(*args):
        return []

    code = "import sys\nfor _ in range(3): print('read', repr(input(' >>  ')), flush=True)\n"
    session = MenuSession([sys.executable, "-c", code], dict(os.environ), nothing, nothing, nothing)
    session.start()

    def read() -> list[str]:
        return [line.strip() for line in session.terminal.lines() if line.startswith("read ")]

    try:
        assert await session.next_settle(0, DEADLINE)
        for reply in ("\x1b[A", "\x1b]0;pwned title\x07ok", "2\x1b[B"):
            n = len(read())
            assert session.answer(reply, "text").typed
            assert await until(lambda n=n: len(read()) > n), session.terminal.lines()
        assert read() == ["read ''", "read 'ok'", "read '2'"]
        assert not any("[A" in line or "pwned" in line for line in session.terminal.lines())
    finally:
        await session.close("test over")


def test_the_menu_package_goes_into_the_wheel():
    """pyproject's `packages.find` takes regular packages only: telebot.menu needs its
    __init__.py, or an installed telebot cannot import /menu's code."""
    from setuptools import find_packages

    root = Path(__file__).resolve().parent.parent
    assert "telebot.menu" in find_packages(str(root), include=["telebot*"])


def test_telebots_log_at_debug_never_prints_the_updates_a_password_comes_in():
    """python-telegram-bot logs each getUpdates result at DEBUG (the owner's reply included):
    telebot's logging keeps that logger at INFO even when telebot's own is at DEBUG."""
    root, ptb = logging.getLogger(), logging.getLogger("telegram")
    saved = root.level, list(root.handlers), ptb.level
    try:
        logsafe.setup_logging(logging.DEBUG)
        assert root.isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("telegram.ext.ExtBot").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        ptb.setLevel(saved[2])


def test_no_ikabot_command_anywhere_is_said(tmp_path: Path, monkeypatch):
    """Neither IKABOT_COMMAND, nor `ikabot` beside telebot's Python, nor on PATH: None (the
    chat is told what to set)."""
    monkeypatch.setattr("sys.executable", str(tmp_path / "python3"))
    assert menu_command(Settings(ikabot_path=tmp_path / ".ikabot"), {"PATH": str(tmp_path)}) is None


async def test_a_token_typed_with_echo_on_is_never_recorded_and_the_replay_stops_there():
    """ikabot's Telegram set-up asks for the bot token with echo on: the answer is kept as a
    step without its text, and 🔁 Run again stops there for the owner to type it."""
    import sys

    from telebot.menu.recorded import SECRET
    from telebot.menu.replay import replay
    from telebot.menu.session import MenuSession

    async def nothing(*args):
        return []

    token = "123456789:" + "A" * 35
    code = "input(' token >>  '); input(' >>  ')"

    def session() -> MenuSession:
        return MenuSession(
            [sys.executable, "-c", code], dict(os.environ), nothing, nothing, nothing
        )

    first = session()
    first.start()
    try:
        assert await first.next_settle(0, DEADLINE)
        first.answer(token, "text")
        assert [s.kind for s in first.steps] == [SECRET]
        assert all(token not in s.answer for s in first.steps)
        steps = list(first.steps)
    finally:
        await first.close("test over")
    again = session()
    again.start()
    try:
        outcome = await replay(again, steps)
        assert not outcome.done and outcome.secret and outcome.step == 1
        assert "type it yourself" in outcome.explain(len(steps))
    finally:
        await again.close("test over")
