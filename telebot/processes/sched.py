"""A short time slice for the two threads a death's alert passes through (Linux ≥ 6.12).

On a machine whose cores are all busy (a build, a backup, another bot), a thread the kernel
wakes waits until the running task's slice is used up: up to 1.4 ms per wake on a 2-core
machine with the kernel's default slice, and an alert is woken on the event loop and on the
state's writer thread, besides the pidfd's own wake. Since Linux 6.12 (EEVDF) a normal task
may ask for a shorter slice (`sched_setattr`'s `sched_runtime`, no privilege needed), and a
task with a shorter slice preempts the running one when it wakes. It gets no more CPU than
before (its nice value and weight are unchanged): it runs sooner, for less at a time, which
is what a thread that sleeps and does a millisecond of work at a time is. Kernels before 6.12
accept the call and keep their default slice.

`SCHED_FLAG_RESET_ON_FORK`: threads and processes started from such a thread (worker threads,
ikabot's menu and the tasks it starts) are not given the short slice; only the threads that
call `short_slice` have it. TELEBOT_SHORT_SLICE=0 leaves the kernel's default everywhere.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import struct

log = logging.getLogger(__name__)

SLICE_NS = 100_000  # the shortest slice the kernel grants (0.1 ms)
SCHED_FLAG_RESET_ON_FORK = 0x01
# sched_setattr(2) by architecture (the Raspberry Pi's 64- and 32-bit ARM included)
_SYSCALL = {"x86_64": 314, "aarch64": 274, "armv7l": 380, "armv6l": 380, "i686": 351}


def _attr(slice_ns: int) -> bytes:
    """struct sched_attr, SCHED_ATTR_SIZE_VER0 (48 bytes): size, policy (SCHED_OTHER), flags,
    nice, priority, runtime (the slice), deadline, period."""
    return struct.pack("IIQiIQQQ", 48, 0, SCHED_FLAG_RESET_ON_FORK, os.nice(0), 0, slice_ns, 0, 0)


def short_slice(slice_ns: int = SLICE_NS) -> bool:
    """Ask for `slice_ns` for the calling thread; False (and nothing changed) where the
    system has no `sched_setattr` or refuses it."""
    number = _SYSCALL.get(platform.machine())
    if number is None or not hasattr(os, "sched_getscheduler"):
        return False
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            return False  # started as SCHED_BATCH/IDLE/RT on purpose: left as it is
        libc = ctypes.CDLL(None, use_errno=True)
        attr = ctypes.create_string_buffer(_attr(slice_ns), 48)
        if libc.syscall(number, 0, attr, 0) != 0:
            log.debug("sched_setattr refused: %s", os.strerror(ctypes.get_errno()))
            return False
    except (OSError, AttributeError) as e:
        log.debug("no short slice: %s", e)
        return False
    return True


def thread_slice_ns() -> int | None:
    """The calling thread's slice as the kernel reports it (`se.slice`), if it does."""
    try:
        with open("/proc/thread-self/sched", encoding="ascii") as f:
            for line in f:
                if line.startswith("se.slice"):
                    return int(line.split(":")[1])
    except (OSError, ValueError):
        return None
    return None
