"""Forum topics (TELEBOT_TOPIC_ID): two telebots in one forum supergroup, a topic each, on the
strict loopback Bot API (a send into a topic that does not exist is refused there as Telegram
refuses it). Everything a telebot writes by itself goes to its topic; an answer goes to the
topic its command came from, General included."""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path
from typing import Any

import pytest
from botharness import Harness, fast_settings, running_bot
from conftest import ALICE, BOB
from ikabotdata import IkabotDir
from test_control import buttons, until

from telebot.config import Settings
from telebot.demo.fakeapi import FakeBotAPI
from telebot.errors import ConfigError

TOKEN_A, BOT_A = "111:ALPHA", "alpha_telebot"
TOKEN_B, BOT_B = "222:BETA", "beta_telebot"
FORUM = -1001234
OWNER = 42
IN_FORUM = {"chat_id": FORUM, "chat_type": "supergroup", "user_id": OWNER}


@pytest.fixture
def api():
    with FakeBotAPI(token=TOKEN_A, bot_username=BOT_A) as server:
        server.add_bot(TOKEN_B, BOT_B)
        server.make_forum(FORUM)
        yield server


def said(api: FakeBotAPI, bot: str, since: int = 0) -> list[dict[str, Any]]:
    return [m for m in api.sent(FORUM)[since:] if m["bot"] == bot]


@contextlib.asynccontextmanager
async def two_topics(api: FakeBotAPI, tmp_path: Path, spawn):
    topic_a, topic_b = api.add_topic(FORUM, "alpha"), api.add_topic(FORUM, "beta")
    a_dir, b_dir = IkabotDir(tmp_path / "a"), IkabotDir(tmp_path / "b")
    b_dir.set_telegram(TOKEN_B, str(FORUM), BOB)  # B on ikabot's own token (shared mode)
    a_task, b_task = spawn(), spawn()
    a_dir.add_pirate(ALICE, a_task.pid, done=2, total=10)
    b_dir.add_pirate(BOB, b_task.pid, done=7, total=10)
    a = fast_settings(
        a_dir.path,
        api,
        tmp_path / "sa",
        token=TOKEN_A,
        chat_id=str(FORUM),
        host_label="alpha",
        owner_ids=frozenset({OWNER}),
        topic_id=topic_a,
    )
    b = fast_settings(
        b_dir.path,
        api,
        tmp_path / "sb",
        host_label="beta",
        owner_ids=frozenset({OWNER}),
        topic_id=topic_b,
    )
    async with running_bot(a, api) as bot_a, running_bot(b, api) as bot_b:
        yield bot_a, bot_b, (topic_a, topic_b), (a_task, b_task)


async def answered(h: Harness, bot: str, since: int, count: int = 1) -> list[dict[str, Any]]:
    assert await h.wait(lambda: len(said(h.api, bot, since)) >= count), f"{bot} said nothing"
    return said(h.api, bot, since)


async def test_each_telebot_writes_in_its_topic_and_answers_where_asked(api, tmp_path, spawn):
    async with two_topics(api, tmp_path, spawn) as (a, _b, (ta, tb), (a_task, b_task)):
        (hello_a,), (hello_b,) = said(api, BOT_A), said(api, BOT_B)
        assert "telebot is watching" in hello_a["text"] and hello_a["message_thread_id"] == ta
        assert "telebot is watching" in hello_b["text"] and hello_b["message_thread_id"] == tb

        # a command in B's topic, to A: A answers there (where it was asked)
        n = len(api.sent(FORUM))
        api.add_message(f"/status@{BOT_A}", topic=tb, **IN_FORUM)
        (status,) = await answered(a, BOT_A, n)
        assert status["text"].startswith("🖥 alpha\nikabot tasks")
        assert status["message_thread_id"] == tb
        # one in General (no thread): answered in General, by both
        n = len(api.sent(FORUM))
        api.add_message("/help", **IN_FORUM)
        await answered(a, BOT_A, n)
        await answered(a, BOT_B, n)
        assert {m["message_thread_id"] for m in api.sent(FORUM)[n:]} == {None}

        # /kill asked in General: its confirmation there; the press answers there too, but
        # the alert that the task stopped is A's own message: in A's topic
        n = len(api.sent(FORUM))
        api.add_message(f"/kill@{BOT_A} {a_task.pid}", **IN_FORUM)
        (confirm,) = await answered(a, BOT_A, n)
        assert confirm["message_thread_id"] is None
        api.add_callback(
            buttons(confirm)["🛑 Stop it"], confirm["message_id"], chat_id=FORUM, user_id=OWNER
        )
        assert await until(lambda: a_task.poll() is not None)
        assert await a.wait(
            lambda: any("🛑 autoPirate stopped" in m["text"] for m in said(api, BOT_A, n))
        )
        (stopped,) = [m for m in said(api, BOT_A, n) if "🛑 autoPirate stopped" in m["text"]]
        assert stopped["message_thread_id"] == ta

        # a task killed on B: in B's topic, and nowhere else
        b_task.kill()
        b_task.wait()
        assert await a.wait(
            lambda: any("💀 autoPirate killed" in m["text"] for m in api.sent(FORUM))
        )
        await a.settled()
        deaths = [m for m in api.sent(FORUM) if "💀" in m["text"]]
        assert [(m["bot"], m["message_thread_id"]) for m in deaths] == [(BOT_B, tb)]


