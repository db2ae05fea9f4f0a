"""How a process that is not telebot's child ended: exited with a status, or a signal.

ikabot's tasks are children of ikabot's menu, so telebot cannot `wait()` for them. Two places
still tell (docs/contract.md section 1e): while the task is a zombie (the menu reaps late)
`/proc/<pid>/stat` field 52 holds its wait status; once it is reaped (the menu gone, init reaps
at once), Linux ≥ 6.15 answers `PIDFD_GET_INFO` with `PIDFD_INFO_EXIT` on a pidfd opened
before the exit. Anything else (an older kernel, a pid already reused) is "unknown", never a guess.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
from dataclasses import dataclass

from telebot.processes.liveness import read_stat

PIDFD_GET_INFO = 0xC040FF0B  # _IOWR(0xFF, 11, struct pidfd_info), 64 bytes
PIDFD_INFO_EXIT = 1 << 3
_INFO_SIZE = 64
_EXIT_CODE_OFFSET = 60


@dataclass(frozen=True)
class ExitInfo:
    """Exactly one of the two is set."""

    exit_status: int | None = None
    signal: int | None = None

    @property
    def signal_name(self) -> str | None:
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"

    def describe(self) -> str:
        if self.signal is not None:
            return f"ended by {self.signal_name}"
        return f"exited with status {self.exit_status}"


def from_wait_status(status: int) -> ExitInfo:
    if os.WIFSIGNALED(status):
        return ExitInfo(signal=os.WTERMSIG(status))
    return ExitInfo(exit_status=os.WEXITSTATUS(status))


def read_zombie(pid: int, start_ticks: int) -> ExitInfo | None:
    """The wait status of a zombie that is still the process we knew, else None."""
    st = read_stat(pid)
    if st is None or st.start_ticks != start_ticks or not st.zombie or st.exit_code is None:
        return None
    return from_wait_status(st.exit_code)


def read_pidfd(fd: int) -> ExitInfo | None:
    """The exit information the kernel keeps on a pidfd once the process was reaped."""
    buf = bytearray(_INFO_SIZE)
    struct.pack_into("=Q", buf, 0, PIDFD_INFO_EXIT)
    try:
        fcntl.ioctl(fd, PIDFD_GET_INFO, buf, True)
    except OSError as e:
        if e.errno not in (errno.ENOTTY, errno.EINVAL, errno.ESRCH, errno.EOPNOTSUPP, errno.EBADF):
            raise
        return None
    mask = struct.unpack_from("=Q", buf, 0)[0]
    if not mask & PIDFD_INFO_EXIT:
        return None  # not reaped yet, or a kernel before 6.15
    return from_wait_status(struct.unpack_from("=i", buf, _EXIT_CODE_OFFSET)[0])


def read_exit(pid: int, start_ticks: int, fd: int | None, tries: int = 3) -> ExitInfo | None:
    """Zombie first, then the pidfd; a reap between the two reads is looked at again."""
    for _ in range(tries):
        info = read_zombie(pid, start_ticks)
        if info is None and fd is not None:
            info = read_pidfd(fd)
        if info is not None:
            return info
        st = read_stat(pid)
        if st is None or st.start_ticks != start_ticks:
            if fd is None:
                return None
            continue  # reaped in between: the pidfd has it now (on kernels that keep it)
        return None
    return None
