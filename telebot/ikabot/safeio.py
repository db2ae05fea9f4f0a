"""File I/O next to ikabot's data: reads that never hang, writes that are never seen half-done.

ikabot's data directory (and `/tmp`, where ikabot logs) can hold anything another program or
user left there: a FIFO opened for reading blocks until a writer appears, `/dev/zero` never
ends, a runaway file can be huge, another user's file can say anything. So every file telebot
reads is opened non-blocking and checked on the open descriptor (no race between a check and
the open): a regular file, owned by ikabot's user (the owner of ikabot's data) or root, that
no one else may write (no other-write bit; a group-write bit only for the owner's private
group), read only up to a cap. Anything else is `UnsafeFile`: skipped, with a warning.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from contextlib import suppress
from functools import lru_cache
from pathlib import Path

DEFAULT_CAP = 16 * 1024 * 1024  # far above any real ikabot file


class UnsafeFile(ValueError):
    """Not a regular file, not ikabot's, writable by others, or larger than the cap: skipped,
    never read."""


def owner_of(path: Path) -> int:
    """ikabot's user: whoever owns ikabot's data (telebot's own user while there is none)."""
    try:
        return os.stat(path).st_uid
    except OSError:
        return os.geteuid()


@lru_cache(maxsize=64)
def _private_group(uid: int, gid: int) -> bool:
    """Is `gid` the user's own group (its primary group, no other member): the usual umask
    002 set-up, where every file of the user is group-writable by the user alone?"""
    import grp
    import pwd

    try:
        user = pwd.getpwuid(uid)
        members = grp.getgrgid(gid).gr_mem
    except KeyError:
        return False
    return user.pw_gid == gid and set(members) <= {user.pw_name}


def check_trusted(path: Path, st: os.stat_result, owner: int) -> None:
    """UnsafeFile unless `st` is a regular file that only `owner` (or root) can have written."""
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"{path.name} is not a regular file")
    if st.st_uid not in (owner, 0):
        raise UnsafeFile(
            f"{path.name} belongs to another user (uid {st.st_uid}), not to ikabot's (uid {owner})"
        )
    if st.st_mode & stat.S_IWOTH or (
        st.st_mode & stat.S_IWGRP and not _private_group(st.st_uid, st.st_gid)
    ):
        raise UnsafeFile(f"{path.name} is writable by other users")


def open_trusted(path: Path, owner: int | None = None) -> tuple[int, os.stat_result]:
    """A descriptor of `path` and its stat, after `check_trusted` (the caller closes it).

    `owner`: ikabot's user (`owner_of` ikabot's data); telebot's own user when not given.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)  # O_NONBLOCK: a FIFO opens at once instead of waiting for a writer
    try:
        st = os.fstat(fd)
        check_trusted(path, st, os.geteuid() if owner is None else owner)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_bytes_capped(path: Path, cap: int = DEFAULT_CAP, owner: int | None = None) -> bytes:
    fd, st = open_trusted(path, owner)
    try:
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


def read_text_capped(path: Path, cap: int = DEFAULT_CAP, owner: int | None = None) -> str:
    """UTF-8 text of a regular file; UnicodeDecodeError (a ValueError) when it is not UTF-8."""
    return read_bytes_capped(path, cap, owner).decode("utf-8")


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
