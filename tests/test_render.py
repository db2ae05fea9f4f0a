"""render: paging, escaping and plain-text views, on task views built directly."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from telebot import render
from telebot.model import AccountKey, Progress, Task

NOW = 1_700_000_000.0
ACC = AccountKey("a@example.org", "player1", "59", "en")
HALF = Progress(5, 10, "missions")


def task(pid: int = 100, action: str = "autoPirate", status: str = "Mission 5/10 complete",
         state: str = "running", progress: Progress | None = HALF,
         urls: list[str] | None = None, account: AccountKey = ACC, details=None) -> Task:
    return Task(pid=pid, action=action, account=account, status=status, started=NOW - 3720,
                details=details or {}, progress=progress, remaining=None, urls=urls or [],
                alive=state == "running", state=state)  # type: ignore[arg-type]


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
    assert "[#####.....] 5/10 missions" in row
    assert "1 h 2 m" in row


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
    tasks = [task(pid=1000 + i, account=accounts[i % 5], status="Mission 5/10 complete " * 8)
             for i in range(300)]
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
    alive = task(pid=7, action="webServer", status="running on http://127.0.0.1:43527",
                 progress=None, urls=["http://127.0.0.1:43527", "http://192.168.1.100:43527"])
    dead = task(pid=8, action="webServer", state="dead", progress=None,
                urls=["http://127.0.0.1:5000"])
    out = render.webserver_html([alive, dead], now=NOW)
    assert '<a href="http://127.0.0.1:43527">http://127.0.0.1:43527</a>' in out
    assert "http://192.168.1.100:43527" in out
    assert "pid <code>8</code>" in out and "dead" in out
    none = render.webserver_html([task()], now=NOW)
    assert "No ikabot web server is running" in none


def test_details_include_process_details_and_fit():
    details = {"action": "constructionList", "city": {"id": "1", "name": "Athens"},
               "buildings": [{"name": "Academy", "current_level": 3, "target_level": 8,
                              "status": "building"}] * 40,
               "blob": "x" * 10_000}
    t = task(action="constructionList", details=details, progress=None)
    out = render.details_html(t, now=NOW)
    assert "City: Athens" in out and "Academy 3 → 8 (building)" in out
    assert "…and 10 more" in out
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
    for key in ("pid", "action", "username", "world", "server", "status", "started", "alive",
                "state", "progress", "urls"):
        assert key in proc
    assert proc["progress"]["done"] == 5 and proc["progress"]["total"] == 10


def test_a_webserver_with_3000_urls_is_one_message():
    """Each task shows URLS_SHOWN URLs and "+N more": not 40 messages of URLs."""
    urls = [f"http://10.0.{i // 250}.{i % 250}:43527" for i in range(3000)]
    alive = task(pid=7, action="webServer", progress=None, urls=urls)
    dead = task(pid=8, action="webServer", state="dead", progress=None, urls=urls)
    for out in (render.webserver_html([alive, dead], now=NOW), render.details_html(alive)):
        (chunk,) = render.split_message(out)
        assert f"+{3000 - render.URLS_SHOWN} more" in chunk
        assert urls[render.URLS_SHOWN - 1] in chunk and urls[render.URLS_SHOWN] not in chunk
