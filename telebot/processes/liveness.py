"""Is the process behind a task entry still that task?

A pid alone proves nothing on a machine that runs for months: pids are reused. A process is
identified by its start time in clock ticks since boot (`/proc/<pid>/stat` field 22) within
one boot (the kernel's boot id). Unlike psutil's create time (ticks + `/proc/stat` btime, which
is whole seconds and moves whenever NTP steps the clock) neither moves with the wall clock,
so a tracked task keeps one identity for its whole life.

ikabot records only a wall-clock `date` for each task. To judge whether the process now
holding a recorded pid is that task, its age (measured on the boot clock) is compared with the
entry's age (measured on the wall clock): the process must be at least as old as the entry,
give or take `CREATE_TIME_TOLERANCE`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CREATE_TIME_TOLERANCE = 5.0
# A Raspberry Pi has no battery clock: it boots with a stale wall clock and NTP steps it
# forward minutes later. A task ikabot started before that step carries a `date` that is too
# old by the size of the step, so by the comparison above it looks older than its process.
# A process that started within this many seconds of boot, with an entry dated before the
# boot (by the corrected clock), is taken as started before the clock was set.
EARLY_BOOT = 900.0

PROC = Path("/proc")


@lru_cache(maxsize=1)
def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@lru_cache(maxsize=1)
def boot_id() -> str:
    """This boot's id: start ticks of two different boots are not comparable."""
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def uptime() -> float:
    """Seconds since boot on the clock that start ticks count from (not the wall clock)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


@dataclass(frozen=True)
class ProcStat:
    """What `/proc/<pid>/stat` says that telebot needs."""

    state: str
    ppid: int
    start_ticks: int
    exit_code: int | None  # field 52: the wait status, meaningful once a zombie

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """None when there is no such process (or no /proc)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return None
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except (OSError, ValueError):
        return None
    # the command name (field 2) is in parentheses and may contain anything, spaces too
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        exit_code = int(fields[49]) if len(fields) > 49 else None
        return ProcStat(fields[0].decode("ascii", "replace"), int(fields[1]), int(fields[19]),
                        exit_code)
    except (IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    st = read_stat(pid)
    return None if st is None else st.start_ticks


def process_age(ticks: int) -> float:
    """How long ago a process with these start ticks started, in seconds."""
    return uptime() - ticks / clock_ticks()


def started_as_recorded(ticks: int, started: float, now: float | None = None) -> bool:
    """Could the process with these start ticks be the task ikabot recorded at `started`?"""
    if started <= 0:
        return True  # no date recorded: nothing to compare with (the store warns)
    now = time.time() if now is None else now
    entry_age = now - started
    age = process_age(ticks)
    if age + CREATE_TIME_TOLERANCE >= entry_age:
        return True
    since_boot = ticks / clock_ticks()
    booted_at = now - uptime()  # by the wall clock as it is now
    return since_boot <= EARLY_BOOT and started < booted_at


def probe(pid: int, started: float) -> tuple[bool, int | None]:
    """(alive, start ticks of whatever process now has this pid, if any)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or pid >= 2**31:
        return False, None
    try:
        os.kill(pid, 0)  # one syscall rules out most recorded pids, which are long gone
    except ProcessLookupError:
        return False, None
    except PermissionError:
        pass  # exists, owned by someone else: /proc still tells its start
    except (OSError, OverflowError, ValueError):
        return False, None
    st = read_stat(pid)
    if st is None:
        return False, None
    if st.zombie:
        return False, st.start_ticks
    return started_as_recorded(st.start_ticks, started), st.start_ticks


def same_process(pid: int, ticks: int) -> bool:
    """Whether `pid` is still the very process that started at `ticks`, and not a zombie."""
    st = read_stat(pid)
    return st is not None and st.start_ticks == ticks and not st.zombie


def psutil_create_time(pid: int) -> float:
    """psutil's create time (telebot's identity before version 2), for migrating old rows."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError, OverflowError):
        return -1.0
