"""Every status format the installed ikabot writes is read here, or listed as saying nothing.

The source-walking test reads ikabot's own code (`ast`: every `setStatus(` argument) and fails
when a format appears that `telebot.ikabot.statuses` neither reads nor lists in SAYS_NOTHING:
a new ikabot release's statuses are caught here, not by players.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from telebot.ikabot.statuses import FORMATS, SAYS_NOTHING, duration, parse_status
from telebot.tasks.model import AccountKey, Task
from telebot.views import render
from telebot.views.page import details_html


def template(node: ast.expr) -> str:
    """The format a setStatus argument writes, with `{}` for every value."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return template(node.left) + template(node.right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    ):
        return re.sub(r"\{[^{}]*\}", "{}", str(node.func.value.value))
    return "{}"


def ikabot_templates() -> dict[str, list[str]]:
    spec = importlib.util.find_spec("ikabot")
    assert spec is not None and spec.origin, "ikabot (a test dependency) is not installed"
    root = Path(spec.origin).parent
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "setStatus"
                and node.args
            ):
                where = f"{path.relative_to(root)}:{node.lineno}"
                found.setdefault(template(node.args[0]), []).append(where)
    return found


def test_every_setstatus_format_of_ikabot_is_read_or_says_nothing():
    found = ikabot_templates()
    assert "Pirating for {} more runs" in found  # the walk itself works
    known = {t for f in FORMATS for t in f.templates} | set(SAYS_NOTHING)
    unknown = {t: where for t, where in found.items() if t not in known}
    assert unknown == {}, (
        "ikabot writes status formats telebot neither reads nor lists in "
        f"statuses.SAYS_NOTHING: {unknown}"
    )


def dt(ts: float) -> str:
    return time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(ts))


NOW = float(int(time.time()))


@pytest.mark.parametrize(
    "action,status,expect",
    [
        ("autoPirate", "Pirating for 7 more runs", {"remaining": 7, "remaining_unit": "runs"}),
        (
            "constructionList",
            "Athens: Academy -> level 5 , current 1H 2M , total 3H 4M",
            {
                "city": "Athens",
                "building": "Academy",
                "level": 5,
                "time_left": 11040.0,
                "remaining_time": "1H 2M",
                "total_time": "3H 4M",
            },
        ),
        (
            "constructionList",
            "Athens: Academy -> level 5 , current 4M 10S , total 4M 10S , free speedup sent",
            {"city": "Athens", "time_left": 250.0},
        ),
        (
            "constructionList",
            "Sparta: queued 3 upgrades | total 1D 2H 3M",
            {"city": "Sparta", "remaining": 3, "remaining_unit": "upgrades", "time_left": 93780.0},
        ),
        (
            "constructionList",
            f"Waiting until {dt(NOW + 600)}, Academy 4 -> 5 in Athens, final lvl: 8",
            {"next_at": NOW + 600, "city": "Athens", "level": 5},
        ),
        (
            "activateMiracle",
            f"Activated Hephaestus' Forge @{dt(NOW)}, iterations left: 4",
            {"remaining": 4},
        ),
        (
            "activateMiracle",
            f"Miracle Forge is activated. Available at: {dt(NOW + 7200)}",
            {"next_at": NOW + 7200},
        ),
        (
            "activateShrine",
            f"Activated Zeus, Hera @{dt(NOW)}, current favor: 1,250",
            {"total": "favour 1,250"},
        ),
        (
            "activateShrine",
            f"Not enough favor @{dt(NOW)}, re-trying in 3h.",
            {"next_at": NOW + 3 * 3600},
        ),
        (
            "consolidateResources",
            f"Sent 12,000 resources from Athens, Sparta -> Corinth | "
            f"Total sent: 48,000 | Next shipment at {dt(NOW + 3600)}",
            {"city": "Corinth", "total": "total sent 48,000", "next_at": NOW + 3600},
        ),
        (
            "donationBot",
            "Checking cities... | Total Donated: 5,000",
            {"total": "total donated 5,000"},
        ),
        (
            "donationBot",
            f"Donated: 100 | Total: 5,100 @{dt(NOW)}",
            {"total": "total donated 5,100"},
        ),
        (
            "loginDaily",
            f"Last activity @{dt(NOW)}, next activity @{dt(NOW + 7800)}",
            {"next_at": NOW + 7800},
        ),
        (
            "research",
            f"Experiment done in Athens @{dt(NOW)}, left = 3 time (s)",
            {"city": "Athens", "remaining": 3},
        ),
        ("research", f"Cooldown is still in effect in Athens @{dt(NOW)}", {"city": "Athens"}),
        (
            "research",
            f"Experiment skipped in Sparta, not enough crystal (120) @{dt(NOW)}",
            {"city": "Sparta"},
        ),
        (
            "resourceTransportManager",
            f"Athens -> Sparta | Shipments: 4 | Next: {dt(NOW + 60)}",
            {"total": "4 shipments", "next_at": NOW + 60},
        ),
        ("UpgradeUnits", "Workshop upgrade in progress (~42m)...", {"time_left": 2520.0}),
        ("autoPirate", "Resolving captcha 3/20", {"progress": None, "remaining": None}),
        (
            "resourceTransportManager",
            "A -> B | Waiting for shipping lock (attempt 1/3)...",
            {"progress": None},
        ),
        ("autoPirate", "Mission 5/10 complete", {}),  # the producer API's (and seed's) format
    ],
)
def test_each_format_says_what_it_says(action, status, expect):
    parsed = parse_status(action, status)
    for name, value in expect.items():
        assert getattr(parsed, name) == value, (name, parsed)


