"""Death → alert latency (telebot vs Monit, same processes, same run) and idle cost.

Run: python bench/bench_alerts.py [--kills 50] [--idle 60] [--no-monit]

telebot runs as its own process (`python -m telebot run`) against the loopback Bot API in this
process; the latency is from `kill()` to the alert's sendMessage arriving at that API. Monit
(Debian package `monit`, if installed) watches the very same processes through pidfiles at its
shortest cycle (`set daemon 1`) with an `exec` action that appends the time to a file.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from common import machine_line, summary, write_directory

from telebot.demo.fakeapi import FakeBotAPI

TOKEN = "123:BENCH"
CHAT = 42
EMAIL = "bench@example.org"


def make_data(root: Path, pids: list[int]) -> Path:
    now = time.time()
    plist = [{"pid": pid, "action": "autoPirate", "date": now,
              "status": f"Mission {i % 10}/10 complete"} for i, pid in enumerate(pids)]
    return write_directory(root, TOKEN, CHAT, [(EMAIL, "bench", plist)])


def spawn(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(["sleep", "3600"]) for _ in range(n)]


def monit_config(root: Path, pids: list[int]) -> Path:
    lines = ["set daemon 1", f"set log {root / 'monit.log'}", f"set idfile {root / 'monit.id'}",
             f"set statefile {root / 'monit.state'}", f"set pidfile {root / 'monit.pid'}"]
    for i, pid in enumerate(pids):
        (root / f"t{i}.pid").write_text(f"{pid}\n")
        lines += [f"check process t{i} with pidfile {root / f't{i}.pid'}",
                  f"  if does not exist then exec \"/bin/sh -c 'echo t{i} $(date +%s.%N) "
                  f">> {root / 'events'}'\""]
    conf = root / "monitrc"
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o600)
    return conf


def monit_events(root: Path) -> dict[str, float]:
    try:
        text = (root / "events").read_text()
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        name, _, ts = line.partition(" ")
        if ts:
            out.setdefault(name, float(ts))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--no-monit", action="store_true")
    args = ap.parse_args()
    use_monit = not args.no_monit and shutil.which("monit") is not None
    print(machine_line())
    print(f"command: python bench/bench_alerts.py --kills {args.kills} --idle {args.idle:g}")
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI(token=TOKEN) as api:
        root = Path(tmp)
        arrivals: dict[int, float] = {}
        lock = threading.Lock()

        def on_request(method: str, params: dict[str, Any]) -> None:
            if method == "sendMessage" and "died" in str(params.get("text", "")):
                now = time.time()
                for pid in re.findall(r"<code>(\d+)</code>", str(params["text"])):
                    with lock:
                        arrivals.setdefault(int(pid), now)

        api.on_request = on_request
        idle_procs = spawn(50)
        kill_procs = spawn(args.kills)
        everything = idle_procs + kill_procs
        data = make_data(root, [p.pid for p in everything])
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TELEBOT_",
                                                                          "IKABOT_"))},
               "IKABOT_PATH": str(data), "TELEGRAM_API_BASE_URL": api.base_url,
               "TELEBOT_STATE_DIR": str(root / "state"), "HOME": str(root)}
        bot = subprocess.Popen([sys.executable, "-m", "telebot", "run"], env=env,
                               stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        monit = None
        try:
            assert api.wait_for(lambda: any("watching" in m["text"] for m in api.sent()), 30)
            if use_monit:
                conf = monit_config(root, [p.pid for p in kill_procs])
                monit = subprocess.Popen(["monit", "-c", str(conf), "-I"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(2.5)  # monit's first cycles register the processes
            # ---- idle cost: 50 + kills tracked tasks, nothing happening
            proc = psutil.Process(bot.pid)
            cpu0, t0 = proc.cpu_times(), time.monotonic()
            time.sleep(args.idle)
            cpu1, t1 = proc.cpu_times(), time.monotonic()
            used = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
            rss = proc.memory_info().rss / 2**20
            idle = (f"idle over {t1 - t0:.0f} s with {len(everything)} tracked tasks: CPU "
                    f"{100 * used / (t1 - t0):.2f} % of one core ({used * 1000:.0f} ms), "
                    f"RSS {rss:.1f} MB")
            # ---- one kill at a time
            telebot_ms, monit_ms = [], []
            for i, p in enumerate(kill_procs):
                killed = time.time()
                p.kill()
                p.wait()
                ok = api.wait_for(lambda p=p: p.pid in arrivals, 10)
                if ok:
                    telebot_ms.append((arrivals[p.pid] - killed) * 1000)
                if monit is not None:
                    name = f"t{i}"
                    deadline = time.monotonic() + 10
                    while name not in monit_events(root) and time.monotonic() < deadline:
                        time.sleep(0.01)
                    if name in monit_events(root):
                        monit_ms.append((monit_events(root)[name] - killed) * 1000)
                time.sleep(0.05)  # apart, so no two deaths form a storm
            print(f"- telebot death → alert at the Bot API: {summary(telebot_ms)}")
            if monit_ms:
                print(f"- Monit (set daemon 1, exec action) death → action: {summary(monit_ms)}")
                ratio = statistics.median(monit_ms) / statistics.median(telebot_ms)
                print(f"- ratio of medians, Monit / telebot: {ratio:.0f}×")
            else:
                print("- Monit: not measured (--no-monit, or not installed: apt-get install monit)")
            print(f"- {idle}")
        finally:
            bot.terminate()
            bot.wait(20)
            if monit is not None:
                monit.terminate()
                monit.wait(10)
            for p in everything:
                if p.poll() is None:
                    p.kill()
                p.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
