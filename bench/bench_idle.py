"""Idle cost: RSS and CPU of `telebot run` tracking N live tasks while nothing happens.

Run: python bench/bench_idle.py [--tasks 120] [--seconds 60] [--rounds 2]

telebot runs as its own process (shared token: a `getUpdates` every 3 s, a scan every 15 s)
against the loopback Bot API in this process, over ikabot data (directory layout) listing
`--tasks` real, idle task processes, and a 10 MB ikabot log in ikabot's format (its 1 MB
backlog is read at start, as on a Raspberry Pi that ran ikabot for a while). Once telebot says
it is watching, its CPU time is taken over `--seconds` and its RSS at the end.

Each round runs it twice, alternately: as it is (`lazy`), and with the modules an idle
telebot no longer loads imported first (`eager`: pyte, ptyprocess, pycryptodome's AES,
psutil, and python-telegram-bot's optional `cryptography`), so the ratio of the two is
measured in one run, on one machine, under the same load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_log import make_log
from common import leaves_no_process, machine_line, task_process, write_directory

from telebot.demo.fakeapi import FakeBotAPI

TOKEN = "123:BENCH"
CHAT = 42
EAGER = (
    "import pyte, ptyprocess, psutil; from Crypto.Cipher import AES; "
    "import cryptography.hazmat.backends"
)
RUN = (
    "import runpy, sys; sys.argv = ['telebot', 'run']; runpy.run_module('telebot', "
    "run_name='__main__', alter_sys=True)"
)


def one(api: FakeBotAPI, env: dict[str, str], eager: bool, seconds: float) -> tuple[float, float]:
    """(CPU % of one core over `seconds`, RSS in MB at the end) of one idle telebot."""
    before = len(api.sent())
    code = (EAGER + "; " if eager else "") + RUN
    bot = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert api.wait_for(
            lambda: any("watching" in m["text"] for m in api.sent()[before:]), 60
        ), "no start"
        time.sleep(2)  # the start's own work (the first scan, the backlog) is over
        proc = psutil.Process(bot.pid)
        cpu0, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = proc.cpu_times(), time.monotonic()
        used = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        return 100 * used / (t1 - t0), proc.memory_info().rss / 2**20
    finally:
        bot.terminate()
        bot.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=120)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print(machine_line())
    print(
        f"command: python bench/bench_idle.py --tasks {args.tasks} --seconds "
        f"{args.seconds:g} --rounds {args.rounds}"
    )
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI(token=TOKEN) as api:
        root = Path(tmp)
        procs = [task_process() for _ in range(args.tasks)]
        try:
            now = time.time()
            plist = [
                {
                    "pid": p.pid,
                    "action": "autoPirate",
                    "date": now,
                    "status": f"Pirating for {1 + i % 9} more runs",
                }
                for i, p in enumerate(procs)
            ]
            data = write_directory(root, TOKEN, CHAT, [("bench@example.org", "bench", plist)])
            log = root / "ikabot.log"
            make_log(log)
            env = {
                **{
                    k: v for k, v in os.environ.items() if not k.startswith(("TELEBOT_", "IKABOT_"))
                },
                "IKABOT_PATH": str(data),
                "TELEGRAM_API_BASE_URL": api.base_url,
                "HOME": str(root),
                "IKABOT_LOG": str(log),
            }
            figures: dict[str, list[tuple[float, float]]] = {"lazy": [], "eager": []}
            for r in range(args.rounds):
                for kind in ("lazy", "eager"):
                    env["TELEBOT_STATE_DIR"] = str(root / f"state-{kind}-{r}")
                    figures[kind].append(one(api, env, kind == "eager", args.seconds))
        finally:
            for p in procs:
                p.kill()
                p.wait()
    print(
        f"load average before the run (1, 5, 15 min): {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"
    )
    for kind, xs in figures.items():
        cpu, rss = [x[0] for x in xs], [x[1] for x in xs]
        print(
            f"- {kind}: idle over {args.seconds:g} s with {args.tasks} tracked tasks: CPU "
            f"median {statistics.median(cpu):.2f} % of one core (min {min(cpu):.2f}, max "
            f"{max(cpu):.2f}); RSS median {statistics.median(rss):.1f} MB (min "
            f"{min(rss):.1f}, max {max(rss):.1f}) (n={len(xs)})"
        )
    lazy = statistics.median(x[1] for x in figures["lazy"])
    eager = statistics.median(x[1] for x in figures["eager"])
    print(
        f"- RSS saved by loading them only when used: {eager - lazy:.1f} MB "
        f"(lazy / eager {lazy / eager:.2f}×)"
    )
    return 0


if __name__ == "__main__":
    with leaves_no_process():
        raise SystemExit(main())
