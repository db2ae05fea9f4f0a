"""What the benchmarks share: the machine line, the summary of a sample, sample data."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from telebot.ikabot.details import sanitize_email
from telebot.ikabot.safeio import atomic_write


def machine_line() -> str:
    return (f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def summary(xs: list[float]) -> str:
    """Median and spread of milliseconds, for BENCHMARKS.md."""
    xs = sorted(xs)

    def q(p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    return (f"median {statistics.median(xs):.1f} ms, p95 {q(0.95):.1f} ms, p99 {q(0.99):.1f} "
            f"ms, min {xs[0]:.1f} ms, max {xs[-1]:.1f} ms (n={len(xs)})")


def write_directory(root: Path, token: str, chat: int,
                    accounts: list[tuple[str, str, list[dict[str, Any]]]]) -> Path:
    """An ikabot ≥ 7.6 data directory: (e-mail, username, processList) per account."""
    path = root / ".ikabot"
    (path / "users").mkdir(parents=True)
    atomic_write(path / "global.json", json.dumps(
        {"telegram": {"botToken": token, "chatId": str(chat)}}))
    for email, username, plist in accounts:
        atomic_write(path / "users" / f"{sanitize_email(email)}.json", json.dumps(
            {"email": email, "shared": {}, "players": {username: {"59": {"en": {
                "processList": plist}}}}}, indent=2))
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

    return subprocess.Popen(["ikabot", "3600"], executable=shutil.which("sleep"))


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
