"""Stopping a task from Telegram (/kill, the 🛑 button), for real: ikabot task entries written
by ikabot's own code, real processes signalled, the bot through python-telegram-bot against the
loopback Bot API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest
from botharness import OWNER, Harness, fast_settings, running_bot
from conftest import ALICE, clean_env
from ikabotdata import IkabotDir
from util import DEADLINE, booted_ago, buttons, dead_pid, until

from telebot.bot import kill
from telebot.bot.hostlabel import marker, untagged
from telebot.demo.fakeapi import FakeBotAPI
from telebot.processes import liveness
from telebot.state import KillButton, StateDB

STRANGER = 666


@pytest.fixture
def pirate(ikabot_dir: IkabotDir, spawn):
    """Alice's autoPirate at mission 3 of 10, recorded by ikabot's own code."""
    p = spawn()
    ikabot_dir.add_pirate(ALICE, p.pid, done=3, total=10)
    return p


async def quiet(bot: Harness, polls: int = 5) -> None:
    """Let the bot read its updates a few more times (for asserting that nothing happens)."""
    n = len(bot.api.calls)
    await bot.wait(lambda: sum(c.method == "getUpdates" for c in bot.api.calls[n:]) >= polls)


async def press(
    bot: Harness, data: str, message: dict[str, Any], user_id: int = OWNER, chat_id: int = OWNER
) -> str:
    """Press a button; return the text of the bot's answer to that press (its toast)."""
    n = len(bot.api.calls)
    bot.api.add_callback(data, message["message_id"], chat_id=chat_id, user_id=user_id)
    assert await bot.wait(lambda: any(c.method == "answerCallbackQuery" for c in bot.api.calls[n:]))
    call = next(c for c in bot.api.calls[n:] if c.method == "answerCallbackQuery")
    return str(call.params.get("text", ""))


def message(api: FakeBotAPI, message_id: int, chat_id: int = OWNER) -> dict[str, Any]:
    return next(m for m in api.sent(chat_id) if m["message_id"] == message_id)


async def confirmation(bot: Harness, pid: int) -> dict[str, Any]:
    (reply,) = await bot.ask(f"/kill {pid}")
    assert set(buttons(reply)) == {"🛑 Stop it", "Cancel"}, reply["text"]
    return reply


def alive(p) -> bool:
    return p.poll() is None


async def test_owner_stops_a_task_in_two_taps(ikabot_dir, pirate, api, tmp_path):
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        (details,) = await bot.ask(f"/details {pirate.pid}")
        ask = buttons(details)[f"🛑 Stop autoPirate {pirate.pid}"]
        before = len(api.sent(OWNER))
        assert await press(bot, ask, details) == ""  # tap 1
        assert await bot.wait(lambda: len(api.sent(OWNER)) > before)
        confirm = api.sent(OWNER)[-1]
        assert confirm["text"].startswith(
            f"❓ Stop autoPirate {pirate.pid} · run 4 of 10 (3 done) · alice s59-en?"
        )
        assert alive(pirate)
        stop_it = buttons(confirm)["🛑 Stop it"]
        await press(bot, stop_it, confirm)  # tap 2
        assert await until(lambda: not alive(pirate))
        assert pirate.returncode == -signal.SIGTERM
        assert await bot.wait(
            lambda: message(api, confirm["message_id"])["text"].startswith(
                f"🛑 Stopped autoPirate {pirate.pid}"
            )
        )
        assert message(api, confirm["message_id"])["reply_markup"] is None
        assert await bot.wait(
            lambda: any(t.startswith("🛑 autoPirate stopped") for t in bot.texts())
        )
        # the same button again: spent
        assert "used already" in await press(bot, stop_it, confirm)
        await quiet(bot)
    alerts = [t for t in bot.texts() if t.startswith(("💀", "✅", "🛑 autoPirate"))]
    assert len(alerts) == 1 and str(pirate.pid) in alerts[0]
    assert "for User42 (42)" in message(api, confirm["message_id"])["text"]
    db = StateDB(tmp_path / "s")
    try:
        (row,) = db.tracking.tracked(open_only=False)
        assert row.end_kind == "stopped"
        assert db.control.stop_request(row.pid, row.start_ticks).who == "User42 (42)"
    finally:
        db.close()


