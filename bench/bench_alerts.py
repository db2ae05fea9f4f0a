"""Death → alert latency (telebot vs Monit, same processes, same run), a storm, idle cost.

Run: python bench/bench_alerts.py [--kills 50] [--storm 20] [--idle 60] [--no-monit]
     [--hog] [--entries 10000] [--profile] [--env NAME=VALUE] [--nice N]
     [--weight W] [--shelter]

telebot runs as its own process (`python -m telebot run`) against the loopback Bot API in this
process; the latency is from `kill()` to the alert's sendMessage arriving at that API. Monit
(Debian package `monit`, if installed) watches the very same processes through pidfiles at its
shortest cycle (`set daemon 1`) with an `exec` action that appends the time to a file; the
processes are this script's children and are reaped at once (as init would), so both see them
gone at the same moment. Each kill's moment is drawn before it, from the previous kill's moment
alone (KILL_GAP plus a uniform share of Monit's 1 s cycle), never from either tool's events: so
kills land at uniformly random phases of Monit's cycle (an earlier version waited for Monit's
event and then 50–300 ms, which put every kill just after a Monit check). The storm:
`--storm` processes killed at once; the time to the first alert, the time until one message
lists them all (after its edits), and duplicates.
Each death is classified as telebot does it for real: its exit information and the new tail of
ikabot's log (a 10 MB log in ikabot's format, as bench_log.py writes it).

`--hog`: during the kills and the storm, one busy loop per core (`python -c 'while 1: pass'`,
at telebot's own priority, nice 0) keeps every core busy. `--entries N`: ikabot's data also
holds N entries of long-gone tasks (months of ikabot), over 10 accounts. `--profile`: telebot
runs under `path_probe.py`, which marks each stage of the path (and a scan's steps, and the
event loop's lag), and the medians of each stage, each scan step's time and the slowest
deaths with what met them are printed (where the milliseconds go); with
`--env TELEBOT_SCAN_SECONDS=1` many deaths meet a scan. `--nice N`: telebot runs at that
niceness (`nice -n N`; below 0 needs root, as systemd's `Nice=` in a system unit has it),
the hog stays at 0. `--weight W`: telebot in a CPU control group of weight W and the hog in
a sibling of weight 100 with ikabot's tasks and Monit (`bench/cpugroups.py`: what
`CPUWeight=W` in telebot's unit does beside tasks at systemd's default; `--weight 100` is the
even baseline); the benchmark's own
process (the loopback Bot API, which stands for Telegram's servers, and the driver that
kills) then has a group of the largest weight, so the hog delays neither the kill nor the
API's reading of the request (which are not the player's machine's work). `--shelter`: that
group, and telebot beside the hog and the tasks in one other (one group, as from one shell).
Each lone death's CPU is read from the kernel (every telebot thread's
`/proc/<pid>/task/*/schedstat`, in ns) at the kill and when its alert arrives: the CPU the
path took, beside the wall time. Each lone death's latency is also split where the driver's
`wait()` for the killed task returns (its exit done, the process gone; the driver has the
largest weight under `--weight`, so it wakes at once): kill → gone is the task's own exit
(SIGKILL's delivery, its memory torn down, in the tasks' group: none of telebot's work),
gone → the alert is telebot's part.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
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
from bench_log import make_log
from common import (
    gone_pids,
    leaves_no_process,
    machine_line,
    summary,
    task_process,
    write_directory,
)
from cpugroups import CpuGroups

from telebot.alerts.texts import MARKS
from telebot.demo.fakeapi import FakeBotAPI

TOKEN = "123:BENCH"
CHAT = 42
MONIT_CYCLE = 1.0  # `set daemon 1`
KILL_GAP = 1.2  # seconds between kills at least: no two deaths form a storm (STORM_GAP 0.25 s)
EMAIL = "bench@example.org"


def make_data(root: Path, pids: list[int], entries: int = 0) -> Path:
    now = time.time()
    plist = [
        {
            "pid": pid,
            "action": "autoPirate",
            "date": now,  # as ikabot's autoPirate writes
            "status": f"Pirating for {1 + i % 9} more runs",
        }
        for i, pid in enumerate(pids)
    ]
    gone = [
        {
            "pid": pid,
            "action": "autoPirate",
            "date": now - 86400 * 30,
            "status": "Pirating for 1 more runs",
        }
        for pid in gone_pids(entries)
    ]
    accounts = [(EMAIL, "bench", plist + gone[::10])]
    accounts += [
        (f"old{k}@example.org", f"old{k}", gone[k::10]) for k in range(1, 10) if gone[k::10]
    ]
    return write_directory(root, TOKEN, CHAT, accounts)


def hog() -> list[subprocess.Popen[bytes]]:
    """One busy loop per core, at the same priority as telebot."""
    return [
        subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        for _ in range(os.cpu_count() or 1)
    ]


STAGES = [
    ("wake (pidfd read) → handler", "wake:in", "handler:in"),
    ("handler → _end", "handler:in", "end:in"),
    ("_end → writer thread starts", "end:in", "write_end:in"),
    ("writer: the row + the log's tail", "write_end:in", "ended_entry:in"),
    ("writer: ikabot's entry after the end", "ended_entry:in", "ended_entry:out"),
    ("writer: classify + the alert + pending, to the hand", "ended_entry:out", "handed:in"),
    ("hand → send starts", "handed:in", "send:in"),
    ("send → Bot API has it", "send:in", "api"),
    ("the commit (beside the send, not on the path)", "handed:in", "write_end:out"),
    ("kill → wake", "kill", "wake:in"),
]


# consecutive marks from the kill to the Bot API: the parts of each death's latency add up
PARTS = [
    ("kill → pidfd wake", "kill", "wake:in"),
    ("wake → handler (the update queue)", "wake:in", "handler:in"),
    ("handler → writer step starts", "handler:in", "write_end:in"),
    ("the writer step, to the hand", "write_end:in", "handed:in"),
    ("hand → send starts", "handed:in", "send:in"),
    ("send → Bot API has it", "send:in", "api"),
]

# consecutive marks from the wake to the request's return, for the CPU each thread spent
# between them (path_probe's clocks): the loop's and the writer's add up to the path's
CPU_STEPS = [
    ("the pidfd's callback (exit info, the queue)", "wake:in", "wake:out"),
    ("update queue → PTB's process_update", "wake:out", "ptb:in"),
    ("process_update → our handler", "ptb:in", "handler:in"),
    ("handler → the writer step starts", "handler:in", "write_end:in"),
    ("writer: the row + the log's tail", "write_end:in", "ended_entry:in"),
    ("writer: ikabot's entry after the end", "ended_entry:in", "ended_entry:out"),
    ("writer: classify + the alert + pending, to the hand", "ended_entry:out", "handed:in"),
    ("deliverer woken → its round", "handed:in", "round:in"),
    ("round → BotOut.send", "round:in", "send:in"),
    ("BotOut.send → bot.send_message", "send:in", "bot:in"),
    ("send_message → the rate limiter", "bot:in", "limiter:in"),
    ("rate limiter → the request's do_request", "limiter:in", "request:in"),
    ("do_request → its bytes to the socket", "request:in", "wire:in"),
    ("the socket write", "wire:in", "wire:out"),
    ("the write → the API's answer read", "wire:out", "request:out"),
]
CLOCK = {"loop": 3, "writer": 4, "all": 5}  # where each clock is in a mark


def load(trace: Path) -> list[tuple[str, int, float, list[int]]]:
    """path_probe's marks: (stage, pid, wall, CPU clocks); an older trace has no clocks."""
    return [(m[0], m[1], m[2], list(m[3:])) for m in json.loads(trace.read_text())]


