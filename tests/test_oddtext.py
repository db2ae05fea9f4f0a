"""Strings in ikabot's data that nothing after the store could encode: a lone UTF-16
surrogate (JSON `"\\ud83d"`, which Python's json reads as is, and which SQLite, UTF-8 output
and the Bot API refuse) and NUL. They are cleaned where the data comes in (U+FFFD), so
`telebot status`, /status and a death alert still work, and only that field changes.

The data is ikabot's own (written by its code), then one field is rewritten the way a writer
with `ensure_ascii` leaves it (ikabot ≤ 7.5's json.dumps, a producer API call)."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import CHAT, TOKEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ikabotdata import Account, IkabotDir, queue_status
from test_alerts import alerts

from telebot.alerts.alerter import Alerter, ProcessExited
from telebot.config import Settings
from telebot.demo.fakeapi import FakeBotAPI, parse_html
from telebot.ikabot.store import open_store
from telebot.processes.exitinfo import ExitInfo
from telebot.state import StateDB
from telebot.tasks.merge import build_tasks
from telebot.views import render

FIELDS = ("status", "action", "username", "world", "server", "email", "details")
CAROL = Account("carol@example.org", "carol", "59", "en")
NOW = 2_000_000_000.0


def write(home: Path, pid: int, date: float, field: str, value: str) -> Path:
    """ikabot's data with one task of Carol's; `field` set to `value` (JSON-escaped)."""
    d = IkabotDir(home)
    d.set_telegram(TOKEN, CHAT)
    d.add_task(CAROL, pid, "constructionList", queue_status("Athens", 3, 3 * 3600), date=date)
    file = d.user_file(CAROL)
    data = json.loads(file.read_text())
    server = data["players"]["carol"]["59"]["en"]
    server["processDetails"] = {
        str(pid): {
            "action": "constructionList",
            "timestamp": date,
            "progress": {"done": 1, "total": 3, "unit": "levels"},
        }
    }
    entry = server["processList"][0]
    if field in ("status", "action"):
        entry[field] = value
    elif field == "details":
        server["processDetails"][str(pid)]["progress"]["unit"] = value
    elif field == "email":
        data["email"] = value
    else:  # username / world / server: keys of ikabot's nesting
        path = {"username": [], "world": ["carol"], "server": ["carol", "59"]}[field]
        holder = data["players"]
        for key in path:
            holder = holder[key]
        old = {"username": "carol", "world": "59", "server": "en"}[field]
        holder[value] = holder.pop(old)
    file.write_text(json.dumps(data))  # ensure_ascii: a lone surrogate as "\udXXX"
    return d.path


def surfaces(ikabot_path: Path, state_dir: Path) -> tuple[Any, ...]:
    """What the player sees: `telebot status` (table, --json), /status, a death alert."""
    tasks = build_tasks(open_store(Settings(ikabot_path=ikabot_path)).read())
    table = render.status_table(tasks, now=NOW)
    as_json = json.dumps(render.as_json(tasks), ensure_ascii=False)
    pages = render.status_pages(tasks, now=NOW)

    async def alert() -> list[str]:
        state = StateDB(state_dir)
        alerter = Alerter(state, str(OWNER))
        try:
            await alerter.observe(tasks, NOW)  # tracked in SQLite
            (task,) = tasks
            await alerter.on_exit(
                ProcessExited(task.pid, task.start_ticks or 0, NOW, ExitInfo(signal=9))
            )
            return [item.text for item in state.outbox.pending(NOW + 1)]
        finally:
            alerter.watcher.close()
            state.close()

    texts = asyncio.run(alert())
    return table, as_json, pages, texts


def expected(value: str) -> str:
    """What the value reads as after the store: JSON's round trip (a surrogate pair becomes
    one character), every lone surrogate and NUL then U+FFFD."""
    return re.sub("[\ud800-\udfff\x00]", "\ufffd", json.loads(json.dumps(value)))


odd_text = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
        st.just("\x00"),
    ),
    min_size=1,
    max_size=12,
).map("".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(FIELDS), value=odd_text)
def test_an_odd_string_changes_only_its_field(spawn_once, field, value):
    p, date = spawn_once
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        odd = surfaces(write(root / "a", p.pid, date, field, value), root / "sa")
        clean = surfaces(write(root / "b", p.pid, date, field, expected(value)), root / "sb")
    assert odd == clean
    table, as_json, pages, texts = odd
    assert texts, "no death alert"
    for text in (table, as_json, *pages, *texts):
        text.encode("utf-8")  # no lone surrogate left
        assert "\x00" not in text
    for html in (*pages, *texts):
        parse_html(html)  # what Telegram's parser takes


@pytest.fixture
def spawn_once(spawn):
    """One live task process for every example (its pid and a `date` it matches)."""
    return spawn(), time.time()


# ---------------------------------------------------------------- end to end, one field each

ODD = "x\ud83dy\x00z"


@pytest.mark.parametrize("field", FIELDS)
async def test_cli_bot_and_alert_survive_an_odd_field(spawn, run_cli, tmp_path, field):
    p = spawn()
    path = write(tmp_path / "home", p.pid, time.time(), field, ODD)
    r = run_cli("status", "--json", IKABOT_PATH=str(path))
    assert r.code == 0, r.err
    (proc,) = json.loads(r.out)["processes"]
    assert proc["pid"] == p.pid and proc["state"] == "running"
    assert "x\ufffdy\ufffdz" in r.out or field in ("details", "email")
    with FakeBotAPI(token=TOKEN) as api:
        async with running_bot(fast_settings(path, api, tmp_path / "s"), api) as bot:
            (reply,) = await bot.ask("/status")
            assert str(p.pid) in reply["text"] or "constructionList" in reply["text"]
            p.kill()
            assert await bot.wait(lambda: alerts(api))
    (text,) = alerts(api)
    assert "killed" in text.split("\n")[0] and str(p.pid) in text


def test_the_legacy_layout_is_cleaned_too(legacy_file, spawn, run_cli):
    """ikabot ≤ 7.5 encrypted JSON written with json.dumps: a lone surrogate as "\\ud83d"."""
    p = spawn()
    legacy_file.add_task(CAROL, p.pid, "autoPirate", ODD)
    r = run_cli(
        "status",
        "--json",
        IKABOT_PATH=str(legacy_file.path),
        IKABOT_EMAIL=CAROL.email,
        IKABOT_PASSWORD=CAROL.password,
    )
    assert r.code == 0, r.err
    (proc,) = json.loads(r.out)["processes"]
    assert proc["status"] == "x\ufffdy\ufffdz" and proc["state"] == "running"
