"""The bot through the whole python-telegram-bot stack, against the loopback Bot API,
on data written by ikabot's own code, with real task processes."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE, TOKEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ikabotdata import IkabotDir
from util import DEADLINE, until

from telebot.demo.fakeapi import FakeBotAPI
from telebot.details import save_process_details
from telebot.errors import ConfigError
from telebot.ikabot.producer import modify_account
from telebot.tasks.model import AccountKey, Task
from telebot.views import render
from telebot.views.page import details_html

STRANGER = 666


def settings_for(world, api, tmp_path: Path, **kw):
    return fast_settings(world["dir"].path, api, tmp_path / "state", **kw)


async def test_start_registers_commands_and_says_hello(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        assert "telebot is watching 3 tasks on 2 accounts" in bot.texts()[0]
        names = {c["command"] for c in api.commands()}
        assert {"status", "webserver", "details", "report", "alerts", "mute"} <= names


async def test_status_shows_progress_grouped_by_account(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        (reply,) = await bot.ask("/status")
        text = reply["text"]
        assert "run 6 of 10 (5 done)" in text and "autoPirate" in text
        assert "👤 alice" in text and "👤 bob" in text
        assert str(world["pirate"].pid) in text
        assert reply["parse_mode"] == "HTML"
        buttons = [
            b["callback_data"] for row in reply["reply_markup"]["inline_keyboard"] for b in row
        ]
        assert "tb:r:0" in buttons and f"tb:d:{world['pirate'].pid}" in buttons


async def test_webserver_urls(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        (reply,) = await bot.ask("/webserver")
        assert "http://127.0.0.1:43527" in reply["text"]
        assert '<a href="http://127.0.0.1:43527">' in reply["html"]
        world["web"].kill()
        world["web"].wait()
        assert await bot.wait(lambda: any("webServer killed (SIGKILL)" in t for t in bot.texts()))
        (reply,) = await bot.ask("/webserver")
        assert "No ikabot web server is running" in reply["text"]
        assert f"1 web server recorded but gone (pid {world['web'].pid})" in reply["text"]


async def test_details_and_usage(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        (reply,) = await bot.ask(f"/details {world['pirate'].pid}")
        assert "Progress: █████░░░░░ run 6 of 10 (5 done)" in reply["text"]
        # a person reads it: no JSON, no epoch number
        assert "{" not in reply["text"] and "timestamp" not in reply["text"]
        (reply,) = await bot.ask("/details")
        assert "Usage: /details <pid>" in reply["text"]
        (reply,) = await bot.ask("/details 1")
        assert "No ikabot task with pid 1" in reply["text"]


async def test_stranger_gets_nothing(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        (reply,) = await bot.ask("/status", chat_id=STRANGER)
        assert reply["text"] == "Sorry, this bot answers only its owner."
        # the fixed line once an hour a chat: a stranger's flood costs one message
        for command in ("/webserver", f"/details {world['pirate'].pid}", "/help", "/status"):
            api.add_message(command, chat_id=STRANGER, user_id=STRANGER)
        await bot.settled()
        assert len(api.sent(STRANGER)) == 1
        # a group gets not even that
        api.add_message("/status", chat_id=-100123, user_id=STRANGER, chat_type="group")
        await bot.settled()
        assert api.sent(-100123) == []
        leaked = json.dumps(api.sent(STRANGER))
        for secret in (str(world["pirate"].pid), "autoPirate", "alice", "bob", "43527"):
            assert secret not in leaked


async def test_refresh_edits_in_place(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        (reply,) = await bot.ask("/status")
        save_process_details(
            world["dir"].target(ALICE),
            world["pirate"].pid,
            {"missions": {"total": 10, "completed": 6, "remaining": 4}},
        )
        api.add_callback("tb:r:0", reply["message_id"], chat_id=OWNER)
        assert await bot.wait(lambda: any(c.method == "answerCallbackQuery" for c in api.calls))
        edited = next(m for m in api.sent(OWNER) if m["message_id"] == reply["message_id"])
        assert edited["edits"] == 1 and "run 7 of 10 (6 done)" in edited["text"]
        assert any(c.method == "editMessageText" and c.status == 200 for c in api.calls)


async def test_details_button(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        (reply,) = await bot.ask("/status")
        before = len(api.sent(OWNER))
        api.add_callback(f"tb:d:{world['builder'].pid}", reply["message_id"], chat_id=OWNER)
        assert await bot.wait(lambda: len(api.sent(OWNER)) > before)
        assert "Working on: Athens · Academy → level 4" in api.sent(OWNER)[-1]["text"]


def _ikabot_reads_updates(api: FakeBotAPI) -> list[dict]:
    """What ikabot's getUserResponse sees: a plain GET without offset."""
    with urllib.request.urlopen(f"{api.base_url}{TOKEN}/getUpdates", timeout=DEADLINE) as r:
        return json.load(r)["result"]