def test_durations():
    assert duration("1D 2H 3M 4S") == 93784 and duration("1h 2m") == 3720
    assert duration("0S") == 0 and duration("soon") is None and duration("3 apples") is None


def test_shown_as_a_person_reads_them():
    now = NOW
    key = AccountKey("a@b.c", "alice", "59", "en")

    def line(action: str, status: str) -> str:
        parsed = parse_status(action, status)
        task = Task(
            pid=1,
            action=action,
            account=key,
            status=status,
            started=now - 60,
            details={},
            progress=parsed.progress,
            remaining=parsed.remaining,
            urls=[],
            alive=True,
            state="running",
            parsed=parsed,
        )
        return render.said(task, now)

    then = datetime.fromtimestamp(now + 7800, ZoneInfo("Asia/Kolkata"))  # TELEBOT_TZ (conftest)
    assert line("loginDaily", f"Last activity @{dt(now)}, next activity @{dt(now + 7800)}") in (
        f"next run in 2 h 10 m ({then:%H:%M} IST)",  # the same day there
        f"next run in 2 h 10 m ({then:%b %d %H:%M} IST)",
    )
    assert line("UpgradeUnits", "Upgrade in progress (~42m)...") == "42 m left"
    assert (
        line("constructionList", "Sparta: queued 3 upgrades | total 2H")
        == "3 upgrades left · 2 h 0 m left"
    )
    assert line("donationBot", "Checking cities... | Total Donated: 5,000") == "total donated 5,000"
    assert line("autoPirate", "Pirating for 5 more runs") == "5 runs left, this one included"
    assert (
        line("activateShrine", f"Not enough favor @{dt(now - 4 * 3600)}, re-trying in 3h.")
        == "next run due"
    )


def test_status_and_details_show_what_the_status_says():
    """In /status and /details, not only in the parser: a task without a progress figure
    still shows its next run."""
    now = NOW
    status = f"Last activity @{dt(now)}, next activity @{dt(now + 7800)}"
    parsed = parse_status("loginDaily", status)
    task = Task(
        pid=7,
        action="loginDaily",
        account=AccountKey("a@b.c", "alice", "59", "en"),
        status=status,
        started=now - 60,
        details={},
        progress=None,
        remaining=None,
        urls=[],
        alive=True,
        state="running",
        parsed=parsed,
    )
    assert "next run in 2 h 10 m" in render.task_line(task, now)
    assert "Progress: next run in 2 h 10 m" in details_html(task, now)


@pytest.mark.parametrize("zone", ["XST-5:30", "YST+7"])  # POSIX TZ rules: UTC+5:30, UTC-7
def test_ikabots_dates_are_read_in_the_machines_local_time(zone, monkeypatch):
    """ikabot writes `getDateTime()`: the machine's local time, no zone. Read in UTC it would
    be hours off on any host not on UTC: so the test runs in zones that are not UTC, whatever
    the host's, and puts the host's zone back."""
    from ikabot.helpers.varios import getDateTime

    from telebot.ikabot.statuses import _parse_cached

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        _parse_cached.cache_clear()  # parsed under another zone
        now = float(int(time.time()))
        status = f"Miracle Forge is activated. Available at: {getDateTime(now + 7200)}"
        assert parse_status("activateMiracle", status).next_at == now + 7200
    finally:
        monkeypatch.undo()
        time.tzset()
        _parse_cached.cache_clear()
