"""/menu under a menu that floods its terminal, and over a long session (issue 23): telebot's
memory, file descriptors, CPU and event loop.

Run: python bench/bench_menu_flood.py [--flood-seconds 120] [--session-minutes 5] [--probe]

The loopback Bot API runs in this process (shared-token mode) and keeps every call it gets.
IKABOT_COMMAND is a small program in a pseudo-terminal:

1. the flood, telebot in this process too: it writes as fast as its terminal takes it, for
   `--flood-seconds`, a mix of what could grow pyte's state without bound (an OSC sequence
   without end, a CSI of endless digits, 30,000 combining marks on one character) and plain
   screens, counting the bytes it got written. Measured: this process's RSS before the
   session and each 10 s, its CPU time (telebot, the loopback Bot API's threads, the
   harness), the event loop's lag (a 50 ms sleep's overshoot, all the time), /status
   answered every 10 s, the screen's edits (and the most in any 1 s window), one 429
   (retry_after 3) injected half-way;
2. the long session, telebot as its own process (`telebot run`, the harness's settings as
   variables: a getUpdates every 50 ms), so that its RSS is its own and not the loopback's
   record of calls: a menu that prints a line every 100 ms and asks a question; an answer
   every 2 s for `--session-minutes`, so the session never idles out (its limit: 10 minutes
   without an answer). telebot's RSS and open descriptors each 30 s; growth per minute,
   extrapolated to the issue's 30-minute session (the run is shorter: say so with the
   figures). `--probe`: telebot under memory_probe.py, snapshots after the first minute and
   at the end, and what grew between them (tracemalloc by where it was allocated, objects
   by type); its RSS is then the probe's too, so measure RSS without it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import psutil
from botharness import OWNER, fast_settings, running_bot
from common import leaves_no_process, machine_line, summary
from ikabotdata import Account, IkabotDir

from telebot.demo.fakeapi import FakeBotAPI

TOKEN = "123:BENCH"
HERE = Path(__file__).resolve().parent

FLOOD = r"""
import sys, time
out = sys.stdout.buffer
end = time.monotonic() + float(sys.argv[1])
counter = sys.argv[2]
junk = [b"\x1b]0;" + b"T" * 60000, b"\x1b[" + b"9" * 60000,
        b"e" + "\u0301".encode() * 30000,
        "城市 ✓ ü ".encode() * 2000 + b"\x1b[2J\x1b[H" +
        b"".join(b"(%d) line of the flood\r\n" % n for n in range(60))]
written, i, last = 0, 0, 0.0
while time.monotonic() < end:
    out.write(junk[i % len(junk)]); out.flush()
    written += len(junk[i % len(junk)]); i += 1
    if time.monotonic() - last > 1:
        last = time.monotonic()
        open(counter, "w").write(str(written))
open(counter, "w").write(str(written))
out.write(b"\x1b[2J\x1b[H the flood is over\r\n(0) Exit\r\n >>  "); out.flush()
sys.stdin.readline()
"""

TICKING = r"""
import sys, threading, time
def tick():
    n = 0
    while True:
        n += 1
        print("tick %d at %.3f" % (n, time.time()), flush=True)
        time.sleep(0.1)
threading.Thread(target=tick, daemon=True).start()
k = 0
while True:
    k += 1
    print("\x1b[2J\x1b[H(1) Next\n(0) Exit\nquestion %d" % k, flush=True)
    sys.stdin.readline()
"""


def rss_mb(pid: int | None = None) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def descriptors(pid: int | str = "self") -> tuple[int, int]:
    """(all open descriptors, those that are no socket) of process `pid`."""
    total = other = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        total += 1
        other += not target.startswith("socket:")
    return total, other


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Lag:
    """The event loop's lag: how late a 50 ms sleep wakes, all the time."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            self.samples.append((time.monotonic() - t - 0.05) * 1000)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def edits(api: FakeBotAPI, since: int = 0) -> list[float]:
    return [
        c.time
        for c in api.calls[since:]
        if c.method in ("sendMessage", "editMessageText")
        and "📟" in str(c.params.get("text", ""))
        and c.status == 200
    ]


