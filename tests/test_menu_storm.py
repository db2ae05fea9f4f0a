"""/menu under a storm (issue 23, "as an attacker would"): 50 opens in a row, and 1,000
button presses a second, forged and real. One session at a time, nothing left behind (no
process, no file descriptor), nothing typed twice, and the rest of telebot goes on: /status
is answered, a death is alerted, every press answered once.

The running bot against the loopback Bot API; the menus are real processes in real
terminals: a small menu program (IKABOT_COMMAND) for the opens, ikabot's own offline menu
for the presses."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from botharness import ALERT_MARKS, OWNER, fast_settings, running_bot
from conftest import ALICE
from ikabotdata import IkabotDir
from menuharness import (
    SCREEN_HEADS,
    Player,
    buttons,
    no_leftovers,
    offline_command,
    screen,
)
from util import until

from telebot.bot.hostlabel import untagged

MENU = r"""
import os, sys
print("\x1b[2J\x1b[Hmenu pid=%d\n(1) One\n(0) Exit" % os.getpid(), flush=True)
while True:
    line = sys.stdin.readline()
    if not line:
        break
    print("typed " + line.strip(), flush=True)
"""


def menus(marker: Path) -> list[psutil.Process]:
    """The menu processes of this test that are alive (not zombies: a zombie is a menu
    telebot did not reap)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if any(str(marker) in part for part in p.info["cmdline"] or []):
            found.append(p)
    return found


def fds() -> tuple[set[str], int]:
    """This process's open file descriptors other than sockets (each with what it points
    at: a terminal, a pidfd, a pipe, a file), and the number of sockets (HTTP connections of
    the bot and of the in-process Bot API come and go with keep-alive)."""
    out, sockets = set(), 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the descriptor listdir itself used
        if target.startswith("socket:"):
            sockets += 1
        else:
            out.add(f"{fd} -> {target}")
    return out, sockets


@pytest.fixture
def small_menu(ikabot_dir: IkabotDir, api, tmp_path: Path):
    script = tmp_path / "menu.py"
    script.write_text(MENU)
    with no_leftovers(tmp_path):
        yield fast_settings(
            ikabot_dir.path, api, tmp_path / "state", ikabot_command=(sys.executable, str(script))
        )


async def test_fifty_opens_in_a_row_one_session_at_a_time_nothing_left(
    small_menu, api, tmp_path: Path
):
    async with running_bot(small_menu, api) as bot:

        async def round_trip(i: int) -> None:
            n = len(api.sent(OWNER))
            api.add_message("/menu")
            assert await bot.wait(
                lambda: any("menu pid=" in m["text"] for m in api.sent(OWNER)[n:]), 20
            ), i
            api.add_message("/cancel")
            assert await bot.wait(lambda: "⏹" in screen(api)["text"], 20), i
            assert await until(lambda: not menus(tmp_path), 20), i

        await round_trip(-1)  # the first session loads what every later one shares
        await bot.settled()  # (and the harness's own look at telebot's state)
        before = fds()
        seen: set[int] = set()
        most = 0
        stop = threading.Event()

        def watch() -> None:  # at most one menu at any moment
            nonlocal most
            while not stop.is_set():
                alive = menus(tmp_path)
                seen.update(p.pid for p in alive)
                most = max(most, len(alive))
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            for i in range(25):  # one at a time, each seen through
                await round_trip(i)
            # and 25 more as fast as they can be sent: /menu twice (the second: busy),
            # then /cancel, without waiting for anything
            n = len(api.sent(OWNER))
            for _ in range(25):
                api.add_message("/menu")
                api.add_message("/menu")
                api.add_message("/cancel")
            busy = "A /menu session is open already"
            assert await bot.wait(
                lambda: sum(busy in m["text"] for m in api.sent(OWNER)[n:]) >= 25, 60
            )
            await bot.settled()
            assert await until(lambda: not menus(tmp_path), 20)
        finally:
            stop.set()
            watcher.join()
        assert most == 1, f"{most} menus at once"
        assert len(seen) >= 26  # the watcher saw them come and go
        after = fds()
        assert after[0] - before[0] == set(), f"left open: {sorted(after[0] - before[0])}"
        assert after[1] <= before[1] + 8, f"sockets: {before[1]} before, {after[1]} after"
    for pid in seen:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() != psutil.STATUS_ZOMBIE, (
            f"menu {pid} not reaped"
        )


@pytest.fixture
def menu_settings(ikabot_dir: IkabotDir, api, tmp_path: Path):
    command = offline_command(ikabot_dir.home, tmp_path / "ikabot.log", tmp_path / "gates", ALICE)
    with no_leftovers(tmp_path):
        yield fast_settings(ikabot_dir.path, api, tmp_path / "state", ikabot_command=command)


