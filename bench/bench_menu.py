"""/menu: screen → Telegram latency, and edits a second under a fast-scrolling screen.

Run: python bench/bench_menu.py [--samples 30] [--scroll-seconds 5]

telebot runs in this process against the loopback Bot API (shared-token mode), with
IKABOT_COMMAND set to a small program in a pseudo-terminal that behaves like ikabot's menu: it
clears the screen, prints a screen that carries the wall-clock time it was printed, and waits
for an answer (`input`). Latency: from that print to the `editMessageText` (or the first
`sendMessage`) showing it arriving at the Bot API; screens come more than a second apart, so
the edit limit does not hold them. Then a fast scroll: the program prints a line every 2 ms for
`--scroll-seconds`; counted are the edits of the screen message, their rate, and the most edits
in any one-second window (Telegram allows about one a second in a private chat).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from botharness import OWNER, fast_settings, running_bot
from common import leaves_no_process, machine_line, summary
from ikabotdata import Account, IkabotDir

from telebot.demo.fakeapi import FakeBotAPI

TOKEN = "123:BENCH"

SCREENS = """
import sys, time
n = int(sys.argv[1])
for i in range(n):
    print("\\x1b[H\\x1b[2J", end="")
    print("(0) Exit\\n(1) Next screen\\nscreen %d stamp=%.6f" % (i, time.time()), flush=True)
    input(" >>  ")
scroll = float(sys.argv[2])
end = time.time() + scroll
k = 0
while time.time() < end:
    k += 1
    print("line %d of a fast scroll" % k, flush=True)
    time.sleep(0.002)
print("scrolled %d lines" % k, flush=True)
input(" >>  ")
"""


def screen_edits(api: FakeBotAPI) -> list[tuple[float, str]]:
    """(arrival, text) of every screen with a stamp that reached the Bot API."""
    return [
        (c.time, str(c.params.get("text", "")))
        for c in api.calls
        if c.method in ("sendMessage", "editMessageText")
        and "stamp=" in str(c.params.get("text", ""))
    ]


async def run(samples: int, scroll: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI(token=TOKEN) as api:
        root = Path(tmp)
        data = IkabotDir(root / "home")
        data.set_telegram(TOKEN, str(OWNER), Account("bench@example.org", "bench"))
        script = root / "screens.py"
        script.write_text(SCREENS, encoding="utf-8")
        settings = fast_settings(
            data.path,
            api,
            root / "state",
            ikabot_command=(sys.executable, str(script), str(samples), str(scroll)),
        )
        async with running_bot(settings, api) as bot:
            api.add_message("/menu")
            latencies = []
            for i in range(samples):

                def shown(i: int = i) -> bool:
                    return any(f"screen {i} " in t for _, t in screen_edits(api))

                assert await bot.wait(shown, 20), f"screen {i} never shown"
                at, text = next((t, x) for t, x in screen_edits(api) if f"screen {i} " in x)
                stamp = float(re.search(r"stamp=([0-9.]+)", text).group(1))
                latencies.append((at - stamp) * 1000)
                await asyncio.sleep(1.1)  # the next screen after the edit limit's second
                api.add_message("1")
            before = len(api.calls)
            assert await bot.wait(
                lambda: any(
                    "scrolled" in str(c.params.get("text", "")) for c in api.calls[before:]
                ),
                scroll + 30,
            )
            edits = [c.time for c in api.calls[before:] if c.method == "editMessageText"]
            window = max((sum(1 for t in edits if s <= t < s + 1) for s in edits), default=0)
            span = (edits[-1] - edits[0]) if len(edits) > 1 else 0.0
            api.add_message("/cancel")
    print(machine_line())
    print(f"screen → Bot API: {summary(latencies)}")
    print(
        f"fast scroll for {scroll:g} s: {len(edits)} edits over {span:.1f} s "
        f"({len(edits) / span if span else 0:.2f}/s), at most {window} in any 1 s window"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--scroll-seconds", type=float, default=5.0)
    args = parser.parse_args()
    with leaves_no_process():
        asyncio.run(run(args.samples, args.scroll_seconds))


if __name__ == "__main__":
    main()