async def flood(root: Path, api: FakeBotAPI, data: IkabotDir, seconds: float) -> None:
    script, counter = root / "flood.py", root / "written"
    script.write_text(FLOOD, encoding="utf-8")
    settings = fast_settings(
        data.path,
        api,
        root / "state-flood",
        ikabot_command=(sys.executable, str(script), str(seconds), str(counter)),
    )
    async with running_bot(settings, api) as bot:
        await bot.ask("/status")
        rss = [rss_mb()]
        fds_before = descriptors()
        lag = Lag()
        lag.start()
        cpu0, t0, calls0 = cpu_seconds(), time.monotonic(), len(api.calls)
        api.add_message("/menu")
        status: list[float] = []
        injected = False
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(10)
            rss.append(rss_mb())
            s = time.monotonic()
            await bot.ask("/status", timeout=60)
            status.append((time.monotonic() - s) * 1000)
            if not injected and time.monotonic() - t0 > seconds / 2:
                api.fail("editMessageText", 429, retry_after=3)
                injected = True
        cpu = cpu_seconds() - cpu0
        wall = time.monotonic() - t0
        lag.stop()
        shown = await bot.wait(
            lambda: any(
                "the flood is over" in str(c.params.get("text")) for c in api.calls[calls0:]
            ),
            120,
        )
        after = time.monotonic() - t0 - seconds
        api.add_message("/cancel")
        await bot.wait(lambda: any("⏹" in str(c.params.get("text")) for c in api.calls[calls0:]))
        await asyncio.sleep(1)
        rss.append(rss_mb())
        fds_after = descriptors()
        times = edits(api, calls0)
    written = int(counter.read_text())
    window = max((sum(1 for t in times if s <= t < s + 1) for s in times), default=0)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    refused = [c.time for c in api.calls[calls0:] if c.status == 429]
    after_429 = min((t - refused[0] for t in times if refused and t > refused[0]), default=0)
    print(
        f"flood for {seconds:g} s: the menu got {written / 2**20:.1f} MB written "
        f"({written / 2**20 / seconds:.2f} MB/s, what telebot read; the menu blocks on "
        f"its full terminal beyond)"
    )
    print(
        f"  RSS: {rss[0]:.1f} MB before, max {max(rss):.1f} MB during, {rss[-1]:.1f} MB "
        f"after; samples {', '.join(f'{r:.1f}' for r in rss)}"
    )
    print(f"  CPU of this process during the flood: {cpu / wall * 100:.0f} % of one core")
    print(f"  event-loop lag: {summary(lag.samples)}")
    print(f"  /status during the flood: {summary(status)}")
    print(
        f"  screen edits: {len(times)} over {wall:.0f} s, at most {window} in any 1 s "
        f"window, shortest gap {min(gaps):.2f} s; first edit {after_429:.2f} s after the "
        f"429 (retry_after 3); last screen shown {after:.1f} s after the flood: {shown}"
    )
    print(f"  descriptors (all, non-socket): {fds_before} before, {fds_after} after")


