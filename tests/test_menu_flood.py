"""A menu that prints without end (issue 23, "as an attacker would"): what ikabot prints can
carry text other players chose (a city, an alliance), so the menu's output is untrusted.

- `menu.bounded` keeps what pyte would grow without bound bounded: an OSC sequence without
  end, a CSI sequence of endless digits, a character with thousands of combining marks;
- through the running bot, a real process as IKABOT_COMMAND floods its terminal: the screen
  message is edited at most once a second, never over Telegram's 4096 characters, a 429's
  retry_after is waited out, /status is answered meanwhile, and the last screen is shown.
Memory and CPU over minutes of it: `bench/bench_menu_flood.py` (BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from pathlib import Path

import pyte
import pytest
from botharness import OWNER, fast_settings, running_bot
from menuharness import no_leftovers, screen
from util import until

from telebot.menu.bounded import CSI_MAX, MARKS_MAX, OSC_MAX, OutputFilter
from telebot.menu.terminal import PacedReader, Terminal

ACUTE = "\u0301".encode()


def shown(*chunks: bytes) -> pyte.Screen:
    """What pyte's screen shows once `chunks` went through the filter, as Terminal feeds it."""
    screen = pyte.Screen(80, 10)
    stream, f = pyte.Stream(screen), OutputFilter()
    for chunk in chunks:
        stream.feed(f.feed(chunk))
    return screen


def test_ordinary_output_passes_unchanged_in_any_split():
    data = ("\x1b[2J\x1b[H\x1b[1;32m(1) Auto-Pirate\x1b[0m é ü 城\r\n >>  ").encode()
    whole = OutputFilter().feed(data)
    assert whole == data.decode()
    for cut in range(1, len(data)):  # a sequence or a character split between two reads
        f = OutputFilter()
        assert f.feed(data[:cut]) + f.feed(data[cut:]) == whole, cut


def test_an_osc_without_end_is_dropped_then_abandoned():
    f = OutputFilter()
    assert f.feed(b"a\x1b]0;title\x07b\x1b]2;t\x1b\\c") == "abc"
    # without an end: nothing of it is kept, and after OSC_MAX characters it is over
    assert f.feed(b"\x1b]0;" + b"A" * (OSC_MAX - 2)) == ""
    assert f.feed(b"A" * 10) == "A" * 9  # the rest is text again
    assert (
        shown(b"\x1b]0;" + b"x" * (10 * OSC_MAX), b"\x1b[2J\x1b[Hvisible")
        .display[0]
        .startswith("visible")
    )


def test_a_csi_of_endless_digits_is_dropped_whole():
    f = OutputFilter()
    assert f.feed(b"a\x1b[" + b"9" * (CSI_MAX + 1) + b"mb") == "ab"
    assert f.feed(b"a\x1b[" + b"9" * 30000) == "a"
    assert f.feed(b"9" * 30000 + b"Jb\x1b[1mc") == "b\x1b[1mc"
    assert shown(b"\x1b[" + b"9" * 100000 + b"Hok").display[0].startswith("ok")


def test_a_character_carries_at_most_a_few_combining_marks():
    f = OutputFilter()
    out = f.feed(b"e" + ACUTE * 5000) + f.feed(ACUTE * 5000 + b"z")
    assert out == "e" + "\u0301" * MARKS_MAX + "z"
    # as pyte gets it: one cell of e and its marks, not 10,000 of them (each mark appended
    # normalises the whole cell again: quadratic, seconds of the event loop)
    cells = shown(b"e" + ACUTE * 100000).buffer[0]
    assert len(cells[0].data) <= 1 + MARKS_MAX


async def test_the_reader_pauses_over_its_budget():
    r, w = os.pipe()
    try:
        reader = PacedReader(r, lambda: None, per_second=1000)
        assert reader.spend(999, now=100.0) == 0
        assert reader.spend(2, now=100.25) == pytest.approx(0.75)  # until the second is over
        assert reader._resume is not None
        reader.stop()
        assert reader._resume is None
    finally:
        os.close(r)
        os.close(w)


