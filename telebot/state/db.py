"""The SQLite connection all of telebot's stores share, owned by one writer thread.

An fsync on a Raspberry Pi's SD card can take tens of milliseconds; on the event loop it would
stall every handler and every alert behind it. So every statement runs on one thread of its
own (`run`: the loop hands it a function and awaits the result). One thread also means one
order: work is done in the order it was handed over, so whatever the loop reads through `run`
already sees every write handed over before it (an alert is committed before the outbox's
sender can read it: the sender awaits that read). `telebot status` opens read-only, and its
work runs where it is called.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import ParamSpec, TypeVar

from telebot.errors import ConfigError
from telebot.state import schema

P = ParamSpec("P")
T = TypeVar("T")
FILES = ("telebot.sqlite3", "telebot.sqlite3-wal", "telebot.sqlite3-shm")


class Database:
    """One connection and the one transaction helper; the stores hold a reference to it."""

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        directory = Path(directory)
        self.path = directory / FILES[0]
        self.readonly = readonly
        self._writer: ThreadPoolExecutor | None = None
        if readonly:  # `telebot status` looks, never creates or changes anything
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                        isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA busy_timeout=2000")
            return
        try:
            self._open(directory)
        except (OSError, sqlite3.Error) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError(f"cannot keep telebot's state in {directory} ({reason}): set "
                              "TELEBOT_STATE_DIR to a directory you can write") from None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telebot-state")

    def _open(self, directory: Path) -> None:
        # the database holds the chat id and every alert text: owner-only, and so are the
        # -wal and -shm files SQLite creates beside it (they follow the umask, not the file)
        old_umask = os.umask(0o077)
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            if directory.stat().st_mode & 0o077:
                os.chmod(directory, 0o700)
            self.conn = sqlite3.connect(self.path, isolation_level=None,
                                        check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed "pending alert" survives a power cut, not just a SIGKILL.
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=5000")
            schema.create(self.conn)
        finally:
            os.umask(old_umask)
        for name in FILES:
            with suppress(FileNotFoundError):
                os.chmod(directory / name, 0o600)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the writer thread (after everything handed over before) and await it."""
        if self._writer is None:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: fn(*args, **kwargs))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Many small writes, one commit (one fsync): an SD card lives longer for it. Nested
        uses join the outer transaction."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.commit()

    def commit(self) -> None:
        """The one place telebot's writes become durable (the fsync); a benchmark slows it."""
        self.conn.execute("COMMIT")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)  # what was handed over is written first
            self._writer = None
        self.conn.close()
