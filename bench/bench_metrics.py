"""The cost of the Prometheus metrics at 10,000 tasks: a scan's share, a scrape, the textfile.

Run: python bench/bench_metrics.py [--tasks 10000] [--rounds 20] [--seconds 30]

The tasks are real task views: ikabot data in the directory layout (10 accounts, 100 live
processes, the rest long gone), read by telebot's store and merged as every scan merges them.
Measured, each `--rounds` times:
- the scan's share on the event loop (`scan_figures`: each view's facts, label values) and in
  its worker thread (the families built, `publish`);
- one scrape of `/metrics` over HTTP from prometheus-client's own server thread (time, bytes);
- one write of `TELEBOT_METRICS_FILE` (`write_to_textfile`: a temporary file, the rename).
Then the event loop's worst block (how late a 2 ms sleep wakes, as bench_scale.py measures it)
over `--seconds` while it scans every 2 s and a client scrapes every second, beside the same
loop with no scrapes (ratios within one run).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench_scale import LoopMonitor, make_data
from common import live_processes, machine_line, summary

from telebot.config import Settings
from telebot.ikabot.store import open_store
from telebot.metrics.exporter import MetricsExporter
from telebot.metrics.snapshot import scan_figures
from telebot.tasks.merge import build_tasks
from telebot.tasks.model import Task


def views(data: Path) -> list[Task]:
    return build_tasks(open_store(Settings(ikabot_path=data)).read())


def scrape(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        return bytes(r.read())


def costs(
    tasks: list[Task], exporter: MetricsExporter, port: int, prom: Path, rounds: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"loop": [], "thread": [], "scrape": [], "file": []}
    size = 0
    for _ in range(rounds):
        for t in tasks:
            t.figures_cache = None  # each scan's views are new: their facts are computed anew
        t0 = time.perf_counter()
        scan = scan_figures(tasks, "bench", time.time())
        t1 = time.perf_counter()
        exporter.collector.publish(scan, 0)
        t2 = time.perf_counter()
        size = len(scrape(port))
        t3 = time.perf_counter()
        exporter.write_file(prom)
        t4 = time.perf_counter()
        for key, (a, b) in {
            "loop": (t0, t1),
            "thread": (t1, t2),
            "scrape": (t2, t3),
            "file": (t3, t4),
        }.items():
            out[key].append((b - a) * 1000)
    out["bytes"] = [float(size), float(prom.stat().st_size)]
    return out


async def worst_block(
    tasks: list[Task], exporter: MetricsExporter, port: int, seconds: float, scraped: bool
) -> list[float]:
    """The loop's worst block per second, while it scans every 2 s (each scan's share on the
    loop included) and, if `scraped`, a client scrapes every second."""
    stop = threading.Event()

    def scraper() -> None:
        while not stop.wait(1.0):
            scrape(port)

    thread = threading.Thread(target=scraper, daemon=True)
    if scraped:
        thread.start()
    monitor = LoopMonitor()
    monitor.start()
    worst: list[float] = []
    start = time.monotonic()
    next_scan = start
    while time.monotonic() - start < seconds:
        if time.monotonic() >= next_scan:
            for t in tasks:
                t.figures_cache = None
            await exporter.scanned(tasks, 0)  # its share on the loop counts too
            next_scan += 2.0
        await asyncio.sleep(1.0)
        worst.append(monitor.take())
    stop.set()
    if scraped:
        thread.join(5)
    return worst


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp, live_processes(100) as procs:
        root = Path(tmp)
        tasks = views(make_data(root / "d", [p.pid for p in procs], args.tasks))
        prom = root / "telebot.prom"
        settings = Settings(ikabot_path=root, metrics_addr=("127.0.0.1", 0))
        exporter = MetricsExporter(settings, time.time, host="bench")
        exporter.start()
        port = exporter.port or 0
        try:
            c = costs(tasks, exporter, port, prom, args.rounds)
            print(f"tasks: {len(tasks)} ({sum(t.alive for t in tasks)} running)")
            print(f"- scan, on the event loop (scan_figures): {summary(c['loop'])}")
            print(f"- scan, in its worker thread (families built): {summary(c['thread'])}")
            print(
                f"- one scrape of /metrics over HTTP: {summary(c['scrape'])}; "
                f"{c['bytes'][0] / 1e6:.2f} MB"
            )
            print(f"- one textfile write: {summary(c['file'])}; {c['bytes'][1] / 1e6:.2f} MB")
            quiet = await worst_block(tasks, exporter, port, args.seconds, scraped=False)
            busy = await worst_block(tasks, exporter, port, args.seconds, scraped=True)
            print(
                f"- event loop's worst block per second, scanning every 2 s, no scrapes: "
                f"{summary(quiet)}"
            )
            print(
                f"- the same, scraped every second: {summary(busy)}; ratio of medians "
                f"{statistics.median(busy) / max(statistics.median(quiet), 1e-9):.2f}, of "
                f"maxima {max(busy) / max(max(quiet), 1e-9):.2f}"
            )
        finally:
            exporter.stop()


if __name__ == "__main__":
    asyncio.run(main())
