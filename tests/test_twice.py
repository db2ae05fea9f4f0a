"""A harmful action running twice on one account is warned once, with a stop button for each
copy (issue 18, item 5): real task processes, the running bot, the loopback Bot API."""

from __future__ import annotations

from typing import Any

from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE, BOB
from util import buttons


def warnings(api) -> list[dict[str, Any]]:
    return [m for m in api.sent(OWNER) if m["text"].startswith("⚠️")]


async def test_a_task_running_twice_is_warned_once_with_a_stop_button_each(
    ikabot_dir, spawn, api, tmp_path
):
    first, second = spawn(), spawn()
    ikabot_dir.add_task(ALICE, first.pid, "autoBarbarians", "Looting remaining resources")
    ikabot_dir.add_task(
        ALICE, second.pid, "autoBarbarians", "waiting for availability of (12) boats"
    )
    # normal in parallel: two autoPirates (one per city); one autoBarbarians on another account
    for _ in range(2):
        ikabot_dir.add_pirate(ALICE, spawn().pid, done=1, total=5)
    ikabot_dir.add_task(BOB, spawn().pid, "autoBarbarians")
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s")
    async with running_bot(s, api) as bot:
        assert await bot.wait(lambda: warnings(api))
        (warning,) = warnings(api)
        assert warning["text"].startswith(
            f"⚠️ autoBarbarians runs twice on alice s59-en (pids {first.pid} and "
            f"{second.pid}): both will attack"
        ), warning["text"]
        stop = buttons(warning)
        assert set(stop) == {
            f"🛑 Stop autoBarbarians {first.pid}",
            f"🛑 Stop autoBarbarians {second.pid}",
        }
        (status,) = await bot.ask("/status")
        assert status["text"].count("⚠️ runs twice") == 2
        # the button is the /kill flow's: a tap asks for the confirmation
        before = len(api.sent(OWNER))
        api.add_callback(
            stop[f"🛑 Stop autoBarbarians {second.pid}"],
            warning["message_id"],
            chat_id=OWNER,
            user_id=OWNER,
        )
        assert await bot.wait(
            lambda: any(
                m["text"].startswith(f"❓ Stop autoBarbarians {second.pid}")
                for m in api.sent(OWNER)[before:]
            )
        )
        await bot.settled()  # many scans went by
    async with running_bot(s, api) as bot:  # a restart does not tell it again
        await bot.ask("/status")
        await bot.settled()
    assert len(warnings(api)) == 1
    assert first.poll() is None and second.poll() is None  # nothing was stopped unasked


def test_which_actions_count_twice():
    """research counts only in its automatic mode (as ikabot 7.7.2 writes it); actions where
    parallel copies are normal never count; a gone copy does not count."""
    import time

    from telebot.tasks.doubled import doubles
    from telebot.tasks.model import AccountKey, Task

    key = AccountKey("a@b.c", "alice", "59", "en")

    def t(pid: int, action: str, status: str = "started", state: str = "running") -> Task:
        return Task(
            pid=pid,
            action=action,
            account=key,
            status=status,
            started=time.time() - pid,
            details={},
            progress=None,
            remaining=None,
            urls=[],
            alive=state == "running",
            state=state,
        )  # type: ignore[arg-type]

    auto = "Experiment done in Athens @2026-12-05_10-00-00"
    counted = "Experiment done in Athens @2026-12-05_10-00-00, left = 3 time (s)"
    summary = "Done: Athens, Sparta | Cooldown: Corinth @2026-12-05_10-00-00"
    assert [d.action for d in doubles([t(1, "research", auto), t(2, "research", summary)])] == [
        "research"
    ]
    assert doubles([t(1, "research", counted), t(2, "research", counted)]) == []
    assert (
        doubles(
            [
                t(1, "autoPirate"),
                t(2, "autoPirate"),
                t(3, "constructionList"),
                t(4, "constructionList"),
            ]
        )
        == []
    )
    assert doubles([t(1, "webServer"), t(2, "webServer", state="dead")]) == []
    (d,) = doubles([t(1, "trainArmy"), t(2, "trainArmy"), t(3, "trainArmy")])
    assert [x.pid for x in d.tasks] == [3, 2, 1] and d.harm == "both will train"
