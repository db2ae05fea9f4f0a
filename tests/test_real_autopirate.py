"""ikabot's own autoPirate, run as ikabot runs it, watched by the real bot.

Only the game is stubbed (see `ikabotdata.real_autopirate`): the statuses, the process's end
and the log are ikabot 7.7's own. Each case: the end telebot tells, and nothing else.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE
from ikabotdata import IkabotDir, real_autopirate
from util import DEADLINE

from telebot.alerts.texts import MARKS
from telebot.demo.fakeapi import FakeBotAPI


def alerts(api: FakeBotAPI) -> list[str]:
    return [m["text"] for m in api.sent(OWNER) if m["text"].startswith(MARKS)]


@pytest.fixture
def pirate(ikabot_dir: IkabotDir, tmp_path: Path):
    started = []

    def start(runs: int, fortress: bool = True):
        p = real_autopirate(
            ikabot_dir.home, ALICE, tmp_path / "ikabot.log", tmp_path / "gates", runs, fortress
        )
        started.append(p)
        ikabot_dir.add_task(ALICE, p.pid, "autoPirate")  # as ikabot's menu records it
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


def gate(tmp_path: Path, name: str) -> None:
    (tmp_path / "gates" / name).touch()


async def status_shows(bot, text: str) -> bool:
    reply = {"text": ""}
    for _ in range(100):
        (reply,) = await bot.ask("/status")
        if text in reply["text"]:
            return True
    print(reply["text"])
    return False


async def test_a_completed_autopirate_is_finished(ikabot_dir, api, tmp_path, pirate):
    p = pirate(3)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", ikabot_log=tmp_path / "ikabot.log")
    async with running_bot(s, api) as bot:
        gate(tmp_path, "start")
        assert await status_shows(bot, "run 1 of 3 (0 done)")
        for k in (1, 2, 3):
            gate(tmp_path, f"run-{k}")
        assert await bot.wait(lambda: alerts(api))
        await bot.ask("/status")  # a later answer: no second alert came first
        (text,) = alerts(api)
    assert p.wait(DEADLINE) == 0  # ikabot's logout(): os._exit(0)
    assert text.startswith("✅ autoPirate finished") and "finished: 3 of 3 runs done" in text, text
    assert "probably" not in text


async def test_a_sigkilled_autopirate_is_killed_where_it_stopped(ikabot_dir, api, tmp_path, pirate):
    p = pirate(5)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", ikabot_log=tmp_path / "ikabot.log")
    async with running_bot(s, api) as bot:
        gate(tmp_path, "start")
        assert await status_shows(bot, "run 1 of 5 (0 done)")
        gate(tmp_path, "run-1")
        gate(tmp_path, "run-2")
        assert await status_shows(bot, "run 3 of 5 (2 done)")
        p.send_signal(signal.SIGKILL)  # ikabot's Kill tasks menu, the OOM killer, kill -9
        p.wait()
        assert await bot.wait(lambda: alerts(api))
        await bot.ask("/status")
        (text,) = alerts(api)
    assert text.startswith("💀 autoPirate killed (SIGKILL) during run 3 of 5 (2 done)"), text


async def test_an_autopirate_without_a_fortress_failed_with_its_cause(
    ikabot_dir, api, tmp_path, pirate
):
    p = pirate(5, fortress=False)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", ikabot_log=tmp_path / "ikabot.log")
    async with running_bot(s, api) as bot:
        gate(tmp_path, "start")
        assert await bot.wait(lambda: alerts(api))
        await bot.ask("/status")
        (text,) = alerts(api)
    assert p.wait(DEADLINE) == 0  # a raise ends in logout() too: the exit status says nothing
    assert text.startswith("❌ autoPirate failed"), text
    assert (
        "cause: Exception: No city with pirate fortress capable of executing selected mission"
    ) in text and "Traceback" not in text
