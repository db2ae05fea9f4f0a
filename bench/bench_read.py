"""Full read + merge + liveness of 1,000 tasks over 10 accounts, in each layout.

Run: python bench/bench_read.py [--repeat 50]
Prints one Markdown table row a case (median, spread) for BENCHMARKS.md. A few of the tasks
are real live processes, the rest dead pids, as on a machine where ikabot ran for weeks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import gone_pids, live_processes, machine_line, started_at

from telebot.config import Settings
from telebot.ikabot import legacy
from telebot.ikabot.store import open_store
from telebot.tasks.merge import build_tasks

ACCOUNTS = 10
TASKS_PER_ACCOUNT = 100
LIVE = 20
EMAIL = "player{}@example.org"
PASSWORD = "bench-password"


def _processes(
    live_pids: list[int], account: int, now: float, gone: list[int]
) -> tuple[list, dict]:
    plist, details = [], {}
    for i in range(TASKS_PER_ACCOUNT):
        n = account * TASKS_PER_ACCOUNT + i
        pid = live_pids[n % len(live_pids)] if n < LIVE else gone[n]  # past pid_max
        action = ("autoPirate", "webServer", "constructionList")[n % 3]
        status = {
            "autoPirate": f"Pirating for {1 + i % 9} more runs",
            "webServer": f"running on http://127.0.0.1:{40000 + n} "
            f"and http://192.168.1.9:{40000 + n}",
            "constructionList": "Athens: Academy -> level 4 , current 1h 2m , total 3h 4m",
        }[action]
        date = started_at(pid) if n < LIVE else now - 86400  # live ones judged running
        plist.append({"pid": pid, "action": action, "date": date, "status": status})
        if n % 2:
            details[str(pid)] = {
                "action": action,
                "timestamp": now - 30,
                "progress": {"done": i % 10, "total": 10, "unit": "missions"},
            }
    return plist, details


def make_directory(root: Path, live: list[int]) -> Path:
    path = root / ".ikabot"
    (path / "users").mkdir(parents=True)
    (path / "global.json").write_text(
        json.dumps({"telegram": {"botToken": "123:TEST", "chatId": "42"}})
    )
    now = time.time()
    gone = gone_pids(ACCOUNTS * TASKS_PER_ACCOUNT)
    for a in range(ACCOUNTS):
        plist, details = _processes(live, a, now, gone)
        data = {
            "email": EMAIL.format(a),
            "shared": {},
            "players": {
                f"user{a}": {"59": {"en": {"processList": plist, "processDetails": details}}}
            },
        }
        name = EMAIL.format(a).replace("@", "_")
        (path / "users" / f"{name}.json").write_text(json.dumps(data, indent=2))
    return path


def make_legacy(root: Path, live: list[int]) -> tuple[Path, str]:
    """One e-mail holding 10 usernames (the legacy file is keyed by e-mail)."""
    path = root / "legacy.ikabot"
    now = time.time()
    data: dict = {"shared": {"telegram": {"botToken": "123:TEST", "chatId": "42"}}}
    gone = gone_pids(ACCOUNTS * TASKS_PER_ACCOUNT)
    for a in range(ACCOUNTS):
        plist, details = _processes(live, a, now, gone)
        data[f"user{a}"] = {"59": {"en": {"processList": plist, "processDetails": details}}}
    email = EMAIL.format(0)
    key = legacy.derive_key(email, PASSWORD)
    path.write_text(f"{legacy.entry_key(email)} {legacy.encrypt(key, data)}\n")
    return path, email


def measure(settings: Settings, repeat: int, cold: bool = False) -> tuple[list[float], int]:
    store = open_store(settings)
    tasks = build_tasks(store.read())
    times = []
    for _ in range(repeat):
        if cold:  # as if ikabot had rewritten every file since the last scan
            store._cache.clear()  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        tasks = build_tasks(store.read())
        times.append((time.perf_counter() - t0) * 1000)
    return times, len(tasks)


def row(name: str, times: list[float], count: int) -> str:
    q = statistics.quantiles(times, n=20)
    tails = f" (p5 {q[0]:.1f}, p95 {q[-1]:.1f})" if len(times) > 20 else ""  # else min/max
    return (
        f"| {name} | {count} | {statistics.median(times):.1f} ms | "
        f"{min(times):.1f}–{max(times):.1f} ms{tails} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with live_processes(LIVE) as live, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pids = [p.pid for p in live]
        directory = make_directory(root, pids)
        legacy_path, email = make_legacy(root, pids)
        state = root / "state"
        print(machine_line())
        print(f"command: python bench/bench_read.py --repeat {args.repeat}")
        print("| case | tasks | median | spread |")
        print("|---|---|---|---|")
        t, n = measure(Settings(ikabot_path=directory, state_dir=state), args.repeat)
        print(row("directory layout (7.6+), full read+merge+liveness", t, n))
        t, n = measure(Settings(ikabot_path=directory, state_dir=state), args.repeat, True)
        print(row("directory layout, every file changed since the last read", t, n))
        t, n = measure(
            Settings(ikabot_path=legacy_path, email=email, password=PASSWORD, state_dir=state),
            args.repeat,
        )
        print(row("legacy file (≤ 7.5), full read+merge+liveness", t, n))
        kd = []
        for _ in range(max(5, args.repeat // 5)):
            t0 = time.perf_counter()
            legacy.derive_key(email, PASSWORD)
            kd.append((time.perf_counter() - t0) * 1000)
        print(row("legacy key derivation (once per account)", kd, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
