"""/menu: ikabot 7.7.2's own menu (the offline ikabot: only the network stubbed), driven from
Telegram through the running bot and the loopback Bot API."""

from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE
from ikabotdata import IkabotDir
from menuharness import Player, no_leftovers, offline_command, open_gate, screen

from telebot.processes import liveness


@pytest.fixture
def menu_settings(ikabot_dir: IkabotDir, api, tmp_path: Path):
    def make(**kw):
        command = offline_command(ikabot_dir.home, tmp_path / "ikabot.log", tmp_path / "gates",
                                  ALICE, fortress=kw.pop("fortress", True))
        return fast_settings(ikabot_dir.path, api, tmp_path / "state", ikabot_command=command,
                             **kw)
    with no_leftovers(tmp_path):
        yield make


def started_pid(text: str) -> int:
    m = re.search(r"started from /menu: pid (\d+)", text)
    assert m, text
    return int(m.group(1))


async def test_an_autopirate_started_from_menu_outlives_the_session_and_telebot(
        menu_settings, api, tmp_path):
    s = menu_settings()
    async with running_bot(s, api) as bot:
        me = Player(bot)
        await bot.ask("/menu")
        await me.answers("Mail:", ALICE.email)
        await me.configures_autopirate(runs="1")
        pid = started_pid(await me.said("started from /menu"))
        ticks = liveness.read_stat(pid).start_ticks
        (status,) = await bot.ask("/status")
        assert str(pid) in status["text"] and "autoPirate" in status["text"]
        menu_pid = psutil.Process(pid).ppid()
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")
        assert not psutil.pid_exists(menu_pid) or psutil.Process(menu_pid).status() == "zombie"
        assert liveness.same_process(pid, ticks), "the task died with the session"
    assert liveness.same_process(pid, ticks), "the task died with telebot"
    async with running_bot(s, api) as bot:
        (status,) = await bot.ask("/status")
        assert str(pid) in status["text"]
        open_gate(tmp_path / "gates", f"{pid}-run-1")  # its one mission ends
        me = Player(bot)
        alert = await me.said(f"autoPirate finished")
        assert str(pid) in alert
