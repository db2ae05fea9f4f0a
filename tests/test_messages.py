"""Every kind of message telebot sends, built from arbitrary ikabot text, is one Telegram
accepts: valid HTML of Telegram's tags, entities escaped, at most 4096 characters a message,
and no control character or bidi override from ikabot in what the player sees."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from util import DEADLINE

from telebot.alerts.ending import Ending
from telebot.alerts.storms import text_of
from telebot.alerts.texts import Ended, stalled_text
from telebot.bot import handlers
from telebot.demo.fakeapi import FakeBotAPI, parse_html, utf16_len
from telebot.state import Tracked
from telebot.tasks.model import AccountKey, Progress, Task
from telebot.views import render
from telebot.views.page import details_html

TOKEN = "123:MSG"
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
NASTY = st.sampled_from(
    [
        "<b>",
        "</i>",
        "&amp",
        "&",
        "<pid>",
        "\x1b]0;pwned\x07",
        "\x1b[2J",
        "\u202e",
        "a" * 5000,
        "🏴‍☠️" * 30,
        "\n",
        "<a href='x'>",
    ]
)
TEXT = st.one_of(
    st.text(max_size=300),
    NASTY,
    st.lists(st.one_of(st.text(max_size=20), NASTY), max_size=6).map("".join),
)


@pytest.fixture(scope="module")
def api():
    with FakeBotAPI(token=TOKEN) as server:
        yield server


def accepted(api: FakeBotAPI, text: str, clean: bool = True) -> None:
    """Send it as telebot does; Telegram's rules are the loopback server's."""
    body = json.dumps({"chat_id": 42, "text": text, "parse_mode": "HTML"}).encode()
    request = urllib.request.Request(
        f"{api.base_url}{TOKEN}/sendMessage",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as r:
            assert json.load(r)["ok"]
    except urllib.error.HTTPError as e:  # the failure message says what Telegram refused
        raise AssertionError(f"{e.read()!r}: {text!r}") from None
    visible = parse_html(text)
    assert utf16_len(visible) <= 4096
    if clean:
        assert not INVISIBLE.search(visible), visible


def tracked(pid: int, action: str, user: str, status: str, now: float) -> Tracked:
    return Tracked(
        pid,
        1000 + pid,
        now - 999,
        f"{user}@x.org",
        user,
        "59",
        "en",
        action,
        status,
        {"done": 3, "total": 10, "unit": "runs", "current": 4},
        7,
        [f"http://127.0.0.1:{pid}"],
        now - 999,
        now - 5,
        now - 600,
        None,
        None,
        None,
    )


@given(
    actions=st.lists(TEXT, min_size=1, max_size=4),
    users=st.lists(TEXT, min_size=1, max_size=3),
    statuses=st.lists(TEXT, min_size=1, max_size=4),
    cause=TEXT,
    unit=TEXT,
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_message_kind_is_accepted_by_telegram(api, actions, users, statuses, cause, unit):
    now = time.time()
    tasks = []
    for i, status in enumerate(statuses * 3):
        user = users[i % len(users)]
        key = AccountKey(f"{user}@x.org", user, "59", "en")
        alive = i % 3 != 2
        tasks.append(
            Task(
                pid=100 + i,
                action=actions[i % len(actions)],
                account=key,
                status=status,
                started=now - 99 * i,
                details={"note": status},
                progress=Progress(i, 10, unit) if i % 2 else None,
                remaining=None,
                urls=[f"http://127.0.0.1:{5000 + i}"],
                alive=alive,
                state="running" if alive else "dead",
            )
        )
    messages = [handlers.HELP]
    views = render.status_view(tasks, now)
    messages += [v.text for v in views]
    messages += [
        render.stopped_page(tasks, 0, now).text,
        render.webserver_html(tasks, now),
        render.report_html(tasks, now),
    ]
    messages += [details_html(t, now) for t in tasks]
    ends = []
    for i, t in enumerate(tasks):
        row = tracked(t.pid, t.action, t.account.username, t.status, now)
        how = ("finished", "failed", "killed", "died", "stopped")[i % 5]
        ending = Ending(
            how,
            1 if how == "failed" else None,
            "SIGKILL" if how == "killed" else None,
            cause if how == "failed" else None,
            probably=i % 2 == 0,
        )
        ends.append(Ended(row, ending, now, offline=i % 3 == 0))
        messages.append(stalled_text(row, now))
    messages += [text_of([e]) for e in ends] + [text_of(ends)]
    for m in messages:
        for chunk in render.split_message(m):
            accepted(api, chunk)


@given(text=TEXT)
@example(text="\r\r\r\r")  # once gave a chunk of "\r" alone, which Telegram refuses
@example(text="\r" * 300)
@example(text="\x1c\x1d\x1e\x1f\x85\u2028 ")  # whitespace to Python, all of it
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_split_message_never_cuts_a_tag_or_an_entity(api, text):
    """The last resort for a line over the limit: tags dropped, entities whole, and no chunk
    of whitespace alone (the loopback API refuses it as Telegram does)."""
    import html

    line = f"<b>{html.escape(text.replace(chr(10), ' '))}</b> " * 40 + "&lt;end&gt;"
    for chunk in render.split_message(line, limit=200):
        accepted(api, chunk, clean=False)
        assert utf16_len(chunk) <= 200


@given(
    actions=st.lists(TEXT, min_size=1, max_size=3),
    users=st.lists(TEXT, min_size=1, max_size=4),
    n=st.integers(1, 300),
    lang=st.sampled_from(["en", "es", "pt"]),
    why=TEXT,
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_reboot_message_is_one_message_telegram_accepts(api, actions, users, n, lang, why):
    """After a reboot, however many tasks ended and whatever ikabot wrote: one message
    (never split), within Telegram's limits, also once keep-alive has edited every kept
    task's line with the longest reason it can give."""
    from telebot import i18n
    from telebot.alerts.texts import note_html, reboot_lines
    from telebot.keepalive.keeper import retold

    now = time.time()
    ends = []
    for i in range(n):
        row = tracked(100 + i, actions[i % len(actions)], users[i % len(users)], why, now)
        ends.append(
            Ended(
                row,
                Ending("died", None, None, None),
                now,
                offline=True,
                note="♻️ restarting in 10 s" if i % 2 else "",
            )
        )
    with i18n.in_language(lang):
        text = "\n".join(reboot_lines(ends, (n + 1) // 3, n // 3))
    assert render.tg_len(text) <= render.TELEGRAM_LIMIT
    accepted(api, text)
    for e in ends[1::2]:
        note = "♻️ not restarted: " + why * 50
        text = retold(text, e.row.pid, "♻️ restarting in 10 s", note_html(note), True)
    assert render.tg_len(text) <= render.TELEGRAM_LIMIT, render.tg_len(text)
    accepted(api, text)
