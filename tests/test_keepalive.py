"""Keep alive (♻️), for real: tasks started from ikabot 7.7.2's own menu (the offline ikabot:
only the network stubbed) through the running bot and the loopback Bot API, killed with real
signals, replayed through a fresh menu prompt by prompt."""

from __future__ import annotations

import logging
import os
import re
import signal
from pathlib import Path

import psutil
import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE
from ikabotdata import IkabotDir
from menuharness import Player, buttons, no_leftovers, offline_command, open_gate

from telebot.processes import liveness
from telebot.state import StateDB

PASSWORD = "Kept-Secret-Pw-7731"


@pytest.fixture
def kept_settings(ikabot_dir: IkabotDir, api, tmp_path: Path):
    def make(**kw):
        home = kw.pop("home", ikabot_dir.home)
        command = offline_command(home, tmp_path / "ikabot.log", tmp_path / "gates", ALICE)
        kw.setdefault("keepalive_backoff", 0.3)
        return fast_settings(ikabot_dir.path, api, tmp_path / "state", ikabot_command=command, **kw)

    with no_leftovers(tmp_path):
        yield make


def started_pid(text: str) -> int:
    m = re.search(r"started from /menu: pid (\d+)", text)
    assert m, text
    return int(m.group(1))


async def pirate_from_menu(bot, runs: str = "2") -> tuple[Player, int]:
    me = Player(bot)
    before = len(texts_with(bot.api, "started from /menu"))
    await bot.ask("/menu")
    await me.answers("Mail:", ALICE.email)
    await me.configures_autopirate(runs=runs)
    assert await bot.wait(lambda: len(texts_with(bot.api, "started from /menu")) > before, 30)
    pid = started_pid(texts_with(bot.api, "started from /menu")[-1])
    await bot.ask("/cancel", replies=0)
    await me.sees("⏹")
    return me, pid


def alert_message(api, pid: int) -> dict:
    """The end alert of `pid` as the chat has it now (its buttons)."""
    return next(m for m in reversed(api.sent(OWNER)) if f"· pid {pid} ·" in m["text"])


def texts_with(api, text: str) -> list[str]:
    return [m["text"] for m in api.sent(OWNER) if text in m["text"]]


async def restarted_as(bot, api, old: int) -> int:
    """The end alert of `old`, edited to the new pid."""
    pattern = re.compile(rf"pid {old}.*♻️ restarted as pid (\d+)", re.S)
    found: list[int] = []

    def edited() -> bool:
        found[:] = [
            int(m.group(1)) for t in texts_with(api, "restarted as pid") if (m := pattern.search(t))
        ]
        return bool(found)

    assert await bot.wait(edited, 60), "\n---\n".join(bot.texts())
    return found[-1]


async def status_of(bot, pid: int) -> str:
    (status,) = await bot.ask("/status")
    return status["text"]


async def test_a_kept_task_killed_comes_back_with_the_same_answers(kept_settings, api, tmp_path):
    async with running_bot(kept_settings(), api) as bot:
        me, old = await pirate_from_menu(bot, runs="2")
        (said,) = await bot.ask(f"/keepalive {old} on")
        assert "is kept alive" in said["text"]
        (listed,) = await bot.ask("/keepalive")
        assert str(old) in listed["text"] and f"♻️ off: autoPirate {old}" in buttons(listed)
        os.kill(old, signal.SIGKILL)
        alert = await me.said(f"· pid {old} ·")
        assert "killed" in alert and "♻️ restarting in 1 s" in alert, alert
        # kept already: the alert offers 🔁 alone, no ♻️ Keep alive
        assert list(buttons(alert_message(api, old))) == [f"🔁 Run again: autoPirate {old}"]
        new = await restarted_as(bot, api, old)
        assert new != old and psutil.pid_exists(new)
        assert await bot.wait(lambda: True)
        # the same answers: two runs, as the first was configured
        text = await status_of(bot, new)
        assert str(new) in text and "run 1 of 2" in text, text
        (details,) = await bot.ask(f"/details {new}")
        assert f"Restarted from pid {old}" in details["text"]
        assert "♻️ Stop keeping alive" in buttons(details)
        # the chain goes on: the new one is kept alive too, and the chain is in --json
        state = StateDB.open_readonly(tmp_path / "state")
        try:
            kept = state.keepalive.get(new, liveness.read_stat(new).start_ticks)
            assert kept.want and kept.of_pid == old
        finally:
            state.close()
        (said,) = await bot.ask(f"/keepalive {new} off")
        assert "no longer kept alive" in said["text"]
        os.kill(new, signal.SIGKILL)
        await me.said(f"· pid {new} ·")
        await bot.settled()
        # no longer kept: its alert offers ♻️ Keep alive beside 🔁 (the restart's own answers)
        assert list(buttons(alert_message(api, new))) == [
            f"🔁 Run again: autoPirate {new}",
            "♻️ Keep alive",
        ]
        assert not texts_with(api, "restarting in") or all(
            str(new) not in t for t in texts_with(api, "restarting in")
        )


async def test_finished_and_stopped_tasks_stay_down(kept_settings, api, tmp_path):
    async with running_bot(kept_settings(keepalive=frozenset({"autoPirate"})), api) as bot:
        me, done = await pirate_from_menu(bot, runs="1")
        open_gate(tmp_path / "gates", f"{done}-run-1")
        alert = await me.said("autoPirate finished")
        _, stopped = await pirate_from_menu(bot, runs="2")
        replies = await bot.ask(f"/kill {stopped}")
        confirm = next((m for m in replies if "🛑 Stop it" in buttons(m)), None)
        assert confirm, [(m["text"], buttons(m)) for m in replies]
        me.presses("🛑 Stop it", confirm)
        await me.said("autoPirate stopped")
        await bot.settled()
        assert "♻️" not in alert
        assert not texts_with(api, "restarting in"), texts_with(api, "♻️")
        assert not texts_with(api, "restarted as pid")


