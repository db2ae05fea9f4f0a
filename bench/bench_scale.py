"""/status at 200 and at 10,000 tasks: handling, event-loop blocking, messages, alerts meanwhile.

Run: python bench/bench_scale.py [--samples 20]

The bot runs in this process (dedicated token, long polling) against the loopback Bot API, so
a monitor task on the same event loop can see how long the loop is blocked: it sleeps 2 ms at
a time and records how late it wakes. Tasks: 100 live processes (`sleep`, recorded with the
date they were started, so telebot judges them running) and the rest entries of long-gone
pids, as months of ikabot leave behind, over 10 accounts. During each /status one live task
is killed, and the time from kill() to its alert at the Bot API is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from common import gone_pids, machine_line, started_at, summary, task_process, write_directory

from telebot.bot.app import serve
from telebot.config import Settings
from telebot.demo.fakeapi import FakeBotAPI

TOKEN = "123:BENCH"  # telebot's own bot (dedicated mode)
IKABOT_TOKEN = "456:IKABOT"  # ikabot's bot: TELEBOT_TOKEN equal to it would be shared mode
CHAT = 42
LIVE = 100


def make_data(root: Path, live: list[int], total: int) -> Path:
    now = time.time()
    accounts = []
    per = total // 10
    gone = gone_pids(total)
    for a in range(10):
        plist = []
        for i in range(per):
            n = a * per + i
            pid = live[n] if n < len(live) else gone[n]  # past pid_max: long gone
            plist.append(
                {
                    "pid": pid,
                    "action": ("autoPirate", "constructionList", "webServer")[n % 3],
                    "date": started_at(pid) if n < len(live) else now - 86400 * 30,
                    "status": f"Pirating for {1 + n % 9} more runs",
                }
            )
        accounts.append((f"p{a}@example.org", f"player{a}", plist))
    return write_directory(root, IKABOT_TOKEN, CHAT, accounts)


class LoopMonitor:
    """How late a 2 ms sleep wakes: the longest time the event loop was blocked."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.002)
            self.worst = max(self.worst, time.perf_counter() - t - 0.002)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst * 1000


async def measure(
    total: int, samples: int, procs: list[subprocess.Popen[bytes]], root: Path
) -> dict[str, list[float]]:
    data = make_data(root / f"d{total}", [p.pid for p in procs], total)
    out: dict[str, list[float]] = {"handling": [], "block": [], "messages": [], "alert": []}
    with FakeBotAPI(token=TOKEN) as api:
        settings = Settings(
            ikabot_path=data,
            api_base_url=api.base_url,
            token=TOKEN,
            chat_id=str(CHAT),
            state_dir=root / f"state{total}",
            scan_seconds=15,
            report_minutes=0,
            ikabot_log=root / "no-ikabot.log",
        )
        stop, ready = asyncio.Event(), asyncio.Event()
        bot = asyncio.create_task(serve(settings, stop=stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 60)
        monitor = LoopMonitor()
        monitor.start()
        victims = iter(procs[: samples + 3])

        def wait(pred: Any, timeout: float = 30.0) -> Any:
            return asyncio.to_thread(api.wait_for, pred, timeout)

        try:
            for i in range(samples + 3):
                await asyncio.sleep(0.3)  # a person's pause; the loop idles
                monitor.take()
                before = len(api.sent(CHAT))
                alerts_before = sum("killed" in m["text"] for m in api.sent(CHAT))
                victim = next(victims)
                api.add_message("/status", chat_id=CHAT, user_id=CHAT)
                sent = time.perf_counter()
                victim.kill()
                killed = time.perf_counter()
                assert await wait(
                    lambda b=before: any("ikabot tasks" in m["text"] for m in api.sent(CHAT)[b:])
                )
                replied = time.perf_counter()
                assert await wait(
                    lambda a=alerts_before: sum("killed" in m["text"] for m in api.sent(CHAT)) > a
                )
                alert_at = next(
                    c.time
                    for c in reversed(api.calls)
                    if c.method == "sendMessage" and "killed" in str(c.params.get("text"))
                )
                await asyncio.sleep(0.2)  # every page of the answer
                victim.wait()
                if i < 3:
                    continue  # warm-up
                out["handling"].append((replied - sent) * 1000)
                out["block"].append(monitor.take())
                out["messages"].append(
                    float(sum("killed" not in m["text"] for m in api.sent(CHAT)[before:]))
                )
                # the API records wall time; kill() was taken on the perf clock
                out["alert"].append(
                    (alert_at - (time.time() - (time.perf_counter() - killed))) * 1000
                )
        finally:
            stop.set()
            await bot
    return out


async def main_async(samples: int) -> None:
    procs = [task_process() for _ in range(LIVE)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(machine_line())
            print(f"command: python bench/bench_scale.py --samples {samples}")
            results = {}
            for total in (200, 10_000):
                alive = [p for p in procs if p.poll() is None]
                results[total] = await measure(total, samples, alive, Path(tmp))
                r = results[total]
                print(f"- {total} tasks: /status handled in {summary(r['handling'])}")
                print(f"  event loop blocked at most: {summary(r['block'])}")
                print(f"  messages per /status: {statistics.median(r['messages']):.0f}")
                print(f"  a death during that /status, kill → alert: {summary(r['alert'])}")
            rss = psutil.Process().memory_info().rss / 2**20
            print(f"- RSS of this process (bot + loopback API + data) after both: {rss:.1f} MB")
            ratio = statistics.median(results[10_000]["handling"]) / statistics.median(
                results[200]["handling"]
            )
            print(f"- 10,000 vs 200 tasks, /status handling, ratio of medians: {ratio:.1f}×")
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=20)
    args = ap.parse_args()
    asyncio.run(main_async(args.samples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