PRESSES = 1000


async def test_a_thousand_presses_at_once_act_once_and_hold_nothing_up(
    menu_settings, api, ikabot_dir: IkabotDir, spawn, tmp_path: Path
):
    """ikabot's main menu on the screen; then in one moment 1,000 presses: the real
    "(17) Auto-Pirate" 500 times, and 500 forged (another session's key, a choice not on
    the screen, ⏎ with echo on, data no telebot makes). Meanwhile a task dies and the owner
    asks /status. "(17)" is typed once; every press is answered once; the death is alerted
    and /status answered while the presses are still being worked through."""
    victim = spawn()
    ikabot_dir.add_task(ALICE, victim.pid, "autoPirate", "Pirating for 3 more runs")
    async with running_bot(menu_settings, api) as bot:
        me = Player(bot)
        await bot.ask("/menu")
        await me.answers("Mail:", ALICE.email)
        main = await me.sees("(17) Auto-Pirate")
        keys = buttons(main)
        real = keys["(17) Auto-Pirate"]
        token = real.split(":")[2].split(".")[0].split("-")[0]
        forged = [
            f"tb:m:{token[::-1]}.17",
            real.rsplit(".", 1)[0] + ".999",
            real.rsplit(".", 1)[0] + ".e",
            "tb:m:" + "9" * 58,
            "tb:zz:1",
            "junk",
        ]
        presses = [real if i % 2 == 0 else forged[i // 2 % len(forged)] for i in range(PRESSES)]
        # telebot's to answer: its own prefix (the rest is ikabot's, on the shared token)
        ours = sum(d.startswith("tb:") for d in presses)
        answered_before = sum(c.method == "answerCallbackQuery" for c in api.calls)
        start = time.monotonic()
        for data in presses:
            api.add_callback(data, main["message_id"])
        # the death comes while the presses are being worked through
        assert await bot.wait(
            lambda: (
                sum(c.method == "answerCallbackQuery" for c in api.calls) - answered_before >= 200
            ),
            60,
        )
        taken = time.monotonic() - start
        victim.send_signal(signal.SIGKILL)
        killed, killed_at = time.monotonic(), time.time()
        n = len(api.sent(OWNER))
        api.add_message("/status")

        def alerted() -> bool:
            return any(str(victim.pid) in t and "killed" in t for t in bot.texts())

        assert await bot.wait(alerted, 30), "no alert while the presses were handled"
        alert_after = time.monotonic() - killed
        assert await bot.wait(
            lambda: any(  # /status's answer: no alert, no screen
                not untagged(m["text"]).startswith((*ALERT_MARKS, *SCREEN_HEADS))
                for m in api.sent(OWNER)[n:]
            ),
            60,
        ), "/status unanswered"
        status_after = time.monotonic() - killed
        pending = ours - (
            sum(c.method == "answerCallbackQuery" for c in api.calls) - answered_before
        )

        def all_answered() -> bool:
            return (
                sum(c.method == "answerCallbackQuery" for c in api.calls) - answered_before >= ours
            )

        assert await bot.wait(all_answered, 120), "presses left unanswered"
        took = time.monotonic() - start
        await bot.settled()
        answers = [c for c in api.calls if c.method == "answerCallbackQuery"]
        assert len(answers) - answered_before == ours  # each once, none twice
        assert not [c for c in answers if c.status != 200], "an answer Telegram refused"
        # the alert overtook the presses still queued in the owner's chat (its own lane;
        # it waited for none of them)
        alert_at = next(
            c.time
            for c in api.calls
            if c.method == "sendMessage"
            and str(victim.pid) in str(c.params.get("text"))
            and "killed" in str(c.params.get("text"))
        )
        overtaken = [c for c in answers if killed_at < c.time < alert_at]
        assert len(overtaken) < 100 and alert_at < answers[-1].time, (
            f"the alert waited for {len(overtaken)} presses"
        )
        # "(17)" was typed once: ikabot asks its first autoPirate question, unanswered
        # (a second "17" would have answered it, and ikabot would ask "(y/N)")
        shown = await me.sees("How many pirate missions")
        assert "(y/N)" not in shown["text"], shown["text"]
        print(
            f"{PRESSES} presses taken in {taken:.1f} s, answered in {took:.1f} s; the "
            f"alert {alert_after:.2f} s after the death ({pending} presses still queued), "
            f"/status after {status_after:.2f} s"
        )
