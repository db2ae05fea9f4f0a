"""Status-string parsers: the real strings ikabot writes, and never an invented figure."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ikabotdata import building_status, queue_status

from telebot.ikabot.statuses import duration, parse_status
from telebot.tasks.model import Progress


def test_webserver_local_and_lan():
    p = parse_status(
        "webServer", "running on http://127.0.0.1:43527 and http://192.168.1.100:43527"
    )
    assert p.urls == ("http://127.0.0.1:43527", "http://192.168.1.100:43527")
    assert p.progress is None


def test_webserver_without_lan_as_ikabot_formats_it():
    # ikabot's f-string leaves a trailing space when there is no LAN address
    p = parse_status("webServer", "running on http://127.0.0.1:5000 ")
    assert p.urls == ("http://127.0.0.1:5000",)


def test_webserver_bad_port_is_not_a_url():
    assert parse_status("webServer", "running on http://127.0.0.1:99999").urls == ()


def test_pirating_remaining_runs():
    p = parse_status("autoPirate", "Pirating for 5 more runs")
    assert p.remaining == 5 and p.progress is None


def test_mission_progress_from_the_seed():
    assert parse_status("autoPirate", "Mission 5/10 complete").progress == Progress(
        5, 10, "missions"
    )


@pytest.mark.parametrize(
    "status",
    [
        "Resolving captcha 3/20",
        "Retrying captcha 4/20",
        "Got captcha: 12/34 missions",
        "Outside of scheduled hours, waiting for the next range",
        "started on 12/05",
        "ratio 3/4",
    ],
)
def test_not_progress(status: str):
    p = parse_status("autoPirate", status)
    assert p.progress is None and p.remaining is None


def test_construction_list_building():
    status = building_status("Athens", "Academy", 4, 3720, 11040) + " , free speedup sent"
    p = parse_status("constructionList", status)
    assert (p.city, p.building, p.level) == ("Athens", "Academy", 4)
    assert (p.remaining_time, p.total_time) == ("1H 2M", "3H 4M")


@pytest.mark.parametrize(
    "current,total", [(0, 0), (3600, 10800), (59, 86400 + 1), (3720, 93784), (300, 86400)]
)
def test_construction_list_reads_ikabots_durations(current: int, total: int):
    """ikabot's `_formatRemainingTime`: upper case, zero parts left out, `0S`, days."""
    p = parse_status("constructionList", building_status("Athens", "Academy", 4, current, total))
    assert (duration(p.remaining_time), duration(p.total_time)) == (current, total)
    assert p.time_left == total  # the task's time left: the queue's total, not one building's
    p = parse_status("constructionList", queue_status("Athens", 3, total))
    assert p.remaining == 3 and p.time_left == total


def test_construction_list_queue():
    p = parse_status("constructionList", queue_status("Athens", 3, 5 * 3600))
    assert p.city == "Athens" and p.remaining == 3 and p.total_time == "5H"


def test_impossible_fraction_is_not_progress():
    assert parse_status("x", "Mission 11/10").progress is None
    assert parse_status("x", "Mission 1/0").progress is None


@pytest.mark.parametrize("status", [None, 5, b"Mission 1/2", ["Mission 1/2"], ""])
def test_non_strings_give_nothing(status: object):
    assert parse_status("autoPirate", status) == parse_status("", "")


@given(
    action=st.sampled_from(["autoPirate", "webServer", "constructionList", "", "x"]),
    status=st.text(max_size=300),
)
@settings(max_examples=400, deadline=None)
def test_never_raises_and_never_invents(action: str, status: str):
    p = parse_status(action, status)
    if p.progress is not None:
        assert 0 <= p.progress.done <= p.progress.total
        assert re.search(rf"\b0*{p.progress.done}\s*/\s*0*{p.progress.total}\b", status)
    if p.remaining is not None:
        assert str(p.remaining) in status
    for url in p.urls:
        assert url in status


@given(st.integers(0, 10**6), st.integers(1, 10**6), st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_mission_figures_round_trip(done: int, total: int, tail: str):
    p = parse_status("autoPirate", f"Mission {done}/{total} {tail}")
    if "captcha" in tail.lower():
        assert p.progress is None
    elif done <= total:
        assert p.progress == Progress(done, total, "missions")
    else:
        assert p.progress is None


def test_parse_cache_keeps_clipped_statuses_only():
    """4,096 distinct statuses of 20 KB (a task that writes its whole log into its status)
    must cost the parser's cache their clipped length, not 84 MB."""
    import tracemalloc

    from telebot.ikabot.statuses import PARSE_CACHE, STATUS_PARSE_MAX, _parse_cached

    _parse_cached.cache_clear()
    tracemalloc.start()
    try:
        for i in range(PARSE_CACHE):
            status = f"Mission {i % 10}/10 " + f"{i:06d}" * (20_000 // 6)
            assert parse_status("autoPirate", status).progress == Progress(i % 10, 10, "missions")
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        _parse_cached.cache_clear()
    assert held < 2 * PARSE_CACHE * STATUS_PARSE_MAX, held  # ~8 MB of text at most, not 84
