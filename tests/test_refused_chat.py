"""A chat that refuses the bot (blocked, never started, wrong id): alerts are held, retried with
backoff on an injected clock, and all delivered once, in order, when the chat accepts them."""

from __future__ import annotations

import json
import logging
import signal
import time
from pathlib import Path

import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE, TOKEN
from telegram import Bot

from telebot.alerts import delivery as outbox
from telebot.alerts.delivery import Deliverer, waiting
from telebot.bot.alert_out import BotOut
from telebot.demo.fakeapi import FakeBotAPI
from telebot.state import StateDB


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def sends(api: FakeBotAPI) -> int:
    return sum(c.method == "sendMessage" for c in api.calls)


def deliverer(state: StateDB, bot: Bot, clock: Clock) -> Deliverer:
    return Deliverer(state, BotOut(bot), clock=clock)


def records(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


async def test_blocked_chat_holds_alerts_then_delivers_each_once_in_order(
    api: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    state, clock = StateDB(tmp_path / "state"), Clock()
    for i in range(3):
        state.outbox.enqueue(f"a{i}", str(OWNER), "died", f"💀 alert <b>{i}</b>")
    api.set_chat(OWNER, "blocked")
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        d = deliverer(state, bot, clock)
        delays = [await d._round()]
        assert state.settings.chat_refusal()["reason"] == "403: bot was blocked by the user"
        assert waiting(state)["count"] == 3 and not api.sent()
        # a wake-up before the retry is due asks Telegram nothing
        calls = sends(api)
        clock.now += 10
        assert await d._round() == pytest.approx(delays[0] - 10)
        assert sends(api) == calls
        for _ in range(7):  # each retry at its time: one try, a longer wait, never > 10 min
            clock.now += delays[-1]
            delays.append(await d._round())
            assert sends(api) == calls + len(delays) - 1
        assert delays == [30, 60, 120, 240, 480, 600, 600, 600]
        assert len(records(caplog, "refuses alerts")) == 1  # one line per change, not per try
        api.set_chat(OWNER, "open")  # the owner pressed Start
        clock.now += 600
        assert await d._round() is None
        assert await d._round() is None  # nothing twice
    assert [m["text"] for m in api.sent(OWNER)] == [f"💀 alert {i}" for i in range(3)]
    assert len(records(caplog, "accepts alerts again")) == 1
    assert waiting(state) is None and state.settings.chat_refusal() is None
    state.close()


async def test_an_alert_refused_for_7_days_is_given_up_with_an_error_line(
    api: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state, clock = StateDB(tmp_path / "state"), Clock()
    state.outbox.enqueue("old", str(OWNER), "died", "old alert")
    api.set_chat(OWNER, "missing")
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        d = deliverer(state, bot, clock)
        await d._round()
        assert state.settings.chat_refusal()["reason"] == "400: chat not found"
        clock.now += 6 * 86400
        await d._round()
        assert waiting(state)["count"] == 1  # six days: still kept
        new = state.outbox.enqueue("new", str(OWNER), "died", "new alert")
        # written on day 6 (enqueue dates an alert by the wall clock, not the injected one)
        state.db.conn.execute("UPDATE outbox SET created_at=? WHERE id=?", (clock.now, new))
        clock.now += 86400 + 1
        await d._round()
        assert waiting(state)["count"] == 1  # the old one given up, the new one kept
    assert len(records(caplog, "gave up on 1 alert")) == 1
    state.close()


async def test_unparsable_text_is_sent_again_as_plain_text(api: FakeBotAPI, tmp_path: Path):
    state = StateDB(tmp_path / "state")
    state.outbox.enqueue(
        "bad", str(OWNER), "died", "💀 <b>autoPirate</i> died &amp; <code>x</code>"
    )
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        assert await deliverer(state, bot, Clock())._round() is None
    (sent,) = api.sent(OWNER)
    assert sent["text"] == "💀 autoPirate died & x" and sent["parse_mode"] is None
    assert not state.outbox.pending()
    state.close()


async def test_run_says_the_chat_refuses_and_status_shows_why_alerts_wait(
    ikabot_dir,
    spawn,
    api: FakeBotAPI,
    tmp_path: Path,
    run_cli,
    monkeypatch,
    caplog: pytest.LogCaptureFixture,
):
    """`run` checks the chat at start and says loudly that it refuses, runs on, holds the
    alert of a task that died and the start-up message; `status` says why; once the chat
    accepts, both arrive, once each."""
    monkeypatch.setattr(outbox, "HOLD_START", 0.05)
    caplog.set_level(logging.INFO)
    api.set_chat(OWNER, "blocked")
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 3 more runs")
    s = fast_settings(ikabot_dir.path, api, tmp_path / "state")
    async with running_bot(s, api) as bot:
        assert records(caplog, "TELEBOT CANNOT REACH ITS CHAT")
        assert "press Start" in records(caplog, "TELEBOT CANNOT REACH ITS CHAT")[0]
        p.send_signal(signal.SIGKILL)

        def held() -> bool:
            state = StateDB.open_readonly(s.state_dir)
            assert state is not None
            try:
                return waiting(state) is not None
            finally:
                state.close()

        assert await bot.wait(held)
        env = {"IKABOT_PATH": str(ikabot_dir.path), "TELEBOT_STATE_DIR": str(s.state_dir)}
        r = run_cli("status", **env)
        assert r.code == 0, r.err
        assert "2 alerts waiting since " in r.out  # the start-up message and the alert
        assert r.out.rstrip().endswith(
            ": the chat refuses them (403: bot was blocked by the user)"
        ), r.out
        held = json.loads(run_cli("status", "--json", **env).out)["waiting_alerts"]
        assert held["count"] == 2 and held["reason"] == "403: bot was blocked by the user"
        api.set_chat(OWNER, "open")
        assert await bot.wait(lambda: any("killed" in t for t in bot.texts()))
        await bot.settled()
    assert sum("killed" in t for t in bot.texts()) == 1
    assert sum("👀 telebot is watching 1 task on 1 account" in t for t in bot.texts()) == 1


@pytest.mark.parametrize("chat", ["blocked", "missing"])
async def test_an_answer_into_a_refusing_chat_is_one_log_line(
    ikabot_dir, api: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture, chat: str
):
    """A command whose answer the chat refuses (403, chat not found) is the chat's doing,
    not a bug: one redacted line, no traceback."""
    caplog.set_level(logging.INFO)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "state")
    async with running_bot(s, api) as bot:
        api.set_chat(OWNER, chat)
        api.add_message("/status", chat_id=OWNER, user_id=OWNER)
        assert await bot.wait(lambda: records(caplog, "handler error"))
    (line,) = records(caplog, "handler error")
    assert "refuses the answer" in line and "\n" not in line and TOKEN not in line
    assert "Traceback" not in caplog.text