def telebot_env(root: Path, api: FakeBotAPI, data: IkabotDir, argv: list[str]) -> dict[str, str]:
    """`telebot run`'s environment: the harness's fast settings, as variables."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEBOT_", "IKABOT_"))},
        "IKABOT_PATH": str(data.path),
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEBOT_STATE_DIR": str(root / "state-session"),
        "HOME": str(root),
        "IKABOT_LOG": str(root / "ikabot.log"),  # never the host's /tmp/ikabot.log
        "IKABOT_COMMAND": shlex.join(argv),
        "TELEBOT_POLL_SECONDS": "0.05",
        "TELEBOT_SCAN_SECONDS": "0.2",
        "TELEBOT_REPORT_MINUTES": "0",
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }


def grew(probe: Path, first: int, last: int, top: int = 12) -> list[str]:
    """What grew between two of memory_probe.py's snapshots: allocations by where they were
    made (the newest frames of telebot's or a library's code), and live objects by type."""
    a = tracemalloc.Snapshot.load(str(probe / f"snap-{first}.tracemalloc"))
    b = tracemalloc.Snapshot.load(str(probe / f"snap-{last}.tracemalloc"))
    ja = json.loads((probe / f"snap-{first}.json").read_text())
    jb = json.loads((probe / f"snap-{last}.json").read_text())
    out = [
        f"  traced by tracemalloc: {ja['traced'] / 2**20:.2f} → {jb['traced'] / 2**20:.2f} MB; "
        f"RSS (with the probe) {ja['rss'] / 2**20:.1f} → {jb['rss'] / 2**20:.1f} MB"
    ]
    out.append("  grown most, by where it was allocated (size, count):")
    for stat in b.compare_to(a, "traceback")[:top]:
        if stat.size_diff <= 0:
            break
        frames = [
            f"{Path(f.filename).name}:{f.lineno}"
            for f in stat.traceback
            if "tracemalloc" not in f.filename
        ]
        out.append(
            f"    {stat.size_diff / 1024:+.1f} KB, {stat.count_diff:+d} blocks: "
            + " ← ".join(frames[:4])
        )
    ta, tb = collections.Counter(ja["types"]), collections.Counter(jb["types"])
    diff = sorted(((tb[k] - ta[k], k) for k in tb.keys() | ta.keys()), reverse=True)
    out.append(
        "  live objects grown most, by type: "
        + ", ".join(f"{k} {d:+d}" for d, k in diff[:top] if d > 0)
    )
    return out


async def session(
    root: Path, api: FakeBotAPI, data: IkabotDir, minutes: float, probe: bool
) -> None:
    """telebot as its own process (`telebot run`, or memory_probe.py's): its RSS is its own,
    not the loopback Bot API's, which stays here and keeps every call."""
    script = root / "ticking.py"
    script.write_text(TICKING, encoding="utf-8")
    shots = root / "probe"
    command = (
        [sys.executable, str(HERE / "memory_probe.py"), str(shots)]
        if probe
        else [sys.executable, "-m", "telebot", "run"]
    )
    before = len(api.calls)
    bot = subprocess.Popen(
        command,
        env=telebot_env(root, api, data, [sys.executable, str(script)]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert api.wait_for(
            lambda: any("watching" in str(c.params.get("text")) for c in api.calls[before:]),
            60,
        ), "telebot did not start"
        api.add_message("/menu", chat_id=OWNER, user_id=OWNER)
        assert api.wait_for(lambda: edits(api, before), 30), "no /menu screen"
        t0 = time.monotonic()
        samples: list[tuple[float, float, tuple[int, int]]] = []
        answers, next_sample, shot = 0, t0, 0
        while time.monotonic() - t0 < minutes * 60:
            if time.monotonic() >= next_sample:
                samples.append(
                    ((time.monotonic() - t0) / 60, rss_mb(bot.pid), descriptors(bot.pid))
                )
                next_sample += 30
                if probe and len(samples) == 3:  # after the first minute
                    bot.send_signal(signal.SIGUSR1)
                    shot += 1
            api.add_message("1", chat_id=OWNER, user_id=OWNER)
            answers += 1
            await asyncio.sleep(2)
        samples.append(((time.monotonic() - t0) / 60, rss_mb(bot.pid), descriptors(bot.pid)))
        if probe:
            bot.send_signal(signal.SIGUSR1)
            shot += 1
            assert api.wait_for(lambda: (shots / f"snap-{shot - 1}.json").exists(), 120)
        ended = len(api.calls)
        api.add_message("/cancel", chat_id=OWNER, user_id=OWNER)
        api.wait_for(lambda: any("⏹" in str(c.params.get("text")) for c in api.calls[ended:]), 30)
    finally:
        bot.terminate()
        bot.wait(30)
    # growth: the least-squares slope of RSS against minutes, after the first minute (the
    # session's first screens load what every later one shares)
    later = [(m, r) for m, r, _ in samples if m >= 1] or [(m, r) for m, r, _ in samples]
    xs, ys = [m for m, _ in later], [r for _, r in later]
    slope = statistics.linear_regression(xs, ys).slope if len(later) > 1 else 0.0
    print(
        f"session of {minutes:g} min{' (under memory_probe.py)' if probe else ''}: "
        f"{answers} answers, a line printed every 100 ms; telebot as its own process"
    )
    print(
        f"  telebot's RSS: {samples[0][1]:.1f} MB at the start, {samples[-1][1]:.1f} MB at the "
        f"end, max {max(r for _, r, _ in samples):.1f} MB; slope after the first minute "
        f"{slope * 1024:+.0f} KB/min → {slope * 30:+.1f} MB over a 30-minute session "
        "(extrapolated)"
    )
    print(f"  samples (min, MB): {', '.join(f'{m:.1f} {r:.1f}' for m, r, _ in samples)}")
    print(
        f"  descriptors (all, non-socket): {samples[0][2]} at the start, {samples[-1][2]} "
        f"at the end, max {max(d[0] for _, _, d in samples)}"
    )
    if probe:
        print("\n".join(grew(shots, 0, 1)))


async def run(flood_seconds: float, session_minutes: float, probe: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI(token=TOKEN) as api:
        root = Path(tmp)
        data = IkabotDir(root / "home")
        data.set_telegram(TOKEN, str(OWNER), Account("bench@example.org", "bench"))
        print(machine_line())
        if flood_seconds > 0:
            await flood(root, api, data, flood_seconds)
        if session_minutes > 0:
            await session(root, api, data, session_minutes, probe)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flood-seconds", type=float, default=120.0)
    parser.add_argument("--session-minutes", type=float, default=5.0)
    parser.add_argument(
        "--probe",
        action="store_true",
        help="the session under memory_probe.py: what grew (tracemalloc, objects by type)",
    )
    args = parser.parse_args()
    with leaves_no_process():
        asyncio.run(run(args.flood_seconds, args.session_minutes, args.probe))


if __name__ == "__main__":
    main()
