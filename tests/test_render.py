"""render: paging, escaping and plain-text views, on task views built directly."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from telebot.tasks.model import AccountKey, Progress, Task
from telebot.views import render
from telebot.views.page import details_html

NOW = 1_700_000_000.0
ACC = AccountKey("a@example.org", "player1", "59", "en")
HALF = Progress(5, 10, "missions")


def task(
    pid: int = 100,
    action: str = "autoPirate",
    status: str = "Mission 5/10 complete",
    state: str = "running",
    progress: Progress | None = HALF,
    urls: list[str] | None = None,
    account: AccountKey = ACC,
    details=None,
) -> Task:
    return Task(
        pid=pid,
        action=action,
        account=account,
        status=status,
        started=NOW - 3720,
        details=details or {},
        progress=progress,
        remaining=None,
        urls=urls or [],
        alive=state == "running",
        state=state,
    )  # type: ignore[arg-type]


def test_fmt_age_units():
    assert render.fmt_age(5) == "5 s"
    assert render.fmt_age(125) == "2 m"
    assert render.fmt_age(3 * 3600 + 12 * 60) == "3 h 12 m"
    assert render.fmt_age(2 * 86400 + 4 * 3600) == "2 d 4 h"
    assert render.fmt_age(-10) == "0 s"


def test_status_table_has_progress_and_columns():
    out = render.status_table([task()], now=NOW)
    header, row = out.splitlines()
    assert header.split()[:6] == ["PID", "ACCOUNT", "TASK", "STATE", "PROGRESS", "AGE"]
    assert "100" in row and "autoPirate" in row and "running" in row
    assert "[#####.....] 5 of 10 missions done" in row
    assert "up 1 h 2 m" in row


def test_status_pages_escape_ikabot_text():
    evil = task(status="<b>unclosed & <script>", action="a<b>")
    page = render.status_pages([evil], now=NOW)[0]
    assert "<script>" not in page
    assert html.escape("<b>unclosed & <script>") in page
    assert "a&lt;b&gt;" in page


def _balanced(markup: str) -> bool:
    stack: list[str] = []
    for m in re.finditer(r"<(/?)([a-z]+)[^>]*>", markup):
        closing, name = m.group(1), m.group(2)
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


def test_300_tasks_page_under_limit_with_every_task_once():
    accounts = [AccountKey(f"u{i}@x.org", f"user{i}", str(i), "en") for i in range(5)]
    tasks = [
        task(pid=1000 + i, account=accounts[i % 5], status="Mission 5/10 complete " * 8)
        for i in range(300)
    ]
    pages = render.status_pages(tasks, now=NOW)
    assert len(pages) > 1
    for page in pages:
        assert render.tg_len(page) <= render.TELEGRAM_LIMIT
        assert _balanced(page)
    joined = "\n".join(pages)
    for i in range(300):
        assert joined.count(f"<code>{1000 + i}</code>") == 1
    # a page that starts inside an account says whose tasks these are
    for page in pages[1:]:
        assert page.startswith("👤")


def test_webserver_lists_running_urls_and_notes_dead_ones():
    alive = task(
        pid=7,
        action="webServer",
        status="running on http://127.0.0.1:43527",
        progress=None,
        urls=["http://127.0.0.1:43527", "http://192.168.1.100:43527"],
    )
    dead = task(
        pid=8, action="webServer", state="dead", progress=None, urls=["http://127.0.0.1:5000"]
    )
    out = render.webserver_html([alive, dead], now=NOW)
    assert '<a href="http://127.0.0.1:43527">http://127.0.0.1:43527</a>' in out
    assert "http://192.168.1.100:43527" in out
    assert "1 web server recorded but gone (pid 8): its URL no longer works" in out
    assert "only on that machine" in out  # 127.0.0.1 from a phone: the hint
    assert out.count("only on that machine") == 1  # the LAN address needs none
    # the tunnel names the port the URL has, not a PORT to fill in (issue 29, item 6)
    assert "ssh -L 43527:127.0.0.1:43527 you@host, then http://127.0.0.1:43527/" in out
    assert "PORT" not in out
    docker = task(pid=9, action="webServer", progress=None, urls=["http://172.17.0.2:8000"])
    gone = [task(pid=20 + i, action="webServer", state="dead", progress=None) for i in range(3)]
    out = render.webserver_html([docker, *gone], now=NOW)
    assert "(a container's address: only from the machine running it)" in render.html_to_text(out)
    assert "ssh -L 8000:172.17.0.2:8000 you@host, then http://127.0.0.1:8000/" in out
    low = task(pid=10, action="webServer", progress=None, urls=["http://localhost/admin"])
    assert (
        "ssh -L 8080:localhost:80 you@host, then http://127.0.0.1:8080/admin"
        in render.webserver_html([low], now=NOW)
    )  # no port in the URL: 80, tunnelled from 8080
    assert "⚠️ 3 web servers recorded but gone (pid 20, 21, 22): their URLs no longer work." in out
    assert out.count("⚠️") == 1  # one line for all that are gone
    none = render.webserver_html([task()], now=NOW)
    assert "No ikabot web server is running" in none


def test_details_include_process_details_and_fit():
    details = {
        "action": "constructionList",
        "city": {"id": "1", "name": "Athens"},
        "buildings": [
            {"name": "Academy", "current_level": 3, "target_level": 8, "status": "building"}
        ]
        * 40,
        "blob": "x" * 10_000,
    }
    t = task(action="constructionList", details=details, progress=None)
    out = details_html(t, now=NOW)
    assert "Building queue in Athens:" in out and "• Academy: level 3 → 8 (building)" in out
    assert "…and 20 more" in out and "{" not in out
    assert render.tg_len(out) <= render.TELEGRAM_LIMIT
    assert _balanced(out)


@given(st.text(max_size=3000))
@settings(max_examples=200, deadline=None)
def test_split_message_keeps_everything_under_limit(text: str):
    chunks = render.split_message(text, limit=500)
    assert all(render.tg_len(c) <= 500 for c in chunks)
    assert all(render.html_to_text(c).strip() for c in chunks)  # Telegram refuses blank ones
    # nothing visible is lost: only the line breaks chosen as cut points, and chunks of
    # whitespace alone (Telegram trims a message's whitespace anyway)
    assert re.sub(r"\s", "", "".join(chunks)) == re.sub(r"\s", "", text)


def test_html_to_text_shows_links_and_unescapes():
    markup = '<b>a &amp; b</b> <a href="http://x:1">here</a> <a href="http://y:2">http://y:2</a>'
    assert render.html_to_text(markup) == "a & b here (http://x:1) http://y:2"


def test_json_shape_has_contract_keys():
    data = render.as_json([task(urls=["http://127.0.0.1:1"])])
    proc = data["processes"][0]
    for key in (
        "pid",
        "action",
        "username",
        "world",
        "server",
        "status",
        "started",
        "alive",
        "state",
        "progress",
        "urls",
    ):
        assert key in proc
    assert proc["progress"]["done"] == 5 and proc["progress"]["total"] == 10


def test_details_a_person_reads():
    """/details: labelled lines, plain words, times in TELEBOT_TZ with the zone said; no JSON,
    no epoch numbers, no Python reprs (issue 18, item 3)."""
    details = {
        "action": "autoPirate",
        "timestamp": NOW - 100,
        "missions": {"total": 10, "completed": 4, "remaining": 6},
        "schedule": {
            "enabled": True,
            "day_mission": 3,
            "day_hours": [10, 18],
            "night_mission": 7,
            "night_hours": [19, 9],
        },
        "custom_port": False,
        "last_run_at": NOW - 600,
        "convertPerMission": 2,
        "targets": {"city": "Athens", "limit": None},
    }
    t = task(
        details=details,
        status="Pirating for 6 more runs",
        progress=Progress(4, 10, "runs", current=5),
    )
    t.history = [(NOW - 900, "started"), (NOW - 800, "Pirating for 6 more runs")]
    out = details_html(t, now=NOW)
    text = render.html_to_text(out)
    assert "Progress: ████░░░░░░ run 5 of 10 (4 done)" in text
    assert "Schedule: day: mission 3, 10:00–18:00 · night: mission 7, 19:00–09:00" in text
    assert "custom port: no" in text and "convert per mission: 2" in text
    assert "targets: city Athens, limit none" in text
    assert "last run at: 2023-11-15 03:33 IST" in text  # NOW - 600 in Asia/Kolkata (conftest)
    assert "Started: 2023-11-15 02:41 IST · up 1 h 2 m" in text
    assert "Status changes (IST):\n  03:28:20 started\n  03:30:00 Pirating for 6 more runs" in text
    assert "{" not in text and "False" not in text and "True" not in text
    assert not re.search(r"\d{9,}", text)  # no epoch number anywhere


def test_a_webserver_with_3000_urls_is_one_message():
    """Each task shows URLS_SHOWN URLs and "+N more": not 40 messages of URLs."""
    urls = [f"http://10.0.{i // 250}.{i % 250}:43527" for i in range(3000)]
    alive = task(pid=7, action="webServer", progress=None, urls=urls)
    dead = task(pid=8, action="webServer", state="dead", progress=None, urls=urls)
    for out in (render.webserver_html([alive, dead], now=NOW), details_html(alive)):
        (chunk,) = render.split_message(out)
        assert f"+{3000 - render.URLS_SHOWN:,} more" in chunk  # 2,995: English groups digits
        assert urls[render.URLS_SHOWN - 1] in chunk and urls[render.URLS_SHOWN] not in chunk


def test_details_of_an_ended_task_draw_the_bar_below_the_sentence():
    """'Ended: killed (SIGKILL) during run 5 of 10 …', then the bar on a line of its own: the
    bar never sits between 'Ended:' and the words (issue 29, item 6)."""
    t = task(state="dead", progress=Progress(4, 10, "runs", current=5))
    t.ended = {"how": "killed", "exit_status": None, "signal": "SIGKILL", "at": NOW - 60}
    lines = render.html_to_text(details_html(t, now=NOW)).splitlines()
    (ended,) = [i for i, line in enumerate(lines) if line.startswith("Ended: ")]
    assert lines[ended].startswith("Ended: killed (SIGKILL) during run 5 of 10 (4 done) · ")
    assert "█" not in lines[ended] and "░" not in lines[ended]
    assert lines[ended + 1] == "████░░░░░░"
