"""File I/O next to ikabot's data: reads that never hang, writes that are never seen half-done.

ikabot's data directory can hold anything another program (or user) left there: a FIFO opened
for reading blocks until a writer appears, `/dev/zero` never ends, a runaway file can be huge.
So a file is opened non-blocking, checked to be a regular file on the open descriptor (no
race between a check and the open), and read only up to a cap.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from contextlib import suppress
from pathlib import Path

DEFAULT_CAP = 16 * 1024 * 1024  # far above any real ikabot file


class UnsafeFile(ValueError):
    """Not a regular file, or larger than the cap: skipped, never read."""


def read_bytes_capped(path: Path, cap: int = DEFAULT_CAP) -> bytes:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path.name} is not a regular file")
        if st.st_size > cap:
            raise UnsafeFile(f"{path.name} is larger than {cap // (1024 * 1024)} MB")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise UnsafeFile(f"{path.name} is larger than {cap // (1024 * 1024)} MB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def flock_wait(fd: int, timeout: float) -> bool:
    """Take an exclusive flock on `fd`, waiting at most `timeout` seconds; False if not."""
    import fcntl

    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)


def read_text_capped(path: Path, cap: int = DEFAULT_CAP) -> str:
    """UTF-8 text of a regular file; UnicodeDecodeError (a ValueError) when it is not UTF-8."""
    return read_bytes_capped(path, cap).decode("utf-8")


def atomic_write(path: Path, text: str, *, mode: int | None = None) -> None:
    """Temp file in the same directory, fsync, rename: a reader sees old or new, never half.

    The new file keeps the old one's permissions, or gets `mode` when given.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
