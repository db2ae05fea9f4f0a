"""End a process telebot itself started, by pid AND identity only: a menu a killed telebot left.

A recorded pid is only a number the kernel hands out again. The process is signalled only when
it is still the very one recorded: the same boot (`liveness.boot_id`) and the same start ticks
(`liveness.same_process`), checked *after* a pidfd is opened on it and signalled through that
pidfd, so a process that takes the pid in between is never reached. Only that pid is
signalled, never its process group: the tasks it started (its children, detached) go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

from telebot.compat import StrEnum
from telebot.processes import liveness

GRACE = 3.0  # seconds between SIGTERM and SIGKILL


class Leftover(StrEnum):
    """What became of a recorded process."""

    GONE = "gone"  # ended already (or another boot's): nothing signalled
    OTHER = "another process"  # the pid belongs to another process now: not touched
    ENDED = "ended"  # SIGTERM ended it
    KILLED = "killed"  # it outlived SIGTERM by `GRACE` seconds: SIGKILL
    STAYS = "still running"  # not even SIGKILL ended it (yet), or it may not be signalled


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _send(fd: int | None, pid: int, ticks: int, sig: signal.Signals) -> None:
    if fd is not None:
        signal.pidfd_send_signal(fd, sig)
    elif liveness.same_process(pid, ticks):  # no pidfd: checked right before the signal
        os.kill(pid, sig)


async def _ends(pid: int, ticks: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while liveness.same_process(pid, ticks):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def end_recorded(pid: int, ticks: int, boot: str, grace: float = GRACE) -> Leftover:
    """SIGTERM to `pid` if it is still the process recorded as (`ticks`, `boot`), SIGKILL
    after `grace` seconds; what became of it."""
    if boot != liveness.boot_id():
        return Leftover.GONE  # the machine rebooted since: that process is long gone
    if not liveness.same_process(pid, ticks):
        return Leftover.GONE if liveness.start_ticks(pid) is None else Leftover.OTHER
    if pid in (0, 1, os.getpid(), os.getppid()):
        return Leftover.STAYS
    fd = _pidfd(pid)
    try:
        # after the pidfd is open, this check proves the fd is the very process recorded
        if not liveness.same_process(pid, ticks):
            return Leftover.GONE if liveness.start_ticks(pid) is None else Leftover.OTHER
        for sig, how in ((signal.SIGTERM, Leftover.ENDED), (signal.SIGKILL, Leftover.KILLED)):
            try:
                _send(fd, pid, ticks, sig)
            except ProcessLookupError:
                return how
            except PermissionError:
                return Leftover.STAYS
            if await _ends(pid, ticks, grace):
                return how
        return Leftover.STAYS
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
