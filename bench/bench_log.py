"""Reading ikabot's log incrementally: a 10 MB log of 100 task pids, first read and each scan.

Run: python bench/bench_log.py [--repeat 50]

The log is written in ikabot's own format (`helpers/logging.py`: `%(asctime)s - %(player)s -
pid=%(process)d - %(name)s - %(levelname)s - %(message)s`), with multi-line records (a task's
`Error in: … Cause: <traceback>` message) among ordinary ones, as ikabot's RotatingFileHandler
leaves it at its 10 MB size. Measured: the first poll of a telebot that starts beside it
(reads the last 1 MB backlog), a poll with nothing new (every scan), a poll after one more
task's error record (a death's own cost), and finding that task's cause.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import machine_line, summary

from telebot.ikabot.log import IkabotLog

PIDS = 100
SIZE = 10 * 1024 * 1024


def line(pid: int, n: int, level: str = "WARNING", msg: str | None = None) -> str:
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 3600 + n % 3600))
    return (
        f"{at},{n % 1000:03d} - player{pid % 7} - pid={pid} - ikabot - {level} - "
        f"{msg or f'MESSAGE TO TG BOT: the fleet of task {pid} arrived ({n})'}\n"
    )


def error(pid: int, n: int) -> str:
    return line(
        pid,
        n,
        msg=(
            "MESSAGE TO TG BOT: Error in:\ndo_pirate_missions\nCause:\nTraceback (most recent "
            'call last):\n  File "ikabot/helpers/decorators.py", line 110, in wrapper\n'
            "    return func(*args, **kwargs)\nException: No city with pirate fortress capable "
            "of executing selected mission"
        ),
    )


def make_log(path: Path) -> int:
    size = n = 0
    with path.open("w") as f:
        while size < SIZE:
            pid = 10_000 + n % PIDS
            text = error(pid, n) if n % 500 == 0 else line(pid, n)
            f.write(text)
            size += len(text.encode())
            n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    print(machine_line())
    print(f"command: python bench/bench_log.py --repeat {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ikabot.log"
        records = make_log(path)
        first, idle, death, cause = [], [], [], []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            log = IkabotLog(path)
            log.poll()
            first.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            log.poll()
            idle.append((time.perf_counter() - t0) * 1000)
            pid = 20_000 + i
            with path.open("a") as f:
                f.write(error(pid, records + i))
                f.write(line(10_000, records + i))  # the next record completes it
            t0 = time.perf_counter()
            log.poll()
            death.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            found = log.error_cause(pid)
            cause.append((time.perf_counter() - t0) * 1000)
            assert found and found.startswith("Exception: No city"), found
        print(
            f"- log: {path.stat().st_size / 2**20:.1f} MB, {records} records of {PIDS} pids "
            "(1 in 500 a task's error with its traceback)"
        )
        print(f"- first poll (a start beside a full log: the last 1 MB): {summary(first)}")
        print(f"- a poll with nothing new (every scan): {summary(idle)}")
        print(f"- a poll after one more error record (what a death reads): {summary(death)}")
        print(f"- the cause of that pid's failure, looked up: {summary(cause)}")
        print(
            f"- ratio, first poll / a death's poll (medians): "
            f"{statistics.median(first) / statistics.median(death):.0f}×"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