def profile(trace: Path, killed: dict[int, float], arrived: dict[int, float]) -> list[str]:
    """Per stage, the median and max over the lone deaths (ms); then the consecutive parts
    (which add up to each death's latency): their medians, and their means over all deaths
    and over the slowest 5 %, so a tail is put where it grew; then the CPU of each step."""
    marks: dict[tuple[str, int], float] = {}
    loaded = load(trace)
    for stage, pid, at, _ in loaded:
        marks.setdefault((stage, pid), at)

    def span(pid: int, a: str, b: str) -> float | None:
        t = {"kill": killed[pid], "api": arrived.get(pid)}
        ta = t.get(a) or marks.get((a, pid))
        tb = t.get(b) or marks.get((b, pid))
        return (tb - ta) * 1000 if ta and tb else None

    out = []
    for name, a, b in STAGES:
        xs = [x for pid in killed if (x := span(pid, a, b)) is not None]
        if xs:
            out.append(f"  - {name}: median {statistics.median(xs):.2f} ms, max {max(xs):.2f}")
    rows = {pid: [span(pid, a, b) for _, a, b in PARTS] for pid in killed}
    whole = {pid: [x for x in r if x is not None] for pid, r in rows.items()}
    full = [pid for pid, r in rows.items() if None not in r]
    if full:
        full.sort(key=lambda pid: sum(whole[pid]))
        slow = full[-max(1, len(full) // 20) :]
        out.append(
            f"- the parts, which add up (n={len(full)}; the slowest 5 %: n={len(slow)}), "
            "median / mean / mean of the slowest:"
        )
        for i, (name, _, _) in enumerate(PARTS):
            xs = [whole[pid][i] for pid in full]
            tail = [whole[pid][i] for pid in slow]
            out.append(
                f"  - {name}: {statistics.median(xs):.2f} / {statistics.mean(xs):.2f} / "
                f"{statistics.mean(tail):.2f} ms"
            )
    plain = [(s, p, t) for s, p, t, _ in loaded]
    return out + cpu_profile(loaded, killed) + slowest(marks, plain, killed, arrived)


def cpu_profile(
    loaded: list[tuple[str, int, float, list[int]]], killed: dict[int, float]
) -> list[str]:
    """Per step from the wake to the request's answer, the median CPU (not wall) each thread
    spent in it over the lone deaths, in µs: the loop's, the writer's, the whole process's."""
    clocks: dict[tuple[str, int], list[int]] = {}
    for stage, pid, _, cpu in loaded:
        if len(cpu) == 3:
            clocks.setdefault((stage, pid), cpu)
    if not clocks:
        return []

    def used(pid: int, a: str, b: str) -> list[float] | None:
        ca, cb = clocks.get((a, pid)), clocks.get((b, pid))
        if ca is None or cb is None or min(ca + cb) < 0:
            return None
        return [(y - x) / 1000 for x, y in zip(ca, cb, strict=True)]

    out = ["- CPU per step, lone deaths (µs, median: loop thread / writer thread / process):"]
    totals: list[list[float]] = []
    for name, a, b in CPU_STEPS:
        xs = [u for pid in killed if (u := used(pid, a, b)) is not None]
        if xs:
            med = [statistics.median(x[i] for x in xs) for i in range(3)]
            out.append(f"  - {name}: {med[0]:.0f} / {med[1]:.0f} / {med[2]:.0f} (n={len(xs)})")
    for pid in killed:
        u = used(pid, "wake:in", "wire:out")
        if u is not None:
            totals.append(u)
    if totals:
        med = [statistics.median(x[i] for x in totals) for i in range(3)]
        out.append(
            f"  - the wake → the request written, in all: {med[0]:.0f} / {med[1]:.0f} / "
            f"{med[2]:.0f} (n={len(totals)})"
        )
    return out


SCAN_STEPS = ["scan", "scan:read", "scan:annotate", "scan:observe", "scan:track", "scan:twice"]


def slowest(
    first: dict[tuple[str, int], float],
    trace: list[tuple[str, int, float]],
    killed: dict[int, float],
    arrived: dict[int, float],
) -> list[str]:
    """The slowest 3 % of the lone deaths, each with its stages and what else ran meanwhile:
    the scan's steps that overlapped it (path_probe's `scan*` marks) and the event loop's
    lag (its `lag` marks: a 2 ms sleep woken late, by how much)."""
    spans: dict[str, list[tuple[float, float]]] = {s: [] for s in SCAN_STEPS}
    opened: dict[str, float] = {}
    lags: list[tuple[float, float]] = []
    for stage, pid, at in trace:
        if stage == "lag":
            lags.append((at - pid / 1e6, at))
        name, _, edge = stage.rpartition(":")
        if pid == -1 and edge == "in":
            opened[name] = at
        elif pid == -1 and edge == "out" and name in opened:
            spans[name].append((opened.pop(name), at))
    out = ["- a scan's steps, each over the run (ms; the step's own thread in brackets):"]
    where = {
        "scan": "loop, all of it",
        "scan:read": "worker",
        "scan:annotate": "writer",
        "scan:observe": "loop, all of it",
        "scan:track": "writer",
        "scan:twice": "writer",
    }
    for name, xs in spans.items():
        ms = [(b - a) * 1000 for a, b in xs]
        if ms:
            out.append(
                f"  - {name} ({where[name]}): median {statistics.median(ms):.1f}, "
                f"max {max(ms):.1f} (n={len(ms)})"
            )
    late = sorted(((arrived[p] - k) * 1000, p) for p, k in killed.items() if p in arrived)
    out += [f"- the slowest {max(1, len(late) * 3 // 100)} lone deaths (ms after the kill):"]
    for ms, pid in late[::-1][: max(1, len(late) * 3 // 100)]:
        k, a = killed[pid], arrived[pid]
        stages = ", ".join(
            f"{s} {(first[(s, pid)] - k) * 1000:.1f}"
            for s in (
                "wake:in",
                "handler:in",
                "end:in",
                "write_end:in",
                "ended_entry:in",
                "ended_entry:out",
                "handed:in",
                "send:in",
                "write_end:out",
            )
            if (s, pid) in first
        )
        met = [
            f"{name} {(max(s0, k) - k) * 1000:.1f}–{(min(s1, a) - k) * 1000:.1f}"
            for name, xs in spans.items()
            for s0, s1 in xs
            if s0 < a and s1 > k
        ]
        held = [
            f"{(l0 - k) * 1000:.1f}+{(l1 - l0) * 1000:.1f}" for l0, l1 in lags if l0 < a and l1 > k
        ]
        out.append(f"  - {ms:.1f} ms: {stages}, api {ms:.1f}")
        out.append(f"    scan steps meanwhile: {'; '.join(met) or 'none'}")
        out.append(f"    event loop held (start+length): {', '.join(held) or 'never > 3 ms'}")
    return out


def cpu_ns(pid: int) -> int:
    """Time on a CPU of every thread of `pid`, in ns (the kernel's schedstat, not ticks)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


def spawn(n: int) -> list[subprocess.Popen[bytes]]:
    return [task_process() for _ in range(n)]


def monit_config(root: Path, pids: list[int]) -> Path:
    lines = [
        "set daemon 1",
        f"set log {root / 'monit.log'}",
        f"set idfile {root / 'monit.id'}",
        f"set statefile {root / 'monit.state'}",
        f"set pidfile {root / 'monit.pid'}",
    ]
    for i, pid in enumerate(pids):
        (root / f"t{i}.pid").write_text(f"{pid}\n")
        lines += [
            f"check process t{i} with pidfile {root / f't{i}.pid'}",
            f"  if does not exist then exec \"/bin/sh -c 'echo t{i} $(date +%s.%N) "
            f">> {root / 'events'}'\"",
        ]
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
    ap.add_argument("--storm", type=int, default=20)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--no-monit", action="store_true")
    ap.add_argument("--hog", action="store_true")
    ap.add_argument("--entries", type=int, default=0)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--nice", type=int, default=0, help="telebot's niceness (the hog's is 0)")
    ap.add_argument(
        "--shelter",
        action="store_true",
        help="only the benchmark's own process in a group of the largest weight",
    )
    ap.add_argument(
        "--weight", type=int, default=0, help="telebot's cgroup cpu weight (the hog's is 100)"
    )
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="for telebot (an A/B of one setting in one session)",
    )
    args = ap.parse_args()
    use_monit = not args.no_monit and shutil.which("monit") is not None
    print(machine_line())
    print(
        f"command: python bench/bench_alerts.py --kills {args.kills} --storm {args.storm} "
        f"--idle {args.idle:g}"
        + (" --no-monit" if args.no_monit else "")
        + (" --hog" if args.hog else "")
        + (f" --entries {args.entries}" if args.entries else "")
        + (" --profile" if args.profile else "")
        + (f" --nice {args.nice}" if args.nice else "")
        + (f" --weight {args.weight}" if args.weight else "")
        + (" --shelter" if args.shelter and not args.weight else "")
        + "".join(f" --env {pair}" for pair in args.env)
    )
    groups = (
        CpuGroups({"telebot": args.weight, "others": 100, "bench": 10000})
        if args.weight
        else CpuGroups({"others": 100, "bench": 10000})
        if args.shelter
        else None
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeBotAPI(token=TOKEN) as api,
        groups or contextlib.nullcontext(),
    ):
        root = Path(tmp)
        if groups:  # the loopback API stands for Telegram, and the driver's kill() for fate:
            groups.join("bench", os.getpid())  # neither is on the player's machine's cores
        arrivals: dict[int, float] = {}
        lock = threading.Lock()

        storm_log: list[tuple[float, str, int]] = []  # (time, method, pids listed)
        cpu_at_kill: dict[int, int] = {}
        cpu_at_alert: dict[int, int] = {}
        bot_pid = 0

        def on_request(method: str, params: dict[str, Any]) -> None:
            text = str(params.get("text", ""))
            if method in ("sendMessage", "editMessageText") and text.startswith(MARKS):
                now = time.time()
                pids = re.findall(r"<code>(\d+)</code>", text)
                with lock:
                    for pid in pids:
                        arrivals.setdefault(int(pid), now)
                    storm_log.append((now, method, len(pids)))
                if len(pids) == 1 and int(pids[0]) in cpu_at_kill:
                    cpu_at_alert.setdefault(int(pids[0]), cpu_ns(bot_pid))

        api.on_request = on_request
        idle_procs = spawn(50)
        kill_procs = spawn(args.kills)
        storm_procs = spawn(args.storm)
        everything = idle_procs + kill_procs + storm_procs
        data = make_data(root, [p.pid for p in everything], args.entries)
        ikabot_log = root / "ikabot.log"
        make_log(ikabot_log)  # ikabot's 10 MB log: each death reads its new tail
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEBOT_", "IKABOT_"))},
            "IKABOT_PATH": str(data),
            "TELEGRAM_API_BASE_URL": api.base_url,
            "TELEBOT_STATE_DIR": str(root / "state"),
            "HOME": str(root),
            "IKABOT_LOG": str(ikabot_log),
            **dict(pair.split("=", 1) for pair in args.env),
        }
        trace = root / "trace.json"
        here = Path(__file__).parent
        command = (
            [sys.executable, str(here / "path_probe.py"), str(trace)]
            if args.profile
            else [sys.executable, "-m", "telebot", "run"]
        )
        if args.profile:  # path_probe runs from bench/: telebot from PYTHONPATH if given (an
            # A/B runs another tree's code with this benchmark), else from this tree
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in [env.get("PYTHONPATH", ""), str(here.parent)] if p
            )
        if args.nice:
            command = ["nice", "-n", str(args.nice), *command]
        bot = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        bot_pid = bot.pid  # `nice` execs telebot: the same pid
        if groups:  # the children of this process start in its group: each to its own
            groups.join("telebot" if args.weight else "others", bot.pid)
            for p in everything:  # ikabot's tasks: beside the hog, at the default weight
                groups.join("others", p.pid)
        monit = None
        hogs: list[subprocess.Popen[bytes]] = []
        try:
            assert api.wait_for(lambda: any("watching" in m["text"] for m in api.sent()), 30)
            if use_monit:
                conf = monit_config(root, [p.pid for p in kill_procs])
                monit = subprocess.Popen(
                    ["monit", "-c", str(conf), "-I"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                if groups:
                    groups.join("others", monit.pid)
                time.sleep(2.5)  # monit's first cycles register the processes
            # ---- idle cost: 50 + kills tracked tasks, nothing happening
            proc = psutil.Process(bot.pid)
            cpu0, t0 = proc.cpu_times(), time.monotonic()
            time.sleep(args.idle)
            cpu1, t1 = proc.cpu_times(), time.monotonic()
            used = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
            rss = proc.memory_info().rss / 2**20
            idle = (
                f"idle over {t1 - t0:.0f} s with {len(everything)} tracked tasks: CPU "
                f"{100 * used / (t1 - t0):.2f} % of one core ({used * 1000:.0f} ms), "
                f"RSS {rss:.1f} MB"
            )
            # ---- one kill at a time
            if args.hog:
                hogs = hog()
                for h in hogs:
                    if groups:
                        groups.join("others", h.pid)
                time.sleep(1)
            telebot_ms, monit_ms = [], []
            killed_at: list[float] = []
            gone_at: list[float] = []  # the driver's wait() returned: the task's exit is done
            next_kill = time.monotonic()
            for p in kill_procs:
                time.sleep(max(0.0, next_kill - time.monotonic()))
                cpu_at_kill[p.pid] = cpu_ns(bot.pid)
                killed_at.append(time.time())
                p.kill()
                p.wait()
                gone_at.append(time.time())
                next_kill += KILL_GAP + random.uniform(0.0, MONIT_CYCLE)
            exit_ms, after_ms = [], []  # the kill → the process gone; gone → the alert
            for p, killed, gone in zip(kill_procs, killed_at, gone_at, strict=True):
                if api.wait_for(lambda p=p: p.pid in arrivals, 10):
                    telebot_ms.append((arrivals[p.pid] - killed) * 1000)
                    exit_ms.append((gone - killed) * 1000)
                    after_ms.append((arrivals[p.pid] - gone) * 1000)
            if monit is not None:
                names = [f"t{i}" for i in range(len(kill_procs))]
                deadline = time.monotonic() + 10
                while not set(names) <= set(monit_events(root)) and time.monotonic() < deadline:
                    time.sleep(0.05)
                events = monit_events(root)
                monit_ms = [
                    (events[name] - killed) * 1000
                    for name, killed in zip(names, killed_at, strict=True)
                    if name in events
                ]
            # ---- a storm: all at once
            time.sleep(3)  # well past the last storm window
            with lock:
                storm_log.clear()
            first_kill = time.time()
            for p in storm_procs:
                p.kill()
            for p in storm_procs:
                p.wait()
            storm_pids = {p.pid for p in storm_procs}
            api.wait_for(lambda: storm_pids <= set(arrivals), 10)
            time.sleep(2.5)  # let every edit land
            with lock:
                log = list(storm_log)
            sends = [e for e in log if e[1] == "sendMessage"]
            complete = [t for t, _, n in log if n >= len(storm_pids)]
            listed = sorted(
                int(x)
                for m in api.sent(CHAT)
                for x in re.findall(r"\b(\d+)\b", m["text"])
                if int(x) in storm_pids
            )
            storm = (
                f"storm of {len(storm_pids)} killed at once: first alert "
                f"{(sends[0][0] - first_kill) * 1000:.1f} ms after the first kill, "
                + (
                    f"one message listing all {len(storm_pids)} after "
                    f"{(complete[0] - first_kill) * 1000:.0f} ms"
                    if complete
                    else "never one message listing all"
                )
                + f"; {len(sends)} message(s) sent, "
                f"{sum(e[1] == 'editMessageText' for e in log)} edit(s); each task listed "
                f"{'once' if listed == sorted(storm_pids) else 'NOT once'} in the end"
            )
            print(f"- telebot death → alert at the Bot API: {summary(telebot_ms)}")
            print(f"  - of which the killed task's own exit (kill → gone): {summary(exit_ms)}")
            print(f"  - and telebot's part (gone → the alert at the API): {summary(after_ms)}")
            if monit_ms:
                print(f"- Monit (set daemon 1, exec action) death → action: {summary(monit_ms)}")
                ratio = statistics.median(monit_ms) / statistics.median(telebot_ms)
                print(f"- ratio of medians, Monit / telebot: {ratio:.0f}×")
            else:
                print("- Monit: not measured (--no-monit, or not installed: apt-get install monit)")
            spent = [
                (cpu_at_alert[pid] - cpu_at_kill[pid]) / 1e6
                for pid in cpu_at_kill
                if pid in cpu_at_alert
            ]
            if spent:
                print(
                    "- telebot's CPU from the kill to the alert (all its threads): "
                    + summary(spent)
                )
            print(f"- {storm}")
            print(f"- {idle}")
            if monit_ms:
                print(
                    "- the Monit rule, per process: `check process tN with pidfile …` / "
                    "`if does not exist then exec \"/bin/sh -c 'echo tN $(date +%s.%N) >> "
                    "events'\"` under `set daemon 1`"
                )
            if args.profile:
                bot.terminate()
                bot.wait(20)
                lone = {p.pid: k for p, k in zip(kill_procs, killed_at, strict=True)}
                print("- where the time goes, lone deaths (stages overlap where nested):")
                print("\n".join(profile(trace, lone, arrivals)))
        finally:
            for h in hogs:
                h.kill()
                h.wait()
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
    with leaves_no_process():
        raise SystemExit(main())
