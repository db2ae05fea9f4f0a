"""What the benchmarks share: the machine line, the summary of a sample, sample data, and the
end of every process a benchmark caused."""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from telebot.ikabot.producer import sanitize_email
from telebot.ikabot.safeio import atomic_write

TESTS = Path(__file__).resolve().parent.parent / "tests"


def kernel_pid_max() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


def gone_pids(count: int) -> list[int]:
    """`count` pids no process has, for entries of long-gone tasks: above this machine's
    /proc/sys/kernel/pid_max (the kernel hands out pids below it) and within the 2**22 that
    telebot takes from ikabot's data. Where pid_max is already 2**22 (systemd's default)
    there is no such room: then pids from the top down that no process has now."""
    from telebot.ikabot.store import PID_MAX

    pid_max = kernel_pid_max()
    above = list(range(pid_max, min(PID_MAX, pid_max + count - 1) + 1))
    top = (p for p in range(PID_MAX - 1, 0, -1) if not os.path.exists(f"/proc/{p}"))
    return above + [next(top) for _ in range(count - len(above))]


def summary(xs: list[float]) -> str:
    """Median and spread of milliseconds, for BENCHMARKS.md. A percentile is named only when
    more than one sample lies above it (p95 from n > 20, p99 from n > 100): below that it
    would be the maximum under another name."""
    xs = sorted(xs)
    n = len(xs)
    parts = [f"median {statistics.median(xs):.1f} ms"]
    for pct in (95, 99):
        if (100 - pct) * n > 100:
            parts.append(f"p{pct} {xs[min(n - 1, pct * n // 100)]:.1f} ms")
    parts += [f"min {xs[0]:.1f} ms", f"max {xs[-1]:.1f} ms (n={n})"]
    return ", ".join(parts)


def machine_line() -> str:
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def write_directory(
    root: Path, token: str, chat: int, accounts: list[tuple[str, str, list[dict[str, Any]]]]
) -> Path:
    """An ikabot ≥ 7.6 data directory: (e-mail, username, processList) per account."""
    path = root / ".ikabot"
    (path / "users").mkdir(parents=True)
    atomic_write(
        path / "global.json", json.dumps({"telegram": {"botToken": token, "chatId": str(chat)}})
    )
    for email, username, plist in accounts:
        atomic_write(
            path / "users" / f"{sanitize_email(email)}.json",
            json.dumps(
                {
                    "email": email,
                    "shared": {},
                    "players": {username: {"59": {"en": {"processList": plist}}}},
                },
                indent=2,
            ),
        )
    return path


def started_at(pid: int) -> float:
    """When the process started, as ikabot records a task's `date` (telebot takes an entry
    dated long after its process started for a reused pid, not for the task)."""
    import psutil

    return psutil.Process(pid).create_time()


def task_process() -> subprocess.Popen[bytes]:
    """A real, idle process standing for an ikabot task: `sleep`, with ikabot's name as its
    argv[0] (telebot takes only ikabot's processes for tasks)."""
    import shutil

    sys.path.insert(0, str(TESTS))
    from sessionguard import die_with_parent  # it ends with the benchmark, even a killed one

    return subprocess.Popen(
        ["ikabot", "3600"], executable=shutil.which("sleep"), preexec_fn=die_with_parent()
    )


@contextmanager
def live_processes(n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`n` real, idle processes to stand for live tasks; killed and reaped afterwards."""
    procs = [task_process() for _ in range(n)]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


@contextmanager
def leaves_no_process() -> Iterator[None]:
    """Every process the benchmark causes ends with it: at its end, after a failure, a Ctrl-C
    or a SIGTERM, now (before it returns), and after a SIGKILL just after. Not only its own
    children: the menus telebot starts, the tasks they fork, the tasks keep-alive restarts
    are nobody's children once their menu exits. What they share is the environment: each
    inherits the run's mark (tests/sessionguard.py, as a test session's processes), and
    each is ended by it, through a pidfd, after its mark is read again (a pid reused meanwhile
    is another process's). The children's TMPDIR is a directory of the run's, removed after.
    Entered first, before the benchmark starts anything or builds a child's environment."""
    sys.path.insert(0, str(TESTS))
    import sessionguard

    made = [  # ikabot's log and data directories of tests/, when the benchmark uses them
        d
        for m in ("ikabotlog", "ikabotdata")
        if (d := getattr(sys.modules.get(m), "MADE", None)) is not None
    ]
    sessionguard.start(made)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # the `finally` below runs, as for a Ctrl-C

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sessionguard.end_own()