async def test_shared_token_leaves_ikabot_its_updates(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        captcha = api.add_message("xk4d", chat_id=OWNER)  # the player's captcha answer
        reply_to_alert = api.add_message("12345:1", chat_id=OWNER)  # pid:action reply
        await bot.ask("/status")
        await bot.settled()  # a later command answered: the janitor ran after /status
        seen = {u["update_id"]: u for u in _ikabot_reads_updates(api)}
        assert captcha in seen and reply_to_alert in seen
        assert seen[captcha]["message"]["text"] == "xk4d"
        # nothing young was confirmed: no offset ever passed beyond an old update
        offsets = [
            int(c.params["offset"])
            for c in api.calls
            if c.method == "getUpdates" and "offset" in c.params
        ]
        assert offsets == []


async def test_janitor_keeps_the_queue_from_filling(world, api, tmp_path):
    old = time.time() - 3600
    old_ids = [api.add_message(f"old {i}", chat_id=OWNER, date=old) for i in range(150)]
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        young = api.add_message("young captcha answer", chat_id=OWNER)
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
        assert await bot.wait(lambda: all(u["update_id"] > old_ids[-1] for u in api.unconfirmed()))
        remaining = [u["update_id"] for u in api.unconfirmed()]
        assert young in remaining  # young ones stay for ikabot
        offsets = [
            int(c.params["offset"])
            for c in api.calls
            if c.method == "getUpdates" and "offset" in c.params
        ]
        assert offsets and max(offsets) <= old_ids[-1] + 1


async def test_a_strangers_flood_does_not_make_telebot_or_ikabot_deaf(world, api, tmp_path):
    """getUpdates without offset sees only the first 100 updates: a stranger's 150 young
    commands at the head of the queue would hide the owner's for 30 minutes."""
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        for _ in range(150):
            api.add_message("/status", chat_id=STRANGER, user_id=STRANGER)
        captcha = api.add_message("xk4d", chat_id=OWNER)  # for ikabot
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
        assert await bot.wait(lambda: len(api.sent(STRANGER)) == 1)
        remaining = [u["update_id"] for u in api.unconfirmed()]
        assert remaining[0] == captcha  # the stranger's run is confirmed, ikabot's answer kept
    assert len(api.sent(STRANGER)) == 1  # the fixed line once, not 150 times


async def test_the_shared_tokens_blind_spot_is_said_once(world, api, tmp_path, caplog):
    """ikabot's young captcha answer at the head and a page of a stranger's chatter behind it:
    nothing can be confirmed for 30 minutes and the owner's /status is out of sight. The owner
    is told once: why, until when, and that a token of telebot's own avoids it."""
    import logging

    caplog.set_level(logging.INFO)
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        captcha = api.add_message("xk4d", chat_id=OWNER)  # ikabot's: kept while young
        (head,) = [u["message"]["date"] for u in api.unconfirmed() if u["update_id"] == captcha]
        for i in range(150):
            api.add_message(f"chatter {i}", chat_id=STRANGER, user_id=STRANGER)
        api.add_message("/status", chat_id=OWNER)

        def notices() -> list[str]:
            return [t for t in bot.texts() if "cannot see your commands" in t]

        assert await bot.wait(notices)
        polls = sum(c.method == "getUpdates" for c in api.calls)
        assert await bot.wait(
            lambda: sum(c.method == "getUpdates" for c in api.calls) >= polls + 5
        )  # several more looks at the same queue
        (text,) = notices()
        until = datetime.fromtimestamp(head + 30 * 60, ZoneInfo("Asia/Kolkata"))  # TELEBOT_TZ
        assert f"until about {until:%H:%M} IST" in text
        assert "TELEBOT_TOKEN" in text and "ikabot may still need" in text
        assert not [t for t in bot.texts() if "run 6 of 10" in t]  # out of sight indeed
    assert len([r for r in caplog.records if "cannot see commands" in r.getMessage()]) == 1


async def test_update_ids_kept_per_bot_and_a_restart_of_the_ids_is_followed(world, api, tmp_path):
    """Telegram numbers updates per bot and, after a week without any, starts again lower."""
    from telebot.state import StateDB

    s = settings_for(world, api, tmp_path)
    db = StateDB(s.state_dir)
    db.settings.set_update_mark("999", 10**9, time.time())  # another bot's count
    db.settings.set_update_mark(TOKEN.partition(":")[0], 5000, time.time() - 8 * 86400)
    db.close()
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/status")  # a low id: the fake's count starts at 1
        assert "run 6 of 10 (5 done)" in reply["text"]
        (reply,) = await bot.ask("/webserver")
        assert "43527" in reply["text"]


async def test_command_answered_once_across_restarts(world, api, tmp_path):
    s = settings_for(world, api, tmp_path)
    async with running_bot(s, api) as bot:
        await bot.ask("/status")
    answered = len(api.sent(OWNER))
    async with running_bot(s, api) as bot:
        await bot.settled()  # answered: the /status before it would have been too
        # only the new start message and the /help, not a second /status answer
        assert len(api.sent(OWNER)) == answered + 2
        assert "telebot is watching" in api.sent(OWNER)[-2]["text"]


async def test_commands_sent_before_start_are_not_answered(world, api, tmp_path):
    api.add_message("/status", chat_id=OWNER, date=time.time() - 120)
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        await bot.settled()
        assert len(api.sent(OWNER)) == 2  # the start message and the /help only


IKABOT_OWN_TOKEN = "555:IKABOT"  # ikabot's bot, when TELEBOT_TOKEN names telebot's own


async def test_dedicated_token_uses_long_polling(world, api, tmp_path):
    world["dir"].set_telegram(IKABOT_OWN_TOKEN, str(OWNER), ALICE)
    s = settings_for(world, api, tmp_path, token=TOKEN, chat_id=str(OWNER))
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
        assert any(c.method == "getUpdates" and "offset" in c.params for c in api.calls)


async def test_telebot_token_equal_to_ikabots_stays_shared(world, api, tmp_path):
    """Long polling would confirm (and take away) ikabot's captcha answers."""
    s = settings_for(world, api, tmp_path, token=TOKEN, chat_id=str(OWNER))
    api.add_message("the captcha answer", chat_id=OWNER)  # for ikabot, not telebot
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
    assert any(u.get("message", {}).get("text") == "the captcha answer" for u in api.unconfirmed())


async def test_dedicated_mode_answers_only_recent_commands_never_edits(world, api, tmp_path):
    """Commands Telegram kept while telebot was down are not answered all at once, and an
    edited command does not run again."""
    world["dir"].set_telegram(IKABOT_OWN_TOKEN, str(OWNER), ALICE)
    api.add_message("/status", chat_id=OWNER, date=time.time() - 3600)
    s = settings_for(world, api, tmp_path, token=TOKEN, chat_id=str(OWNER))
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/help")
        assert "/status" in reply["text"] and len(api.sent(OWNER)) == 2  # hello + help
        api.add_update(
            {
                "edited_message": {
                    "message_id": 99,
                    "date": int(time.time()),
                    "edit_date": int(time.time()),
                    "chat": {"id": OWNER, "type": "private", "first_name": "o"},
                    "from": {"id": OWNER, "is_bot": False, "first_name": "o"},
                    "text": "/status",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
                }
            }
        )
        await bot.ask("/help")  # answered in order (one chat): the edit was handled before
        assert len(api.sent(OWNER)) == 3


async def test_429_on_reply_is_retried(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        api.fail("sendMessage", 429, retry_after=1)
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
        statuses = [c.status for c in api.calls if c.method == "sendMessage"]
        assert 429 in statuses and statuses[-1] == 200


async def test_report_command(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        (reply,) = await bot.ask("/report")
        assert "off" in reply["text"]
        (reply,) = await bot.ask("/report 0.01")
        assert "Usage" in reply["text"]
        (reply,) = await bot.ask("/report 30")
        assert "every 30 minutes" in reply["text"]
        (reply,) = await bot.ask("/report")
        assert "every 30 minutes" in reply["text"]


async def test_scheduled_report_only_when_progress_changed(world, api, tmp_path):
    s = settings_for(world, api, tmp_path, report_minutes=0.005)  # every 0.3 s
    async with running_bot(s, api) as bot:
        assert await bot.wait(lambda: any("Progress report" in t for t in bot.texts()))
        save_process_details(
            world["dir"].target(ALICE),
            world["pirate"].pid,
            {"missions": {"total": 10, "completed": 7, "remaining": 3}},
        )
        assert await bot.wait(lambda: sum("Progress report" in t for t in bot.texts()) >= 2)
        n = len(api.calls)
        # many more report intervals, no change: no more reports
        await bot.wait(lambda: sum(c.method == "getUpdates" for c in api.calls[n:]) >= 40)
        reports = [t for t in bot.texts() if "Progress report" in t]
        assert len(reports) == 2 and "run 8 of 10 (7 done)" in reports[1]


async def test_token_never_logged(world, api, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        await bot.ask("/status")
        api.fail("sendMessage", 502)
        await bot.ask("/webserver")  # answered all the same, on the second try
    assert any("getUpdates" in r.getMessage() for r in caplog.records)  # URLs were logged...
    assert TOKEN not in caplog.text  # ...without the token
    assert "bot***" in caplog.text


async def test_rejected_token_is_a_config_error(world, tmp_path):
    with (
        FakeBotAPI(token="999:OTHER") as other,
        pytest.raises(ConfigError, match="rejected the bot token"),
    ):
        async with running_bot(settings_for(world, other, tmp_path), other):
            pass


async def test_300_tasks_the_stopped_summed_up_and_listed_page_by_page(tmp_path, spawn, api):
    d = IkabotDir(tmp_path / "big")
    d.set_telegram(TOKEN, str(OWNER), ALICE)
    live = [spawn() for _ in range(10)]
    for p in live:
        d.add_task(ALICE, p.pid, "autoPirate", "Mission 5/10 complete")
    # 290 more entries of long-dead tasks, as weeks of ikabot leave behind (ikabot's own
    # updateProcessList would drop dead pids at once, so these go in through the data file)
    now = time.time()

    def dead_entries(server: dict) -> None:
        server["processList"] += [
            {
                "pid": 4_000_000 + i,
                "action": "autoPirate",
                "date": now - 600,
                "status": f"Mission {i % 10}/10 complete <&> " + "x" * 40,
            }
            for i in range(290)
        ]

    modify_account(d.target(ALICE), dead_entries)
    expected = render.status_pages(bot_tasks(d))
    assert len(bot_tasks(d)) == 300
    async with running_bot(fast_settings(d.path, api, tmp_path / "state"), api) as bot:
        pages = await bot.ask("/status", replies=len(expected))
        assert len(pages) == len(expected) == 1  # running in full, the stopped summed up
        shown = pages[0]["text"]
        assert "10 running, 290 stopped" in shown and "290 not running" in shown
        assert all(f"autoPirate {p.pid} " in shown for p in live)
        buttons = [
            b["callback_data"] for row in pages[0]["reply_markup"]["inline_keyboard"] for b in row
        ]
        assert all(f"tb:d:{p.pid}" in buttons for p in live) and "tb:e:0" in buttons
        # the list behind the button: every stopped task once, 15 a page, ◀ ▶ to move
        api.add_callback("tb:e:0", pages[0]["message_id"], chat_id=OWNER)
        assert await bot.wait(
            lambda: any(
                "Not running" in m["text"] and "page 1/20" in m["text"] for m in api.sent(OWNER)
            )
        )
        listing = next(m for m in api.sent(OWNER) if "page 1/20" in m["text"])
        seen = set()
        for page in range(20):
            if page:
                api.add_callback(f"tb:n:{page}", listing["message_id"], chat_id=OWNER)
                assert await bot.wait(
                    lambda page=page: (
                        f"page {page + 1}/20"
                        in next(
                            m for m in api.sent(OWNER) if m["message_id"] == listing["message_id"]
                        )["text"]
                    )
                )
            text = next(m for m in api.sent(OWNER) if m["message_id"] == listing["message_id"])[
                "text"
            ]
            seen |= {i for i in range(290) if f"autoPirate {4_000_000 + i} " in text}
        assert seen == set(range(290))
        assert all(
            c.status == 200 for c in api.calls if c.method in ("sendMessage", "editMessageText")
        )


def bot_tasks(d: IkabotDir) -> list[Task]:
    from telebot.config import Settings
    from telebot.ikabot.store import open_store
    from telebot.tasks.merge import collect

    return collect(open_store(Settings(ikabot_path=d.path)))


@given(
    statuses=st.lists(st.text(max_size=400), min_size=1, max_size=5), action=st.text(max_size=40)
)
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_status_renders_to_messages_telegram_accepts(statuses, action, api):
    """Whatever ikabot writes, every message telebot builds is accepted by the server."""
    key = AccountKey("a@b.c", "<user>", "1", "en")
    tasks = [
        Task(
            pid=i + 1,
            action=action,
            account=key,
            status=s,
            started=time.time() - 99,
            details={"note": s},
            progress=None,
            remaining=None,
            urls=["http://127.0.0.1:5"],
            alive=bool(i % 2),
            state="running" if i % 2 else "dead",
        )
        for i, s in enumerate(statuses)
    ]
    messages = [
        *render.status_pages(tasks),
        render.webserver_html(tasks),
        render.report_html(tasks),
        *(details_html(t) for t in tasks),
    ]
    for m in messages:
        for chunk in render.split_message(m):
            body = json.dumps({"chat_id": OWNER, "text": chunk, "parse_mode": "HTML"}).encode()
            request = urllib.request.Request(
                f"{api.base_url}{TOKEN}/sendMessage",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=DEADLINE) as r:
                    assert json.load(r)["ok"]
            except urllib.error.HTTPError as e:  # pragma: no cover - the failure message
                raise AssertionError(f"{e.read()!r}: {chunk!r}") from None


async def test_dedicated_token_held_by_another_poller_says_so(world, api, tmp_path, caplog):
    """A second program long-polling the dedicated token: one clear line, no crash."""
    import threading

    stop = threading.Event()

    def rival() -> None:  # another telebot, say, on the same token
        while not stop.is_set():
            with contextlib.suppress(OSError):
                urllib.request.urlopen(
                    f"{api.base_url}{TOKEN}/getUpdates?timeout=1", timeout=DEADLINE
                ).read()

    caplog.set_level(logging.WARNING)
    world["dir"].set_telegram(IKABOT_OWN_TOKEN, str(OWNER), ALICE)
    s = settings_for(world, api, tmp_path, token=TOKEN, chat_id=str(OWNER))
    async with running_bot(s, api) as bot:
        thread = threading.Thread(target=rival, daemon=True)
        thread.start()
        try:
            assert await bot.wait(lambda: "another telebot" in caplog.text, 30)
            assert sum(c.status == 409 for c in api.calls) >= 3
        finally:
            stop.set()
            thread.join(10)
    assert caplog.text.count("another telebot") == 1 and TOKEN not in caplog.text


def test_run_without_telegram_config_exits_2(tmp_path: Path, run_cli):
    d = IkabotDir(tmp_path / "h")
    r = run_cli("run", IKABOT_PATH=str(d.path))
    assert r.code == 2 and r.err.count("\n") == 1 and "TELEBOT_TOKEN" in r.err


async def test_waits_for_the_bot_api_to_come_up(world, api, tmp_path, caplog):
    """At boot the network may not be up yet: telebot waits instead of exiting."""
    api.fail("getMe", 502, times=1)
    api.fail("getMe", drop=True, times=1)
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
    assert [c.status for c in api.calls if c.method == "getMe"][:3] == [502, 0, 200]
    assert "cannot reach the Bot API" in caplog.text and TOKEN not in caplog.text


async def test_legacy_layout_bot(legacy_file, spawn, api, tmp_path):
    """ikabot ≤ 7.5's encrypted file: the same answers, with e-mail and password given."""
    p = spawn()
    legacy_file.set_telegram(ALICE, TOKEN, str(OWNER))
    legacy_file.add_task(ALICE, p.pid, "autoPirate", "Pirating for 5 more runs")
    s = fast_settings(
        legacy_file.path, api, tmp_path / "state", email=ALICE.email, password=ALICE.password
    )
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/status")
        assert "Pirating for 5 more runs" in reply["text"]
        p.kill()
        # first seen within its first run with 5 to go: 5 is the total, the first run is on
        assert await bot.wait(
            lambda: any(
                "autoPirate killed (SIGKILL) during run 1 of 5 (0 done)" in t for t in bot.texts()
            )
        )
    assert ALICE.password not in json.dumps(api.sent())


async def test_reply_rides_out_a_bot_api_hiccup(world, api, tmp_path):
    async with running_bot(settings_for(world, api, tmp_path), api) as bot:
        api.fail("sendMessage", 502, times=1)
        api.fail("sendMessage", drop=True, times=1)
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
        statuses = [c.status for c in api.calls if c.method == "sendMessage"]
        assert statuses[-3:] == [502, 0, 200]


@pytest.mark.parametrize("dedicated", [False, True])
async def test_unknown_command_gets_a_hint(world, api, tmp_path, dedicated):
    if dedicated:
        world["dir"].set_telegram(IKABOT_OWN_TOKEN, str(OWNER), ALICE)
    s = settings_for(
        world, api, tmp_path, **({"token": TOKEN, "chat_id": str(OWNER)} if dedicated else {})
    )
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/statsu")
        assert reply["text"] == "I don't know /statsu. /help lists what I can do."
        (reply,) = await bot.ask("/statsu", chat_id=STRANGER)
        assert reply["text"] == "Sorry, this bot answers only its owner."


@pytest.mark.parametrize("dedicated", [False, True])
async def test_a_plain_hello_gets_a_hint_naming_help(world, api, tmp_path, dedicated):
    """On a bot of telebot's own, the owner's "hello" is answered with /help; on ikabot's
    shared token a plain text may be the player's answer to ikabot, so nothing is said."""
    if dedicated:
        world["dir"].set_telegram(IKABOT_OWN_TOKEN, str(OWNER), ALICE)
    s = settings_for(
        world, api, tmp_path, **({"token": TOKEN, "chat_id": str(OWNER)} if dedicated else {})
    )
    async with running_bot(s, api) as bot:
        before = len(api.sent(STRANGER))
        api.add_message("hello", chat_id=STRANGER, user_id=STRANGER)
        if dedicated:
            (reply,) = await bot.ask("hello")
            assert reply["text"] == "Send /help to see what I can do."
        else:
            api.add_message("hello", chat_id=OWNER, user_id=OWNER)
            (reply,) = await bot.ask("/help")  # the hello before it was handled: no answer
            assert "/status" in reply["text"]
        await bot.settled()
        assert len(api.sent(STRANGER)) <= before + 1  # at most the stranger's fixed line
        assert all("/help to see" not in m["text"] for m in api.sent(STRANGER))
        hints = [m for m in api.sent(OWNER) if m["text"] == "Send /help to see what I can do."]
        assert len(hints) == (1 if dedicated else 0)


class Looked(type(Path())):  # type: ignore[misc]
    """IKABOT_PATH that counts telebot's looks for it (`exists()` on the path itself), so a
    test can tell "looked again and said nothing" from "has not looked yet"."""

    looks = 0

    def exists(self, *args, **kwargs) -> bool:
        if self.name == ".ikabot":  # not the paths made from it
            type(self).looks += 1
        return super().exists(*args, **kwargs)


@pytest.mark.parametrize("volume", [False, True])
async def test_run_waits_for_ikabots_data_to_appear(
    tmp_path, api, monkeypatch, caplog, volume, run_cli
):
    """Before ikabot's first login there is no data (nothing there; in Docker, an empty
    volume directory): telebot says so once and starts when it appears, instead of a
    restart loop on exit 2."""
    import asyncio

    from telebot.bot import app as app_module

    monkeypatch.setattr(app_module, "DATA_POLL", 0.05)
    caplog.set_level(logging.INFO)
    home = tmp_path / "home"
    home.mkdir()
    if volume:
        (home / ".ikabot").mkdir()  # what Docker mounts before ikabot's first login
    s = fast_settings(Looked(home / ".ikabot"), api, tmp_path / "state")
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(app_module.serve(s, stop=stop, ready=ready))
    try:
        assert await until(lambda: "waiting for ikabot's data" in caplog.text)
        assert not task.done()
        # waiting is healthy (README): the heartbeat is there before the state database is,
        # in a directory as private as the database makes it
        health = await asyncio.to_thread(run_cli, "health", TELEBOT_STATE_DIR=str(s.state_dir))
        assert health.code == 0 and "healthy" in health.out, health.err
        assert s.state_dir.stat().st_mode & 0o777 == 0o700
        looked = Looked.looks
        assert await until(lambda: Looked.looks >= looked + 3)  # three more looks…
        assert caplog.text.count("waiting for ikabot's data") == 1  # …still said once
        assert caplog.text.count("waiting for ikabot's data") == 1
        d = IkabotDir(home)  # ikabot's first login
        d.set_telegram(TOKEN, str(OWNER), ALICE)
        await asyncio.wait_for(ready.wait(), DEADLINE)
        assert await until(lambda: any("telebot is watching" in m["text"] for m in api.sent(OWNER)))
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE)


@pytest.mark.parametrize("dedicated", [False, True])
async def test_ikabots_setup_command_is_never_answered_nor_confirmed(
    world, api, tmp_path, dedicated, caplog
):
    """ikabot's menu 21 -> 1 waits for `/ikabot NNNN` (`botComm.updateTelegramData`: the
    text, stripped, equal to it) by getUpdates without offset, from a chat it does not know
    yet: telebot must neither answer it nor take it away."""
    if dedicated:
        world["dir"].set_telegram(IKABOT_OWN_TOKEN, str(OWNER), ALICE)
    s = settings_for(
        world, api, tmp_path, **({"token": TOKEN, "chat_id": str(OWNER)} if dedicated else {})
    )
    async with running_bot(s, api) as bot:
        # first from a chat ikabot does not know yet: the janitor confirms only a head run
        other = api.add_message(" /ikabot 7301 ", chat_id=STRANGER, user_id=STRANGER)
        own = api.add_message("/ikabot 0421", chat_id=OWNER)
        await bot.settled()
        assert len(api.sent(OWNER)) == 2  # the start message and the /help only
        assert api.sent(STRANGER) == []
        if not dedicated:  # long polling confirms everything it reads: nothing to keep
            remaining = {u["update_id"] for u in api.unconfirmed()}
            assert {own, other} <= remaining
        # …and so, on telebot's own token, the player is told why ikabot's set-up cannot work
        assert ("ikabot cannot read it there" in caplog.text) == dedicated


async def test_token_shared_later_is_read_the_shared_way(world, api, tmp_path, caplog):
    """The player sets ikabot's Telegram up with telebot's token while telebot runs: from the
    next read of ikabot's data on, telebot must leave ikabot its updates."""
    caplog.set_level(logging.INFO)
    world["dir"].set_telegram(IKABOT_OWN_TOKEN, str(OWNER), ALICE)
    s = settings_for(world, api, tmp_path, token=TOKEN, chat_id=str(OWNER))
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
        world["dir"].set_telegram(TOKEN, str(OWNER), ALICE)
        assert await bot.wait(lambda: "shared way" in caplog.text)
        captcha = api.add_message("the captcha answer", chat_id=OWNER)
        (reply,) = await bot.ask("/status")
        assert "run 6 of 10 (5 done)" in reply["text"]
        await bot.settled()
        assert captcha in {u["update_id"] for u in api.unconfirmed()}
