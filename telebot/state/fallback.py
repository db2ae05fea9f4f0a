"""telebot's SQLite connection, which keeps working in memory when the disk fails it.

A full disk (SQLITE_FULL), an I/O error, a file made read-only or corrupt under a running
telebot would otherwise turn every write into an exception: the scan that tracks tasks, the
alert written to the outbox before it is sent, and every `/status` (reads also track) would
fail, and telebot would go silent with "database or disk is full" in its log.

So the first write the disk refuses moves the connection to an in-memory copy (SQLite's backup
of what was committed, or a fresh database when even that cannot be read), replays the
transaction under way there, and carries on: alerts still go out, `/status` still answers.
`problem` says what happened, once, for the owner; what telebot records from then on is lost
when it restarts (a restart opens the disk again).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any, Protocol

from telebot.i18n import N_, _

log = logging.getLogger(__name__)

# primary result codes that mean "the disk failed us", not "the query is wrong" or "busy"
DISK_FAILURES = {
    sqlite3.SQLITE_FULL: N_("the disk is full"),
    sqlite3.SQLITE_IOERR: N_("an I/O error"),
    sqlite3.SQLITE_READONLY: N_("the database became read-only"),
    sqlite3.SQLITE_CORRUPT: N_("the database is corrupt"),
    sqlite3.SQLITE_NOTADB: N_("the file is not a database"),
    sqlite3.SQLITE_CANTOPEN: N_("the database file cannot be opened"),
}


def primary_code(e: BaseException) -> int | None:
    """SQLite's primary result code of an error (extended codes folded), if it has one."""
    code = getattr(e, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def disk_failure(e: BaseException) -> str | None:
    """What the disk did wrong, or None when `e` is not the disk's fault."""
    code = primary_code(e)
    said = None if code is None else DISK_FAILURES.get(code)
    return _(said) if said else None


class Connection(Protocol):
    """What telebot's stores and its schema use of a SQLite connection: a
    `sqlite3.Connection` has it, and so has a `FallbackConnection`."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, params: Any = ..., /) -> sqlite3.Cursor: ...

    def executemany(self, sql: str, seq: Iterable[Any], /) -> sqlite3.Cursor: ...

    def executescript(self, script: str, /) -> sqlite3.Cursor: ...


class FallbackConnection:
    """A `sqlite3.Connection` (what StateDB uses of one) that falls back to memory."""

    def __init__(
        self, disk: sqlite3.Connection, fresh: Callable[[sqlite3.Connection], object], where: str
    ) -> None:
        self._conn = disk
        self._fresh = fresh  # creates the schema in an empty database
        self._where = where  # the database's path, for the owner's message
        self._tx: list[tuple[str, Any]] = []  # the statements of the open transaction
        self.problem: str | None = None
        self.armed = False  # falls back only once opened (a damaged file at start is moved)

    @property
    def in_memory(self) -> bool:
        return self.problem is not None

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def __getattr__(self, name: str) -> Any:  # row_factory, total_changes…
        return getattr(self._conn, name)

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        word = sql.lstrip()[:8].upper()
        begins = word.startswith("BEGIN")
        ends = word.startswith(("COMMIT", "ROLLBACK"))
        try:
            cur = self._conn.execute(sql, params)
        except sqlite3.Error as e:
            why = disk_failure(e)
            if why is None or self.in_memory or not self.armed:
                raise
            cur = self._to_memory(why, (sql, params))
        if begins:
            self._tx = [(sql, params)]
        elif ends:
            self._tx = []
        elif self._conn.in_transaction:
            self._tx.append((sql, params))
        return cur

    def executescript(self, script: str) -> sqlite3.Cursor:
        return self._conn.executescript(script)

    def close(self) -> None:
        self._conn.close()

    def fail_over(self, why: str) -> None:
        """From now on, an in-memory copy of what was committed (or a fresh database when
        even that cannot be read)."""
        disk = self._conn
        if disk.in_transaction:
            with suppress(sqlite3.Error):  # SQLite may have rolled it back itself
                disk.execute("ROLLBACK")
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        memory.row_factory = disk.row_factory
        kept = _("what it had recorded is kept")
        try:
            disk.backup(memory)
        except sqlite3.Error:
            memory.close()
            memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            memory.row_factory = disk.row_factory
            self._fresh(memory)
            kept = _("it started afresh")
        with suppress(sqlite3.Error):
            disk.close()
        self.problem = _(
            "telebot cannot write its database {file} ({why}). It keeps working "
            "from memory ({kept}): alerts still go out, but what it records now "
            "is lost when it restarts. Free the disk, or move TELEBOT_STATE_DIR, "
            "and restart telebot."
        ).format(file=self._where, why=why, kept=kept)
        log.warning("%s", self.problem)
        self._conn = memory

    def _to_memory(self, why: str, failed: tuple[str, Any]) -> sqlite3.Cursor:
        """`fail_over`, then replay the open transaction and the statement that failed (its
        cursor is returned: rowcount, lastrowid)."""
        tx = self._tx
        self.fail_over(why)
        *before, last = [*tx, failed]  # the transaction so far (from BEGIN), then the failed
        for sql, params in before:
            self._conn.execute(sql, params)
        return self._conn.execute(*last)