FLOOD = r"""
import os, sys, time
out = sys.stdout.buffer
end = time.monotonic() + float(sys.argv[1])
kinds = sys.argv[2].split(",") if len(sys.argv) > 2 else ["osc", "csi", "marks", "text"]
junk = {"osc": b"\x1b]0;" + b"T" * 60000,  # an OSC without end
        "csi": b"\x1b[" + b"9" * 60000,  # a CSI without end
        "marks": b"e" + "\u0301".encode() * 30000,  # marks on one character
        "text": "城市 ✓ ü ".encode() * 2000 + b"\x1b[2J\x1b[H" +
                b"".join(b"(%d) line of the flood\r\n" % n for n in range(60))}
chunks = [junk[k] for k in kinds]
i = 0
while time.monotonic() < end:
    out.write(chunks[i % len(chunks)]); out.flush()
    i += 1
# the last screen, after whatever was cut off (a sequence without its end)
out.write(b"\x1b[2J\x1b[H the flood is over\r\n(1) Again\r\n(0) Exit\r\n >>  ")
out.flush()
sys.stdin.readline()
"""


@pytest.fixture
def flooder(tmp_path: Path):
    script = tmp_path / "flood.py"
    script.write_text(FLOOD)
    with no_leftovers(tmp_path):
        yield (sys.executable, str(script))


def screen_edits(api) -> list[float]:
    return [
        c.time
        for c in api.calls
        if c.method in ("sendMessage", "editMessageText") and "📟" in str(c.params.get("text", ""))
    ]


async def test_a_flooding_menu_edits_once_a_second_within_telegram_limits(
    ikabot_dir, api, tmp_path: Path, flooder, monkeypatch
):
    seconds = 8.0
    s = fast_settings(
        ikabot_dir.path, api, tmp_path / "state", ikabot_command=(*flooder, str(seconds))
    )
    async with running_bot(s, api) as bot:
        await bot.ask("/menu")
        assert await bot.wait(lambda: len(screen_edits(api)) >= 2, 20)
        # Telegram says "retry after 2" to the next edit: none is made before it is over
        api.fail("editMessageText", 429, retry_after=2)
        assert await bot.wait(lambda: any(c.status == 429 for c in api.calls), 20)
        refused = next(c.time for c in api.calls if c.status == 429)
        # the loop answers meanwhile
        start = time.monotonic()
        answer = await bot.ask("/status", timeout=20)
        assert answer and time.monotonic() - start < 20
        assert await bot.wait(lambda: "the flood is over" in screen(api)["text"], 60)
        api.add_message("/cancel", chat_id=OWNER, user_id=OWNER)
        assert await bot.wait(lambda: "⏹" in screen(api)["text"], 20)
    edits = [c for c in api.calls if c.method == "editMessageText"]
    times = screen_edits(api)
    assert len(times) >= 4, times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # at most one a second (the loopback stamps each call when it is answered: a little
    # jitter either way, never two edits in one moment)
    assert min(gaps) > 0.8, gaps
    after = [t for t in times if t > refused]
    assert after and after[0] - refused >= 2 - 0.1, (refused, after[:2])
    assert not [c for c in edits if c.status == 400], "Telegram refused an edit (too long?)"
    assert all(len(m["text"]) <= 4096 for m in api.sent(OWNER))


@pytest.mark.parametrize("kind", ["osc", "csi", "marks"])
async def test_the_screen_is_right_after_the_flood(tmp_path: Path, flooder, kind: str):
    """The terminal itself (no bot): after seconds of one kind of junk, each sequence left
    without its end, the screen shows the last screen (an OSC swallows no more than OSC_MAX
    characters), and pyte's cells stay a character and its marks."""
    t = Terminal([*flooder, "2", kind], {"PATH": "/usr/bin:/bin", "TERM": "xterm"})
    try:
        deadline = time.monotonic() + 60
        longest = 0  # the longest cell seen while the flood lasts
        while "the flood is over" not in "\n".join(t.lines()):
            assert time.monotonic() < deadline, t.lines()[:3]
            longest = max(
                [longest, *(len(c.data) for row in t.screen.buffer.values() for c in row.values())]
            )
            await asyncio.sleep(0.02)
        assert await until(lambda: t.lines()[2].startswith("(0) Exit"))
        assert longest <= 1 + MARKS_MAX
    finally:
        await t.close()