async def test_a_deleted_topic_holds_the_alerts_until_it_is_back(api, tmp_path, spawn):
    """Telegram refuses a send into a deleted topic (400 "message thread not found"): that is
    a refusing chat, not an alert Telegram will never take, so the alert is held and said in
    `telebot status`, never dropped."""
    from telebot.state import StateDB

    async with two_topics(api, tmp_path, spawn) as (a, _b, (ta, _tb), (a_task, _)):
        api.close_topic(FORUM, ta, delete=True)
        a_task.kill()
        a_task.wait()

        def refused() -> str | None:
            state = StateDB.open_readonly(a.settings.state_dir)
            if state is None:
                return None
            try:
                held = state.settings.chat_refusal()
                return held.get("reason") if held else None
            finally:
                state.close()

        assert await until(lambda: refused() is not None, 30)
        assert "message thread not found" in (refused() or "").lower()
        assert not any("💀" in m["text"] for m in said(api, BOT_A))


def test_topic_setting():
    assert Settings.from_env({"TELEBOT_TOPIC_ID": " 17 "}).topic_id == 17
    assert Settings.from_env({}).topic_id is None
    for bad in ("general", "-3", "0", "1.5"):
        with pytest.raises(ConfigError, match="TELEBOT_TOPIC_ID"):
            Settings.from_env({"TELEBOT_TOPIC_ID": bad})


async def test_check_names_a_topic_that_does_not_exist(api):
    from telegram import Bot

    from telebot.bot.chatcheck import check_chat

    topic = api.add_topic(FORUM, "alpha")
    async with Bot(TOKEN_A, base_url=api.base_url) as bot:
        good = await check_chat(bot, str(FORUM), topic_id=topic, send_test=True)
        assert good.ok and f"topic {topic}" in good.line
        bad = await check_chat(bot, str(FORUM), topic_id=topic + 99)
        assert not bad.ok and "TELEBOT_TOPIC_ID" in bad.line
    assert api.sent(FORUM)[-1]["message_thread_id"] == topic


def test_a_job_writes_home_whatever_context_started_it(tmp_path):
    """A job scheduled from a handler (its context copied from the command's, in a topic)
    still writes home: `BotContext.from_job` says so for the task that runs it."""
    from telegram import Update
    from telegram.ext import Job

    from telebot.bot import topics
    from telebot.bot.app import build_application
    from telebot.bot.context import BotContext

    settings = Settings(ikabot_path=tmp_path, state_dir=tmp_path / "s", topic_id=5, token=TOKEN_A)
    app = build_application(settings, TOKEN_A, None, str(FORUM))
    update = Update.de_json(
        {
            "update_id": 1,
            "message": {
                "message_id": 9,
                "date": 0,
                "text": "/report 5",
                "message_thread_id": 9,
                "is_topic_message": True,
                "chat": {"id": FORUM, "type": "supergroup", "is_forum": True, "title": "f"},
            },
        },
        app.bot,
    )

    def handled() -> None:  # in a context of its own, as PTB's task per update
        BotContext.from_update(update, app)
        assert topics.thread_for(FORUM, str(FORUM), 5) == 9
        BotContext.from_job(Job(lambda _: None), app)
        assert topics.thread_for(FORUM, str(FORUM), 5) == 5
        assert topics.thread_for(777, str(FORUM), 5) is None  # another chat: never a topic

    contextvars.copy_context().run(handled)
