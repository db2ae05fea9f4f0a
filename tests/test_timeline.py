"""/timeline: the picture of what ran, from telebot's own memory, sent as a photo the strict
loopback Bot API accepts; `telebot timeline --out`; the report's picture."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from botharness import fast_settings, running_bot
from telegram import Bot
from telegram.error import BadRequest

from telebot.bot.timeline_commands import gather
from telebot.demo.fakeapi import FakeBotAPI, png_size
from telebot.state import StateDB, Tracked
from telebot.views import timeline
from telebot.views.timeline import COLOURS, MAX_ROWS, Span


def spans(n: int, now: float, hours: float = 24, *, seed: int = 1) -> list[Span]:
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        start = now - rng.uniform(0, hours * 3600)
        outcome = rng.choice(timeline.OUTCOMES)
        end = (
            now
            if outcome in ("running", "stalled")
            else min(now, start + rng.uniform(60, 6 * 3600))
        )
        out.append(
            Span(
                (1000 + i, i),
                f"player{i % 3} (s59-en)",
                rng.choice(["autoPirate", "webServer", "constructionList"]),
                start,
                start + 30,
                end,
                outcome,
                (999 + i, i - 1) if i % 7 == 0 else None,
            )
        )
    return out


def pixels(png: bytes, colour: str) -> int:
    """How many pixels of the picture are exactly this colour."""
    from matplotlib import image

    rgb = (image.imread(io.BytesIO(png), format="png")[..., :3] * 255).round().astype(int)
    want = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return int((rgb == want).all(axis=-1).sum())


def test_200_tasks_draw_the_most_recent_30_and_count_the_rest():
    now = time.time()
    many = spans(200, now)
    rows = timeline.chosen(many)
    assert len(rows) == MAX_ROWS
    assert any(r.outcome not in ("running", "stalled") for r in rows)  # ends always show
    pic = timeline.png(many, now, 24)
    assert pic.drawn == MAX_ROWS and pic.more == 200 - MAX_ROWS
    assert pic.caption.startswith("200 ran · ") and f"+{200 - MAX_ROWS} more" in pic.caption
    width, height = png_size(pic.png)
    assert width == 1088 and height <= 2560  # a phone's width; Telegram's tallest photo side


def test_each_way_of_ending_has_its_own_colour_in_the_bars():
    """One bar of each kind: its colour grows by a bar's worth of pixels, no other does."""
    now = time.time()
    empty = timeline.png([], now, 24).png
    base = {o: pixels(empty, c) for o, c in COLOURS.items()}
    for outcome in timeline.OUTCOMES:
        one = [
            Span((1, 1), "alice (s59-en)", "autoPirate", now - 7200, now - 7200, now - 600, outcome)
        ]
        png = timeline.png(one, now, 24).png
        grown = {o: pixels(png, c) - base[o] for o, c in COLOURS.items()}
        assert grown[outcome] > 1000, outcome
        assert all(n < 100 for o, n in grown.items() if o != outcome), (outcome, grown)


def test_caption_counts_every_way_of_ending():
    now = time.time()
    rows = [
        Span((i, i), "a", "autoPirate", now - 100, now - 100, now, o)
        for i, o in enumerate(["finished"] * 11 + ["killed"] * 2 + ["failed"])
    ]
    assert timeline.caption(rows, 24) == "14 ran · 11 finished · 1 failed · 2 killed (last 24 h)"
    assert "Nothing ran" in timeline.caption([], 24)


def test_hours_argument():
    assert timeline.hours_arg(None) == 24 and timeline.hours_arg("168") == 168
    for bad in ("0", "169", "nan", "abc", "-1"):
        with pytest.raises(ValueError):
            timeline.hours_arg(bad)


def _tracked(pid: int, now: float, ended: str | None, *, hours_ago: float) -> Tracked:
    start = now - hours_ago * 3600
    return Tracked(
        pid,
        5000 + pid,
        start,
        "a@b.c",
        "alice",
        "59",
        "en",
        "autoPirate",
        "s",
        None,
        None,
        [],
        start,
        now - 30,
        start,
        None,
        None,
        None,
    )


