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

Before any of that, the process must be ikabot's at all (`is_ikabot`): what its `/proc` says,
its command line or its name, is ikabot's. ikabot itself keeps a recorded pid as its task only
when the process has its own process name (`helpers/process._updateProcessList`); telebot is
never weaker than that before it calls a task running or signals it.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CREATE_TIME_TOLERANCE = 5.0
# A Raspberry Pi has no battery clock: it boots with a stale wall clock and NTP steps it
# forward minutes later. A task ikabot started before that step carries a `date` that is too
# old by the size of the step, so by the comparison above it looks older than its process.
# During the first EARLY_BOOT seconds after boot, an ikabot process that started in that time,
# with an entry dated before the boot (by the corrected clock), is taken as started before the
# clock was set; telebot remembers it (pid, start ticks, date), so the same process stays that
# task later on, and nothing else is ever taken for an entry older than its process.
EARLY_BOOT = 900.0
_EARLY_LIMIT = 4096  # remembered early-boot tasks (a handful in practice)
_early: dict[tuple[int, int, float], None] = {}

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
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        exit_code = int(fields[49]) if len(fields) > 49 else None
        return ProcStat(
            fields[0].decode("ascii", "replace"), int(fields[1]), int(fields[19]), exit_code
        )
    except (IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    st = read_stat(pid)
    return None if st is None else st.start_ticks


def process_age(ticks: int) -> float:
    """How long ago a process with these start ticks started, in seconds."""
    return uptime() - ticks / clock_ticks()


def started_as_recorded(ticks: int, started: float, now: float | None = None) -> bool:
    """Could the process with these start ticks be the task ikabot recorded at `started`?

    Only for a process already known to be ikabot's (`is_ikabot`): an undated entry has
    nothing to compare with, so it is that task (the store warns about such entries).
    """
    if started <= 0:
        return True
    now = time.time() if now is None else now
    if process_age(ticks) + CREATE_TIME_TOLERANCE >= now - started:
        return True
    up = uptime()
    booted_at = now - up  # by the wall clock as it is now
    return up <= EARLY_BOOT and ticks / clock_ticks() <= EARLY_BOOT and started < booted_at


# ---------------------------------------------------------------- is it ikabot's at all?

IKABOT = "ikabot"
_PYTHON = re.compile(r"(python|pypy)[0-9.]*[dmu]?")
_WITH_ARG = frozenset("WXQ")  # interpreter options that take the next argument
_IKABOT_MAIN = re.compile(r"(^|/)ikabot(/__main__\.py|/command_line\.py)?$")
# the command line of a multiprocessing helper (spawn / forkserver start methods): its code
# names the main script it was started for
_MP_HELPER = "from multiprocessing."
_MP_MAIN = re.compile(r"['\"]main_path['\"]: ['\"][^'\"]*/ikabot(/__main__\.py)?['\"]")


def looks_like_ikabot(argv: list[str], comm: str) -> bool | None:
    """What a command line says: ikabot's (True), not (False), or a multiprocessing helper
    that does not say (None: its parent decides).

    ikabot runs as its console script (`/venv/bin/ikabot`: the kernel names the process
    `ikabot`, its command line is `python /venv/bin/ikabot …`), as `python -m ikabot`, or as a
    frozen `ikabot` binary; its tasks are multiprocessing children, forked (same command line)
    or started by a spawn / forkserver helper.
    """
    if comm == IKABOT:
        return True
    if not argv:
        return False  # a kernel thread, or a zombie
    if os.path.basename(argv[0]) == IKABOT:
        return True
    if not _PYTHON.fullmatch(os.path.basename(argv[0])):
        return False
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-m", "-c"):
            value = next(args, "")
            if arg == "-m":
                return value == IKABOT
            if not value.startswith(_MP_HELPER):
                return False
            return True if _MP_MAIN.search(value) else None
        if arg.startswith("-m"):
            return arg[2:] == IKABOT
        if arg == "-" or not arg.startswith("-"):
            return bool(_IKABOT_MAIN.search(arg))
        if arg[1:2] in _WITH_ARG and len(arg) == 2:
            next(args, None)
    return False


def _proc_file(pid: int, name: str) -> bytes | None:
    try:
        return (PROC / str(pid) / name).read_bytes()
    except (OSError, ValueError):
        return None


def is_ikabot(pid: int) -> bool:
    """Does `/proc` say this process is ikabot's (its command line or name)?

    A multiprocessing helper's child that does not name its main script is ikabot's when its
    parent is (the menu while it lives, or the forkserver that names ikabot).
    """
    for _ in range(2):  # the process, then at most its parent
        comm = _proc_file(pid, "comm")
        raw = _proc_file(pid, "cmdline") if comm is not None else None
        if comm is None or raw is None:
            return False
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0")]
        if argv and argv[-1] == "":
            argv.pop()
        verdict = looks_like_ikabot(argv, comm.rstrip(b"\n").decode("utf-8", "replace"))
        if verdict is not None:
            return verdict
        st = read_stat(pid)
        if st is None:
            return False
        pid = st.ppid
    return False


def may_signal(pid: int) -> bool:
    """Whatever ikabot's data says: never pid 1, telebot itself or its parent, never a
    process that is not ikabot's."""
    if pid in (0, 1, os.getpid(), os.getppid()):
        return False
    return is_ikabot(pid)


def probe(pid: int, started: float) -> tuple[bool, int | None]:
    """(alive, start ticks of whatever process now has this pid, if any).

    Alive means: an ikabot process, not a zombie, that may be the task recorded at `started`.
    """
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
    key = (pid, st.start_ticks, started)
    known = key in _early  # an early-boot task seen before: the same process still is
    if not known and not started_as_recorded(st.start_ticks, started):
        return False, st.start_ticks
    if not is_ikabot(pid):
        return False, st.start_ticks
    if not known and 0 < started < time.time() - uptime() and len(_early) < _EARLY_LIMIT:
        _early[key] = None  # taken by the early-boot allowance: remembered
    return True, st.start_ticks


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
