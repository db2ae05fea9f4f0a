"""/menu under a storm (issue 23, "as an attacker would"): 50 opens in a row, and 1,000
button presses a second, forged and real. One session at a time, nothing left behind (no
process, no file descriptor), nothing typed twice, and the rest of telebot goes on: /status
is answered, a death is alerted, every press answered once.

The running bot against the loopback Bot API; the menus are real processes in real
terminals: a small menu program (IKABOT_COMMAND) for the opens, ikabot's own offline menu
for the presses."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from botharness import OWNER, fast_settings, running_bot
from ikabotdata import IkabotDir
from menuharness import no_leftovers, screen
from util import until

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
        yield fast_settings(ikabot_dir.path, api, tmp_path / "state",
                            ikabot_command=(sys.executable, str(script)))


async def test_fifty_opens_in_a_row_one_session_at_a_time_nothing_left(
        small_menu, api, tmp_path: Path):
    async with running_bot(small_menu, api) as bot:
        async def round_trip(i: int) -> None:
            n = len(api.sent(OWNER))
            api.add_message("/menu")
            assert await bot.wait(lambda: any("menu pid=" in m["text"]
                                              for m in api.sent(OWNER)[n:]), 20), i
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
            assert await bot.wait(lambda: sum(busy in m["text"]
                                              for m in api.sent(OWNER)[n:]) >= 25, 60)
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
        assert not psutil.pid_exists(pid) or \
            psutil.Process(pid).status() != psutil.STATUS_ZOMBIE, f"menu {pid} not reaped"
