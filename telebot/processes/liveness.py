"""Is the process behind a task entry still that task?

A pid alone proves nothing on a machine that runs for months: pids are reused. A task is alive
when its pid exists, is not a zombie, and the process was created no later than the entry's
recorded start (plus a tolerance: ikabot records `date` just after starting the process, and
the kernel's start time has clock-tick precision).
"""

from __future__ import annotations

import psutil

CREATE_TIME_TOLERANCE = 5.0
SAME_PROCESS_EPSILON = 0.05


def probe(pid: int, started: float) -> tuple[bool, float | None]:
    """(alive, create time of whatever process now has this pid, if any)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False, None
    if not psutil.pid_exists(pid):  # one kill(pid, 0): most recorded pids are long gone
        return False, None
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            created = proc.create_time()
            try:
                zombie = proc.status() == psutil.STATUS_ZOMBIE
            except psutil.AccessDenied:
                zombie = False
    except psutil.ZombieProcess:
        return False, None
    except (psutil.NoSuchProcess, ValueError, OverflowError):
        return False, None
    except psutil.AccessDenied:
        return True, None  # exists, but not ours to inspect: trust the entry
    if zombie:
        return False, created
    if started > 0 and created > started + CREATE_TIME_TOLERANCE:
        return False, created  # a newer process took the pid
    return True, created


def create_time(pid: int) -> float | None:
    """The create time of the process with this pid now, or None."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError, OverflowError):
        return None


def same_process(pid: int, created: float) -> bool:
    """Whether `pid` is still the very process created at `created`, and not a zombie."""
    if not psutil.pid_exists(pid):
        return False
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if abs(proc.create_time() - created) > SAME_PROCESS_EPSILON:
                return False
            try:
                return proc.status() != psutil.STATUS_ZOMBIE
            except psutil.AccessDenied:
                return True
    except (psutil.Error, ValueError, OverflowError):
        return False