async def test_sigkill_after_the_grace_time(ikabot_dir, spawn, api, tmp_path, monkeypatch):
    """A task that ignores SIGTERM gets SIGKILL once the grace time is over."""
    monkeypatch.setattr(kill, "GRACE", 0.3)
    stubborn = spawn(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(600)"
    )
    ikabot_dir.add_task(ALICE, stubborn.pid, "autoPirate", "Pirating for 4 more runs")
    # wait until the handler is installed: a SIGTERM before that would end it at once
    assert await until(
        lambda: psutil.Process(stubborn.pid).cmdline() and _ignores_term(stubborn.pid)
    )
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        confirm = await confirmation(bot, stubborn.pid)
        await press(bot, buttons(confirm)["🛑 Stop it"], confirm)
        assert await until(lambda: not alive(stubborn))
        assert stubborn.returncode == -signal.SIGKILL
        assert await bot.wait(
            lambda: "so it got SIGKILL" in message(api, confirm["message_id"])["text"]
        )
        assert await bot.wait(
            lambda: any(t.startswith("🛑 autoPirate stopped") for t in bot.texts())
        )


def _ignores_term(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as f:
        ignored = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
    return bool(ignored & (1 << (signal.SIGTERM - 1)))


async def test_refusals_leave_the_process_running(
    ikabot_dir, pirate, spawn, api, tmp_path, monkeypatch
):
    other = spawn()  # a process of ours that is no ikabot task
    reused = spawn(ikabot=False)  # another program, at a pid in an entry an hour old
    ikabot_dir.add_task(ALICE, reused.pid, "constructionList", date=time.time() - 3600)
    gone = dead_pid()
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        for pid in (other.pid, reused.pid, gone, os.getpid()):
            (reply,) = await bot.ask(f"/kill {pid}")
            assert reply["text"].startswith(f"No running ikabot task has pid {pid}")
            assert reply["reply_markup"] is None
        (reply,) = await bot.ask("/kill x")
        assert reply["text"].startswith("Usage: /kill <pid>")

        confirm = await confirmation(bot, pirate.pid)
        stop_it = buttons(confirm)["🛑 Stop it"]
        # a stranger's forged press (from their own chat) and the owner's button data
        assert (
            await press(bot, stop_it, confirm, user_id=STRANGER, chat_id=STRANGER)
            == "Sorry, this bot answers only its owner."
        )
        # a button of a made-up nonce
        forged = stop_it.rsplit(":", 1)[0] + ":AAAAAAAAAAAA"
        assert "used already" in await press(bot, forged, confirm)
        # cancel spends the button
        assert await press(bot, buttons(confirm)["Cancel"], confirm) == "Cancelled"
        assert await bot.wait(
            lambda: message(api, confirm["message_id"])["text"].startswith("Cancelled")
        )
        assert "used already" in await press(bot, stop_it, confirm)

        monkeypatch.setattr(kill, "NONCE_TTL", 0.0)  # every new button is expired at once
        expired = await confirmation(bot, pirate.pid)
        assert "expired" in await press(bot, buttons(expired)["🛑 Stop it"], expired)
        assert await bot.wait(lambda: "expired" in message(api, expired["message_id"])["text"])
        await quiet(bot)
    for p in (pirate, other, reused):
        assert alive(p)
    assert not any(t.startswith(("🛑", "💀")) for t in bot.texts())


async def test_a_press_after_the_pid_changed_hands_is_refused(ikabot_dir, pirate, api, tmp_path):
    """What a reused pid looks like to the check: the process behind the pid is not the one
    the button was made for (another start time). Nothing is signalled."""
    from telebot.bot.runtime import Runtime
    from telebot.config import Settings
    from telebot.ikabot.store import open_store

    settings = Settings(ikabot_path=ikabot_dir.path, state_dir=tmp_path / "s")
    state = StateDB(settings.state_dir)
    try:
        rt = Runtime(settings, open_store(settings), state, str(OWNER))
        started = (await rt.read())[0].started
        real = liveness.start_ticks(pirate.pid)
        assert real is not None
        button = KillButton("n", pirate.pid, real - 100, started, "autoPirate", "alice", 0, 0)
        result = await kill.begin_stop(rt, button, "User42 (42)")
        assert isinstance(result, str) and result.startswith("Not stopped")
        assert state.control.stop_request(pirate.pid, real - 100) is None
        assert alive(pirate)
        # the same button with the true identity does stop it
        button = KillButton("n", pirate.pid, real, started, "autoPirate", "alice", 0, 0)
        stopping = await kill.begin_stop(rt, button, "User42 (42)")
        assert isinstance(stopping, kill.Stopping)
        assert (await kill.finish_stop(stopping)).startswith("🛑 Stopped")
        assert not alive(pirate) and pirate.returncode == -signal.SIGTERM
    finally:
        state.close()


async def test_kill_off_and_the_list(ikabot_dir, pirate, api, tmp_path):
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", allow_kill=False)
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask(f"/kill {pirate.pid}")
        assert "TELEBOT_ALLOW_KILL=0" in reply["text"]
        (details,) = await bot.ask(f"/details {pirate.pid}")
        assert not any("Stop" in b for b in buttons(details))
        data = f"tb:kq:{marker(None)}:{pirate.pid}"
        assert "TELEBOT_ALLOW_KILL=0" in await press(bot, data, details)
    assert alive(pirate)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        (listing,) = await bot.ask("/kill")
        assert buttons(listing) == {
            f"🛑 autoPirate {pirate.pid}": f"tb:kq:{marker(None)}:{pirate.pid}"
        }
        (hello,) = await bot.ask("/help")
        assert "/kill" in hello["text"]
        assert "kill" in {c["command"] for c in api.commands()}
    assert alive(pirate)


def test_the_host_tag_is_only_a_first_line():
    assert untagged("🖥 pi\n💀 x died") == "💀 x died"
    assert untagged("💀 x died") == "💀 x died"


def test_after_a_reboot_kill_touches_only_the_task(ikabot_dir, spawn, api, tmp_path):
    """telebot as a process whose machine booted a minute ago (a time namespace): an entry
    two days old whose pid now belongs to another program, an undated entry at another
    program's pid, and an entry at telebot's own pid are not running, and /kill refuses them
    all (and pid 1); only the ikabot task is offered."""
    prefix = booted_ago(60)
    task, other, undated = spawn(), spawn(ikabot=False), spawn(ikabot=False)
    stale = time.time() - 2 * 86400
    ikabot_dir.add_pirate(ALICE, task.pid, done=3, total=10)
    ikabot_dir.add_task(ALICE, other.pid, "webServer", date=stale)
    ikabot_dir.add_task(ALICE, undated.pid, "constructionList", date=0)
    env = clean_env(
        tmp_path,
        IKABOT_PATH=str(ikabot_dir.path),
        TELEGRAM_API_BASE_URL=api.base_url,
        TELEBOT_POLL_SECONDS="0.05",
        TELEBOT_SCAN_SECONDS="0.2",
    )
    bot = subprocess.Popen(
        [*prefix, sys.executable, "-m", "telebot", "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ikabot_dir.add_task(ALICE, bot.pid, "autoPirate", date=0)  # telebot's own pid
        assert api.wait_for(
            lambda: any("telebot is watching" in m["text"] for m in api.sent(OWNER)), DEADLINE
        )

        def ask(text: str) -> dict[str, Any]:
            n = len(api.sent(OWNER))
            api.add_message(text, chat_id=OWNER, user_id=OWNER)
            assert api.wait_for(lambda: len(api.sent(OWNER)) > n, DEADLINE), text
            return api.sent(OWNER)[n]

        for pid in (other.pid, undated.pid, bot.pid, 1):
            reply = ask(f"/kill {pid}")
            assert reply["text"].startswith(f"No running ikabot task has pid {pid}"), reply
        assert set(buttons(ask("/kill"))) == {f"🛑 autoPirate {task.pid}"}
        assert "Stop it" in str(buttons(ask(f"/kill {task.pid}")))
        assert all(alive(p) for p in (task, other, undated, bot))
    finally:
        bot.terminate()
        _, err = bot.communicate(timeout=DEADLINE)
    assert bot.returncode == 0, err.decode()


async def test_the_kill_confirmation_reaches_telegram_escaped(ikabot_dir, spawn, api, tmp_path):
    """An action and a username holding `<b>` and `&` (ikabot's data can hold anything): the
    confirmation is checked as the loopback Bot API received it, which refuses what Telegram
    would refuse (an unclosed tag, a bare `&`), and shows ikabot's text as text."""
    from ikabotdata import Account

    nasty = Account("n@example.org", "a<b>&c", "59", "en")
    p = spawn()
    ikabot_dir.add_task(nasty, p.pid, "auto<b>Pirate&Co", "Pirating for 3 more runs")
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        reply = await confirmation(bot, p.pid)
    assert reply["text"].startswith(f"❓ Stop auto<b>Pirate&Co {p.pid} · ")
    assert "a<b>&c s59-en?" in reply["text"]
    assert alive(p)


async def test_a_non_owners_press_in_the_owners_private_chat_is_refused(
    ikabot_dir, pirate, api, tmp_path
):
    """In a private-chat set-up the chat check passes for any press that claims the owner's
    chat: the user check must refuse a press from anyone but the owner."""
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        confirm = await confirmation(bot, pirate.pid)
        stop_it = buttons(confirm)["🛑 Stop it"]
        assert await press(bot, stop_it, confirm, user_id=STRANGER) == kill.NOT_OWNER
        ask = f"tb:kq:{marker(None)}:{pirate.pid}"
        before = len(api.sent(OWNER))
        assert await press(bot, ask, confirm, user_id=STRANGER) == kill.NOT_OWNER
        await bot.settled()
        assert len(api.sent(OWNER)) == before + 1  # the /help only: no new confirmation
        assert alive(pirate)
        await press(bot, stop_it, confirm)  # the owner's own press still works
        assert await until(lambda: not alive(pirate))


OTHER_UID = 65534  # nobody


@pytest.mark.skipif(os.geteuid() != 0, reason="a process of another user needs root to start")
async def test_another_users_task_is_never_offered_nor_stopped(ikabot_dir, api, tmp_path):
    """An ikabot task entry whose process runs as another user (nobody): /kill refuses it,
    and a confirmation made for it (as if the process had changed hands) stops nothing."""
    import shutil

    from ikabotdata import exec_done

    from telebot.bot.runtime import Runtime
    from telebot.config import Settings
    from telebot.ikabot.store import open_store

    # a program nobody may run (the tests' Python may be in root's home), named `ikabot`
    sleep = shutil.which("sleep")
    assert sleep is not None
    theirs = exec_done(
        subprocess.Popen(
            ["ikabot", "600"],
            executable=sleep,
            stdin=subprocess.DEVNULL,
            cwd="/",
            user=OTHER_UID,
            group=OTHER_UID,
            extra_groups=[],
        )
    )
    try:
        assert psutil.Process(theirs.pid).uids().real == OTHER_UID
        assert liveness.is_ikabot(theirs.pid)  # ikabot's, by its command line: only the user
        ikabot_dir.add_pirate(ALICE, theirs.pid, done=3, total=10)
        async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
            (reply,) = await bot.ask(f"/kill {theirs.pid}")
            assert reply["text"] == (
                f"pid {theirs.pid} runs as another user; telebot stops only its own user's tasks."
            )
            assert reply["reply_markup"] is None
        settings = Settings(ikabot_path=ikabot_dir.path, state_dir=tmp_path / "s")
        state = StateDB(settings.state_dir)
        try:
            rt = Runtime(settings, open_store(settings), state, str(OWNER))
            task = next(t for t in await rt.read() if t.pid == theirs.pid)
            ticks = liveness.start_ticks(theirs.pid)
            assert ticks is not None and task.alive
            button = KillButton(
                "n", theirs.pid, ticks, task.started, "autoPirate", "alice", time.time() + 60, None
            )
            result = await kill.begin_stop(rt, button, "User42 (42)")
            assert isinstance(result, str) and result.startswith("Not stopped"), result
            assert state.control.stop_request(theirs.pid, ticks) is None
        finally:
            state.close()
        assert alive(theirs)
    finally:
        theirs.kill()
        theirs.wait()