def test_gather_reads_what_telebot_tracked_and_the_run_again_links(tmp_path):
    now = time.time()
    state = StateDB(tmp_path / "state")
    try:
        for pid, ended, ago in ((1, "killed", 3), (2, None, 2), (3, "finished", 60)):
            state.tracking.track(_tracked(pid, now, ended, hours_ago=ago))
            if ended:
                state.tracking.end(pid, 5000 + pid, ended, now - (ago - 1) * 3600)
        state.recordings.add(
            {
                "pid": 2,
                "start_ticks": 5002,
                "action": "autoPirate",
                "email": "a@b.c",
                "username": "alice",
                "world": "59",
                "server": "en",
                "steps": "[]",
                "recorded_at": now,
                "again_of_pid": 1,
                "again_of_ticks": 5001,
            }
        )
        got = {s.pid: s for s in gather(state, now, 24)}
    finally:
        state.close()
    assert set(got) == {1, 2}  # pid 3 ended 59 hours ago: not in the last 24
    assert got[1].outcome == "killed" and got[2].outcome == "running"
    assert got[2].replaces == (1, 5001) and got[2].account == "alice (s59-en)"


async def test_loopback_api_accepts_only_a_real_png_and_a_short_caption(api: FakeBotAPI):
    pic = timeline.png(spans(5, time.time()), time.time(), 24)
    broken = bytearray(pic.png)
    broken[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    async with Bot(api.token, base_url=api.base_url) as bot:
        m = await bot.send_photo(42, pic.png, caption=pic.caption)
        assert m.caption == pic.caption and m.photo[0].width == 1088
        for photo, caption in (
            (b"GIF89a not a png", "x"),
            (bytes(broken), "x"),
            (pic.png, "x" * 1025),
        ):
            with pytest.raises(BadRequest):
                await bot.send_photo(42, photo, caption=caption)
        with pytest.raises(BadRequest, match="parse entities"):
            await bot.send_photo(42, pic.png, caption="<b>open", parse_mode="HTML")
    assert api.sent()[-1]["photo"]["png"] == pic.png


async def test_timeline_command_sends_the_picture_of_what_telebot_saw(world, api, tmp_path):
    s = fast_settings(world["dir"].path, api, tmp_path / "state")
    async with running_bot(s, api) as bot:
        world["web"].kill()
        world["web"].wait()
        assert await bot.wait(lambda: any("killed (SIGKILL)" in t for t in bot.texts()))
        (reply,) = await bot.ask("/timeline")
        assert reply["photo"] and png_size(reply["photo"]["png"])[0] == 1088
        assert reply["text"] == "3 ran · 1 killed · 2 still running (last 24 h)"
        assert pixels(reply["photo"]["png"], COLOURS["killed"]) > 200
        (reply,) = await bot.ask("/timeline 500")
        assert "Usage: /timeline" in reply["text"] and not reply.get("photo")
        assert "timeline" in {c["command"] for c in api.commands()}


async def test_the_report_carries_the_picture_when_asked(world, api, tmp_path):
    s = fast_settings(
        world["dir"].path, api, tmp_path / "state", report_minutes=0.005, report_picture=True
    )
    async with running_bot(s, api) as bot:
        assert await bot.wait(lambda: any(m.get("photo") for m in api.sent()), 30)
        photo = next(m for m in api.sent() if m.get("photo"))
        assert "3 ran" in photo["text"]
        texts = bot.texts()
        assert any("Progress report" in t for t in texts[: texts.index(photo["text"])])


def test_cli_writes_the_picture_and_refuses_bad_input(tmp_path: Path, run_cli):
    now = time.time()
    state_dir = tmp_path / "state"
    out = tmp_path / "t.png"
    r = run_cli("timeline", "--out", str(out), TELEBOT_STATE_DIR=str(state_dir))
    assert r.code == 2 and "no telebot database" in r.err and "Traceback" not in r.err
    state = StateDB(state_dir)
    state.tracking.track(_tracked(7, now, None, hours_ago=30))
    state.close()
    r = run_cli("timeline", "--hours", "48", "--out", str(out), TELEBOT_STATE_DIR=str(state_dir))
    assert r.code == 0, r.err
    assert png_size(out.read_bytes())[0] == 1088 and "1 ran · 1 still running" in r.out
    for args in (("--hours", "500"), ("--hours", "x")):
        r = run_cli("timeline", *args, "--out", str(out), TELEBOT_STATE_DIR=str(state_dir))
        assert r.code == 2 and r.err.count("\n") == 1 and "--hours" in r.err
    r = run_cli(
        "timeline", "--out", str(tmp_path / "nowhere" / "t.png"), TELEBOT_STATE_DIR=str(state_dir)
    )
    assert r.code == 2 and "--out" in r.err
