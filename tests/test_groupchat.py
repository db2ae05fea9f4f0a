"""Several machines, one group chat: two telebots (two bots, two tokens) on two ikabot data
sets with real task processes, talking in one group through the loopback Bot API. Machine A
polls its dedicated token (python-telegram-bot's own CommandHandler matching); machine B reads
ikabot's token (telebot's shared-token poller's matching)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from botharness import Harness, fast_settings, running_bot
from conftest import ALICE, BOB
from ikabotdata import IkabotDir
from test_control import buttons, until

from telebot.demo.fakeapi import FakeBotAPI

TOKEN_A, BOT_A = "111:ALPHA", "alpha_telebot"
TOKEN_B, BOT_B = "222:BETA", "beta_telebot"
GROUP = -100123
OWNER, MEMBER = 42, 7


@pytest.fixture
def api():
    with FakeBotAPI(token=TOKEN_A, bot_username=BOT_A) as server:
        server.add_bot(TOKEN_B, BOT_B)
        yield server


@contextlib.asynccontextmanager
async def two_machines(api: FakeBotAPI, tmp_path: Path, spawn):
    a_dir, b_dir = IkabotDir(tmp_path / "a"), IkabotDir(tmp_path / "b")
    b_dir.set_telegram(TOKEN_B, str(GROUP), BOB)  # B runs on ikabot's own (shared) token
    a_task, b_task = spawn(), spawn()
    a_dir.add_pirate(ALICE, a_task.pid, done=2, total=10)
    b_dir.add_pirate(BOB, b_task.pid, done=7, total=10)
    a = fast_settings(
        a_dir.path,
        api,
        tmp_path / "sa",
        token=TOKEN_A,
        chat_id=str(GROUP),
        host_label="alpha",
        owner_ids=frozenset({OWNER}),
    )
    b = fast_settings(
        b_dir.path, api, tmp_path / "sb", host_label="beta", owner_ids=frozenset({OWNER})
    )
    async with running_bot(a, api) as bot_a, running_bot(b, api) as bot_b:
        yield bot_a, bot_b, a_task, b_task


def said(api: FakeBotAPI, bot: str, since: int = 0) -> list[dict[str, Any]]:
    return [m for m in api.sent(GROUP)[since:] if m["bot"] == bot]


async def barrier(bot: Harness, user: int = OWNER) -> int:
    """Both bots handle one person's updates in a group in order: once each answered a later
    /start of `user`, each has handled everything `user` sent before it. Returns how many
    group messages there were before the answers. The owner's by default: never limited."""
    n = len(bot.api.sent(GROUP))
    bot.api.add_message("/start", chat_id=GROUP, user_id=user, chat_type="supergroup")
    assert await bot.wait(
        lambda: (
            {
                m["bot"]
                for m in said(bot.api, BOT_A, n) + said(bot.api, BOT_B, n)
                if "telebot</b>" in m["html"]
            }
            == {BOT_A, BOT_B}
        )
    )
    return n