async def test_gives_up_after_the_limit_in_an_hour(kept_settings, api, tmp_path):
    """TELEBOT_KEEPALIVE_MAX=1: the first death restarts, the second gives up."""
    async with running_bot(
        kept_settings(keepalive=frozenset({"all"}), keepalive_max=1), api
    ) as bot:
        me, old = await pirate_from_menu(bot, runs="2")
        os.kill(old, signal.SIGKILL)
        new = await restarted_as(bot, api, old)
        os.kill(new, signal.SIGKILL)
        alert = await me.said(f"· pid {new} ·")
        assert "♻️ gave up: restarted 1 time within an hour (TELEBOT_KEEPALIVE_MAX=1)" in alert, (
            alert
        )


def forget_the_login(ikabot_dir: IkabotDir) -> None:
    """ikabot's saved session of the account is gone (cookies expired, the file deleted): its
    menu asks the password after the e-mail (`Session.__login`: no user file for the mail)."""
    for f in (ikabot_dir.path / "users").glob("*"):
        if ALICE.email in f.name or ALICE.email in f.read_text(errors="replace"):
            f.unlink()


async def killed_and_forgotten(bot, me: Player, pid: int, ikabot_dir: IkabotDir) -> None:
    """SIGKILL, the alert says a restart is coming; before it, the login is forgotten."""
    os.kill(pid, signal.SIGKILL)
    alert = await me.said(f"· pid {pid} ·")
    assert "♻️ restarting in 5 s" in alert, alert
    forget_the_login(ikabot_dir)


async def test_the_login_types_the_password_only_at_ikabots_prompt(
    kept_settings, api, tmp_path, ikabot_dir
):
    """TELEBOT_KEEPALIVE_LOGIN=1 and no saved session (ikabot asks the password): telebot
    types IKABOT_PASSWORD at the echo-off prompt; it is nowhere else: not in a command line
    or the environment of ikabot's processes, not in a message or a Bot API call, not in a
    file under the test's directory (telebot's database and its -wal, logs, ikabot's data)."""
    s = kept_settings(keepalive_login=True, password=PASSWORD, keepalive_backoff=5.0)
    async with running_bot(s, api) as bot:
        me, old = await pirate_from_menu(bot, runs="2")
        await bot.ask(f"/keepalive {old} on")
        await killed_and_forgotten(bot, me, old, ikabot_dir)
        new = await restarted_as(bot, api, old)
        mine = [
            p
            for p in psutil.process_iter(["cmdline", "environ"])
            if any(str(tmp_path) in part for part in (p.info["cmdline"] or []))
        ]
        assert any(p.pid == new for p in mine)
        for p in mine:
            assert PASSWORD not in " ".join(p.info["cmdline"] or [])
            assert PASSWORD not in str(p.info["environ"] or {})
        assert not texts_with(api, PASSWORD)
        assert all(PASSWORD not in str(c.params) for c in api.calls)
        assert not [m for m in api.sent(OWNER) if "asks the password" in m["text"]]
        files = [f for f in tmp_path.rglob("*") if f.is_file() and "gates" not in f.parts]
        assert any(f.name.endswith("-wal") for f in files), files
        for f in files:
            assert PASSWORD.encode() not in f.read_bytes(), f
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert PASSWORD.encode() not in f.read_bytes(), f


async def test_without_the_login_the_owner_is_asked_on_the_lock_screen(
    kept_settings, api, tmp_path, ikabot_dir
):
    async with running_bot(kept_settings(keepalive_backoff=5.0), api) as bot:
        me, old = await pirate_from_menu(bot, runs="2")
        await bot.ask(f"/keepalive {old} on")
        await killed_and_forgotten(bot, me, old, ikabot_dir)
        await me.said("ikabot asks the password", timeout=30)
        await me.sees("🔒")
        message_id = me.types("owner-typed-pw")
        assert await bot.wait(lambda: (OWNER, message_id) in api.deleted())
        new = await restarted_as(bot, api, old)
        assert psutil.pid_exists(new)


async def test_a_restart_waits_while_a_menu_session_is_open(
    kept_settings, api, tmp_path, caplog, monkeypatch
):
    """The owner is in /menu when a kept task dies: the restart waits (the keeper looks
    again every MENU_WAIT, shortened here), and goes ahead once the session is closed."""
    from telebot.keepalive import keeper

    monkeypatch.setattr(keeper, "MENU_WAIT", 0.5)
    caplog.set_level(logging.INFO, logger="telebot.keepalive.keeper")
    async with running_bot(kept_settings(), api) as bot:
        me, old = await pirate_from_menu(bot, runs="2")
        await bot.ask(f"/keepalive {old} on")
        await bot.ask("/menu", replies=0)
        await me.sees("Mail:")
        os.kill(old, signal.SIGKILL)
        assert "♻️ restarting in 1 s" in await me.said(f"· pid {old} ·")

        def waits() -> int:
            return sum(
                f"restart of pid {old} waits for the open /menu" in r.getMessage()
                for r in caplog.records
            )

        assert await bot.wait(lambda: waits() >= 2, 30)  # it looked twice, and waited
        assert not texts_with(api, "restarted as pid")
        assert "Mail:" in (await me.sees("Mail:"))["text"]  # the owner's screen, untouched
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")
        new = await restarted_as(bot, api, old)
        assert new != old and psutil.pid_exists(new)
