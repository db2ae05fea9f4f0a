"""Notice a task process's death the moment it happens, without polling.

On Linux a pidfd (`os.pidfd_open`) becomes readable when its process exits, and works for
processes that are not our children (ikabot's tasks are ikabot's). The event loop's reader
wakes us: no timer, no CPU while nothing dies. Identity is (pid, create time): after opening the
pidfd we check the process behind the pid is still the one we were told about, so a pid already
reused is reported as gone, never watched as if it were the task. Where pidfd is missing
(other systems, old kernels, seccomp), a single timer checks all such pids at the scan interval.
When a pidfd fires, how the process ended is read (`exitinfo`) before the fd is closed: the
pidfd is what still holds it once the task is reaped.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from telebot.processes.exitinfo import ExitInfo, read_exit
from telebot.processes.liveness import same_process

log = logging.getLogger(__name__)

OnExit = Callable[[int, int, "ExitInfo | None"], None]


def pidfd_supported() -> bool:
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except OSError:
        return False


@dataclass
class _Watch:
    start_ticks: int
    fd: int | None  # None: watched by the fallback timer


class ProcessWatcher:
    def __init__(
        self, on_exit: OnExit, *, fallback_interval: float = 15.0, use_pidfd: bool | None = None
    ) -> None:
        self._on_exit = on_exit
        self._interval = fallback_interval
        self._use_pidfd = pidfd_supported() if use_pidfd is None else use_pidfd
        self._watches: dict[int, _Watch] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def watched(self) -> dict[int, int]:
        return {pid: w.start_ticks for pid, w in self._watches.items()}

    def watch(self, pid: int, start_ticks: int) -> None:
        current = self._watches.get(pid)
        if current is not None:
            if current.start_ticks == start_ticks:
                return
            self.unwatch(pid)  # the pid now names another task: a new watch
        fd = None
        if self._use_pidfd:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                self.loop.call_soon(self._on_exit, pid, start_ticks, None)
                return
            except OSError as e:  # EPERM under some sandboxes, ENOSYS on old kernels
                log.info(
                    "pidfd unavailable (%s); checking pid %d every %.0f s",
                    e.strerror,
                    pid,
                    self._interval,
                )
        if not same_process(pid, start_ticks):
            info = read_exit(pid, start_ticks, fd) if fd is not None else None
            if fd is not None:
                os.close(fd)
            self.loop.call_soon(self._on_exit, pid, start_ticks, info)
            return
        self._watches[pid] = _Watch(start_ticks, fd)
        if fd is not None:
            self.loop.add_reader(fd, self._fired, pid)
        else:
            self._arm_timer()

    def _fired(self, pid: int) -> None:
        w = self._watches.pop(pid, None)
        if w is None or w.fd is None:
            return
        self.loop.remove_reader(w.fd)
        try:
            info = read_exit(pid, w.start_ticks, w.fd)
        except OSError:
            info = None
        finally:
            os.close(w.fd)
        self._on_exit(pid, w.start_ticks, info)

    def _arm_timer(self) -> None:
        if self._timer is None and any(w.fd is None for w in self._watches.values()):
            self._timer = self.loop.call_later(self._interval, self._check)

    def _check(self) -> None:
        self._timer = None
        for pid, w in list(self._watches.items()):
            if w.fd is None and not same_process(pid, w.start_ticks):
                del self._watches[pid]
                self._on_exit(pid, w.start_ticks, read_exit(pid, w.start_ticks, None))
        self._arm_timer()

    def unwatch(self, pid: int) -> None:
        w = self._watches.pop(pid, None)
        if w is not None and w.fd is not None:
            self.loop.remove_reader(w.fd)
            os.close(w.fd)

    def close(self) -> None:
        for pid in list(self._watches):
            self.unwatch(pid)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