async def test_two_machines_share_one_group(api, tmp_path, spawn):
    async with two_machines(api, tmp_path, spawn) as (a, _b, a_task, b_task):
        # each says hello under its own name
        assert said(api, BOT_A)[0]["text"].startswith("🖥 alpha\n👀 telebot is watching 1 task")
        assert said(api, BOT_B)[0]["text"].startswith("🖥 beta\n👀 telebot is watching 1 task")

        # a bare /status, from anyone in the group: each machine answers with its own part
        n = len(api.sent(GROUP))
        api.add_message("/status", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
        assert await a.wait(lambda: said(api, BOT_A, n) and said(api, BOT_B, n))
        (sa,), (sb,) = said(api, BOT_A, n), said(api, BOT_B, n)
        assert (
            sa["text"].startswith("🖥 alpha\nikabot tasks") and "run 3 of 10 (2 done)" in sa["text"]
        )
        assert ALICE.email not in sa["text"]  # a group's members need not see the login
        assert "👤 alice" in sa["text"] and "bob" not in sa["text"]
        assert (
            sb["text"].startswith("🖥 beta\nikabot tasks") and "run 8 of 10 (7 done)" in sb["text"]
        )
        assert "👤 bob" in sb["text"] and "alice" not in sb["text"]

        # /status@<bot>: that one only, in either way of reading updates
        for name, other in ((BOT_B, BOT_A), (BOT_A, BOT_B)):
            n = len(api.sent(GROUP))
            api.add_message(
                f"/status@{name}", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup"
            )
            assert await a.wait(lambda name=name, n=n: said(api, name, n))
            end = await barrier(a, MEMBER)
            assert [m for m in api.sent(GROUP)[n:end] if m["bot"] == other] == []
            assert len([m for m in api.sent(GROUP)[n:end] if m["bot"] == name]) == 1

        # /kill@A: A's confirmation; its button is A's alone
        n = len(api.sent(GROUP))
        api.add_message(
            f"/kill@{BOT_A} {a_task.pid}", chat_id=GROUP, user_id=OWNER, chat_type="supergroup"
        )
        assert await a.wait(lambda: said(api, BOT_A, n))
        (confirm,) = said(api, BOT_A, n)
        assert confirm["text"].startswith(f"🖥 alpha\n❓ Stop autoPirate {a_task.pid}")
        stop_it = buttons(confirm)["🛑 Stop it"]

        # B sees the very same press (as it would on a shared bot token): not its button
        calls = len(api.calls)
        api.add_update(
            {
                "callback_query": {
                    "id": "x1",
                    "from": {"id": OWNER, "is_bot": False, "first_name": "Owner"},
                    "message": {
                        "message_id": confirm["message_id"],
                        "date": int(time.time()),
                        "chat": {"id": GROUP, "type": "supergroup", "title": "g"},
                        "text": confirm["text"],
                    },
                    "chat_instance": "1",
                    "data": stop_it,
                }
            },
            TOKEN_B,
        )
        await barrier(a)
        assert not [
            c
            for c in api.calls[calls:]
            if c.bot == BOT_B and c.method in ("answerCallbackQuery", "editMessageText")
        ]
        assert a_task.poll() is None and b_task.poll() is None

        # a group member who is not an owner presses it: refused, the button stays good
        calls = len(api.calls)
        api.add_callback(stop_it, confirm["message_id"], chat_id=GROUP, user_id=MEMBER)
        assert await a.wait(
            lambda: any(c.method == "answerCallbackQuery" for c in api.calls[calls:])
        )
        answer = next(c for c in api.calls[calls:] if c.method == "answerCallbackQuery")
        assert answer.bot == BOT_A and "Only an owner" in answer.params["text"]
        assert a_task.poll() is None

        # the owner presses it: A stops its task, B's keeps running
        api.add_callback(stop_it, confirm["message_id"], chat_id=GROUP, user_id=OWNER)
        assert await until(lambda: a_task.poll() is not None)
        assert await a.wait(
            lambda: any(
                m["text"].startswith("🖥 alpha\n🛑 autoPirate stopped") for m in said(api, BOT_A)
            )
        )
        assert b_task.poll() is None

        # an end on B is told under B's name
        b_task.kill()
        b_task.wait()
        assert await a.wait(
            lambda: any(
                m["text"].startswith("🖥 beta\n💀 autoPirate killed (SIGKILL)")
                for m in said(api, BOT_B)
            )
        )
        await barrier(a)
    texts = [m["text"] for m in api.sent(GROUP)]
    assert all(t.startswith(("🖥 alpha\n", "🖥 beta\n")) for t in texts)
    assert not any(t.startswith("🖥 alpha\n💀") for t in texts)
    assert sum(t.split("\n")[1].startswith("🛑 autoPirate stopped") for t in texts) == 1


async def test_a_death_on_each_machine_is_labelled(api, tmp_path, spawn):
    async with two_machines(api, tmp_path, spawn) as (a, _b, a_task, b_task):
        for p in (a_task, b_task):
            p.kill()
            p.wait()
        assert await a.wait(
            lambda: (
                {m["bot"] for m in api.sent(GROUP) if "💀 autoPirate killed" in m["text"]}
                == {BOT_A, BOT_B}
            )
        )
    died = {m["bot"]: m["text"] for m in api.sent(GROUP) if "💀" in m["text"]}
    killed = "💀 autoPirate killed (SIGKILL) during run"
    assert died[BOT_A].startswith(f"🖥 alpha\n{killed} 3 of 10 (2 done)")
    assert died[BOT_B].startswith(f"🖥 beta\n{killed} 8 of 10 (7 done)")


async def test_group_label_defaults_to_the_host_name(tmp_path, spawn):
    """In a group with no TELEBOT_HOST_LABEL the host name heads every message."""
    import socket

    with FakeBotAPI(token=TOKEN_A, bot_username=BOT_A) as api:
        d = IkabotDir(tmp_path / "h")
        s = fast_settings(d.path, api, tmp_path / "s", token=TOKEN_A, chat_id=str(GROUP))
        async with running_bot(s, api):
            await asyncio.to_thread(api.wait_for, lambda: api.sent(GROUP))
        host = socket.gethostname().split(".")[0]
        assert api.sent(GROUP)[0]["text"].startswith(f"🖥 {host[:24]}\n")


def test_settings_for_several_machines():
    from telebot.config import Settings
    from telebot.errors import ConfigError

    s = Settings.from_env(
        {
            "TELEBOT_HOST_LABEL": "  pi   kitchen ",
            "TELEBOT_ALLOW_KILL": "0",
            "TELEBOT_OWNER_IDS": "42, 7",
        }
    )
    assert (s.host_label, s.allow_kill, s.owner_ids) == ("pi kitchen", False, {42, 7})
    assert Settings.from_env({}).allow_kill is True and Settings.from_env({}).host_label is None
    for env, word in (
        ({"TELEBOT_ALLOW_KILL": "maybe"}, "TELEBOT_ALLOW_KILL"),
        ({"TELEBOT_HOST_LABEL": "x" * 25}, "TELEBOT_HOST_LABEL"),
        ({"TELEBOT_OWNER_IDS": "alice"}, "TELEBOT_OWNER_IDS"),
    ):
        with pytest.raises(ConfigError, match=word):
            Settings.from_env(env)


async def test_in_a_group_only_owner_ids_change_anything(tmp_path, spawn):
    """Everyone in the group reads /status; only TELEBOT_OWNER_IDS mute, switch or report."""
    with FakeBotAPI(token=TOKEN_A, bot_username=BOT_A) as api:
        d = IkabotDir(tmp_path / "h")
        s = fast_settings(
            d.path,
            api,
            tmp_path / "s",
            token=TOKEN_A,
            chat_id=str(GROUP),
            host_label="alpha",
            owner_ids=frozenset({OWNER}),
        )
        group = {"chat_id": GROUP, "chat_type": "supergroup"}
        async with running_bot(s, api) as bot:
            (reply,) = await bot.ask("/status", user_id=MEMBER, **group)
            assert "No ikabot tasks" in reply["text"] or "ikabot" in reply["text"]
            for command in ("/mute 30", "/report 5"):
                (reply,) = await bot.ask(command, user_id=MEMBER, **group)
                assert "Only an owner can change this" in reply["text"], command
            (reply,) = await bot.ask("/alerts", user_id=MEMBER, **group)
            assert "muted" not in reply["text"] and "✅ finished" in reply["text"]
            api.add_callback("tb:a:finished", reply["message_id"], chat_id=GROUP, user_id=MEMBER)
            assert await bot.wait(
                lambda: any(
                    c.method == "answerCallbackQuery"
                    and "Only an owner" in c.params.get("text", "")
                    for c in api.calls
                )
            )
            (reply,) = await bot.ask("/mute 30", user_id=OWNER, **group)
            assert "held for 30 minutes" in reply["text"]
            (reply,) = await bot.ask("/alerts", user_id=MEMBER, **group)
            assert "muted for" in reply["text"] and "✅ finished" in reply["text"]


async def test_a_members_flood_is_limited_and_never_holds_up_the_owner_or_an_alert(
    tmp_path, spawn, caplog
):
    """30 /status from one member: MEMBER_ANSWERS_PER_MINUTE answers and one short notice;
    the owner is never limited, and a death alert still goes out."""
    from telebot.bot.gates import TOO_MANY
    from telebot.bot.hostlabel import untagged
    from telebot.bot.ordering import MEMBER_ANSWERS_PER_MINUTE

    with FakeBotAPI(token=TOKEN_A, bot_username=BOT_A) as api:
        d = IkabotDir(tmp_path / "h")
        task = spawn()
        d.add_pirate(ALICE, task.pid, done=2, total=10)
        s = fast_settings(
            d.path,
            api,
            tmp_path / "s",
            token=TOKEN_A,
            chat_id=str(GROUP),
            owner_ids=frozenset({OWNER}),
        )
        group = {"chat_id": GROUP, "chat_type": "supergroup"}
        caplog.set_level(logging.INFO)
        async with running_bot(s, api) as bot:
            n = len(api.sent(GROUP))
            for _ in range(30):
                api.add_message("/status", user_id=MEMBER, **group)
            helps = MEMBER_ANSWERS_PER_MINUTE + 2  # owners: never limited
            for _ in range(helps):
                api.add_message("/help", user_id=OWNER, **group)

            def texts() -> list[str]:
                return [untagged(m["text"]) for m in api.sent(GROUP)[n:]]

            assert await bot.wait(lambda: sum("/status" in t for t in texts()) == helps)
            dropped = 30 - MEMBER_ANSWERS_PER_MINUTE
            assert await until(
                lambda: caplog.text.count("skipped a command of group member") == dropped
            )  # every /status of the member handled
            task.kill()
            assert await bot.wait(
                lambda: any(t.startswith("💀 autoPirate killed") for t in texts())
            )
            said = texts()
            assert sum(t.startswith("ikabot tasks") for t in said) == MEMBER_ANSWERS_PER_MINUTE
            assert said.count(TOO_MANY) == 1
