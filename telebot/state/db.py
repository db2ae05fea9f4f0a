"""The SQLite connection all of telebot's stores share, owned by one writer thread.

An fsync on a Raspberry Pi's SD card can take tens of milliseconds; on the event loop it would
stall every handler and every alert behind it. So every statement runs on one thread of its
own (`run`: the loop hands it a function and awaits the result). One thread also means one
order: work is done in the order it was handed over, so whatever the loop reads through `run`
already sees every write handed over before it, and whatever it writes is committed after
them (a death's alert is sent while its commit's fsync runs, `EndWriter.write`, but marked sent
only behind that commit). `telebot status` opens read-only, and its work runs where it is
called.

The disk failing telebot never silences it: a corrupt file is moved aside (renamed with a time
stamp) and a new one started; a full or failing disk, at start or later, leaves telebot working
from memory (`state/fallback.py`). `take_news` says either to the owner, once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from telebot.errors import ConfigError
from telebot.i18n import _
from telebot.state import schema
from telebot.state.fallback import Connection, FallbackConnection, disk_failure, primary_code

P = ParamSpec("P")
T = TypeVar("T")
FILES = ("telebot.sqlite3", "telebot.sqlite3-wal", "telebot.sqlite3-shm")
READONLY_WAIT_MS = 200  # `telebot status` waits this long at most for the bot's database
log = logging.getLogger(__name__)


def private_dir(directory: Path) -> None:
    """telebot's state directory, created owner-only (0700) if missing: it holds the chat id,
    every alert text and the heartbeat."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_mode & 0o077:
        os.chmod(directory, 0o700)


class _Corrupt(Exception):
    """The database file is damaged (`PRAGMA quick_check` says so, or SQLite cannot read it)."""


def _corrupt(e: BaseException) -> bool:
    return isinstance(e, _Corrupt) or primary_code(e) in (
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    )


class Database:
    """One connection and the one transaction helper; the stores hold a reference to it."""

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        directory = Path(directory)
        self.path = directory / FILES[0]
        self.readonly = readonly
        self._writer: ThreadPoolExecutor | None = None
        self._news: str | None = None  # what the owner must hear about the database, once
        self._told: set[str] = set()
        if readonly:  # `telebot status` looks, never creates or changes anything
            self.conn = self._connect(f"file:{self.path}?mode=ro", uri=True)
            # a WAL reader never blocks the bot's writes; it waits at most this long itself
            # (a checkpoint, a recovery) and then shows the tasks without telebot's memory
            self.conn.execute(f"PRAGMA busy_timeout={READONLY_WAIT_MS}")
            self.conn.execute("PRAGMA query_only=1")
            return
        try:
            try:
                self._open(directory)
            except (sqlite3.Error, _Corrupt) as e:
                if _corrupt(e):
                    aside = self._move_aside()
                    self._open(directory)
                    self._news = _(
                        "telebot's database {file} was corrupt ({why}): it was "
                        "moved aside to {aside} and a new one started; the tasks it "
                        "tracked and the alerts not yet sent in it are lost."
                    ).format(file=self.path, why=e, aside=aside)
                elif primary_code(e) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
                    self._open_in_memory(e)
                else:
                    raise
        except (OSError, sqlite3.Error, _Corrupt) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError(
                _(
                    "cannot keep telebot's state in {dir} ({why}): set "
                    "TELEBOT_STATE_DIR to a directory you can write"
                ).format(dir=directory, why=reason)
            ) from None
        self.conn.armed = True
        if self._news:
            log.warning("%s", self._news)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telebot-state")

    def _connect(self, target: str | Path, **kw: Any) -> FallbackConnection:
        db = sqlite3.connect(target, isolation_level=None, check_same_thread=False, **kw)
        db.row_factory = sqlite3.Row
        return FallbackConnection(db, lambda mem: mem.executescript(schema.SCHEMA), str(self.path))

    def _open(self, directory: Path) -> None:
        # the database holds the chat id and every alert text: owner-only, and so are the
        # -wal and -shm files SQLite creates beside it (they follow the umask, not the file)
        old_umask = os.umask(0o077)
        try:
            private_dir(directory)
            self.conn = self._connect(self.path)
            try:
                check = self.conn.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise _Corrupt(check)
                self.conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed "pending alert" survives a power cut, not just a SIGKILL.
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.execute("PRAGMA busy_timeout=5000")
                schema.create(self.conn)
            except BaseException:
                self.conn.close()
                raise
        finally:
            os.umask(old_umask)
        for name in FILES:
            with suppress(FileNotFoundError):
                os.chmod(directory / name, 0o600)

    def _move_aside(self) -> str:
        """Rename the damaged database (and its -wal, -shm) with a time stamp; its new name."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for name in FILES:
            with suppress(FileNotFoundError):
                os.replace(
                    self.path.with_name(name), self.path.with_name(f"{name}.corrupt-{stamp}")
                )
        return f"{FILES[0]}.corrupt-{stamp}"

    def _open_in_memory(self, e: BaseException) -> None:
        """The disk refuses to start the database: work from memory (with what it had)."""
        try:
            self.conn = self._connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error:
            self.conn = self._connect(":memory:")
        self.conn.fail_over(disk_failure(e) or str(e))
        self.conn.executescript(schema.SCHEMA)
        schema.add_columns(self.conn)

    def take_news(self) -> str | None:
        """A problem with the database the owner has not been told yet (then it is told)."""
        for news in (self._news, self.conn.problem):
            if news and news not in self._told:
                self._told.add(news)
                return news
        return None

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the writer thread (after everything handed over before) and await it."""
        if self._writer is None:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: fn(*args, **kwargs))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
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
