"""telebot's own state, in SQLite under TELEBOT_STATE_DIR (never in ikabot's files).

Holds what must survive a restart or a SIGKILL: the highest Telegram update already handled
(so a command is answered once), the tasks being tracked (so a death while telebot was down is
still reported), and the alert outbox (an alert is written here before it is sent and marked
sent only after Telegram said ok: never lost, never twice).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telebot.errors import ConfigError
from telebot.fallback_db import FallbackConnection, disk_failure, primary_code

SCHEMA_VERSION = 2
HISTORY_KEEP = 50  # status changes remembered per task
READONLY_WAIT_MS = 200  # `telebot status` waits this long at most for the bot's database
SQL_IN_CHUNK = 500  # values in one `IN (…)`: far below SQLite's limit on bound parameters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracked (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, started REAL NOT NULL,
    email TEXT, username TEXT NOT NULL, world TEXT NOT NULL, server TEXT NOT NULL,
    action TEXT NOT NULL, status TEXT NOT NULL, progress TEXT, remaining INTEGER,
    urls TEXT NOT NULL, first_seen REAL NOT NULL, last_seen_alive REAL NOT NULL,
    last_change REAL NOT NULL, stalled_at REAL, ended_at REAL, end_kind TEXT,
    exit_status INTEGER, signal TEXT, cause TEXT,
    PRIMARY KEY (pid, start_ticks));
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, dedup_key TEXT UNIQUE NOT NULL,
    chat_id TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, created_at REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0, sent_at REAL, attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, dropped INTEGER NOT NULL DEFAULT 0,
    edits INTEGER, message_id INTEGER, markup TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sent_at, dropped, id);
CREATE TABLE IF NOT EXISTS history (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, at REAL NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_task ON history (pid, start_ticks, at);
CREATE TABLE IF NOT EXISTS kill_buttons (
    nonce TEXT PRIMARY KEY, pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,
    started REAL NOT NULL, action TEXT NOT NULL, account TEXT NOT NULL,
    expires_at REAL NOT NULL, used_at REAL);
CREATE TABLE IF NOT EXISTS stop_requests (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, who TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (pid, start_ticks));
CREATE TABLE IF NOT EXISTS menu_recordings (
    pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, action TEXT NOT NULL, email TEXT,
    username TEXT NOT NULL, world TEXT NOT NULL, server TEXT NOT NULL, steps TEXT NOT NULL,
    recorded_at REAL NOT NULL, again_of_pid INTEGER, again_of_ticks INTEGER,
    PRIMARY KEY (pid, start_ticks));
"""

# Version 1 keyed tasks by psutil's create time (moved by NTP steps) and knew nothing of how a
# task ended; its open rows are converted when their process still runs, else reported.
_MIGRATE_1 = [
    "ALTER TABLE tracked RENAME COLUMN create_time TO start_ticks",
    "ALTER TABLE tracked ADD COLUMN exit_status INTEGER",
    "ALTER TABLE tracked ADD COLUMN signal TEXT",
    "ALTER TABLE tracked ADD COLUMN cause TEXT",
    "ALTER TABLE outbox ADD COLUMN edits INTEGER",
    "ALTER TABLE outbox ADD COLUMN message_id INTEGER",
]


@dataclass
class Tracked:
    """A task telebot has seen alive, as remembered in the database."""

    pid: int
    start_ticks: int
    started: float
    email: str | None
    username: str
    world: str
    server: str
    action: str
    status: str
    progress: dict[str, Any] | None
    remaining: int | None
    urls: list[str]
    first_seen: float
    last_seen_alive: float
    last_change: float
    stalled_at: float | None
    ended_at: float | None
    end_kind: str | None
    exit_status: int | None = None
    signal: str | None = None
    cause: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start_ticks)

    def ended_json(self) -> dict[str, Any] | None:
        """The contract's `ended` object (DESIGN 2), once telebot saw the task end."""
        if self.ended_at is None:
            return None
        return {"how": self.end_kind, "exit_status": self.exit_status, "signal": self.signal,
                "cause": self.cause, "at": self.ended_at}


def _tracked(r: sqlite3.Row) -> Tracked:
    d = dict(r)
    d["progress"] = json.loads(d["progress"]) if d["progress"] else None
    d["urls"] = json.loads(d["urls"])
    return Tracked(**d)


@dataclass(frozen=True)
class KillButton:
    """A /kill confirmation: which process it stands for, until when, and whether used."""

    nonce: str
    pid: int
    start_ticks: int
    started: float  # the processList entry's date
    action: str
    account: str
    expires_at: float
    used_at: float | None


@dataclass(frozen=True)
class StopRequest:
    """telebot was asked to stop this very process (written before the signal is sent)."""

    pid: int
    start_ticks: int
    who: str
    at: float


@dataclass
class OutboxItem:
    id: int
    dedup_key: str
    chat_id: str
    kind: str
    text: str
    created_at: float
    not_before: float
    attempts: int
    edits: int | None = None  # an edit of this outbox item's message, not a new message
    message_id: int | None = None
    markup: str | None = None  # the message's buttons (Bot API JSON), if it has any


_ITEM_COLUMNS = ("id, dedup_key, chat_id, kind, text, created_at, not_before, attempts, edits, "
                 "message_id, markup")


class _Corrupt(Exception):
    """The database file is damaged (`PRAGMA quick_check` says so, or SQLite cannot read it)."""


def _corrupt(e: BaseException) -> bool:
    return isinstance(e, _Corrupt) or primary_code(e) in (sqlite3.SQLITE_CORRUPT,
                                                          sqlite3.SQLITE_NOTADB)


class StateDB:
    """One SQLite connection, used from the event loop's thread; every call is tiny.

    The disk failing telebot never silences it: a corrupt file is moved aside (renamed with a
    time stamp) and a new one started; a full or failing disk, at start or later, leaves
    telebot working from memory (`fallback_db`). `take_news` says either to the owner, once.
    """

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        directory = Path(directory)
        self.path = directory / "telebot.sqlite3"
        if readonly:  # `telebot status` looks, never creates or changes anything
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                       isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            # a WAL reader never blocks the bot's writes; it waits at most this long itself
            # (a checkpoint, a recovery) and then shows the tasks without telebot's memory
            self._db.execute(f"PRAGMA busy_timeout={READONLY_WAIT_MS}")
            self._db.execute("PRAGMA query_only=1")
            return
        self._news: str | None = None  # what the owner must hear about the database, once
        self._told: set[str] = set()
        # the database holds the chat id and every alert text: owner-only, and so are the
        # -wal and -shm files SQLite creates beside it (they follow the umask, not the file)
        try:
            try:
                self._open(directory)
            except (sqlite3.Error, _Corrupt) as e:
                if _corrupt(e):
                    aside = self._move_aside()
                    self._open(directory)
                    self._news = (f"telebot's database {self.path} was corrupt ({e}): it was "
                                  f"moved aside to {aside} and a new one started; the tasks it "
                                  "tracked and the alerts not yet sent in it are lost.")
                elif primary_code(e) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
                    self._open_in_memory(e)
                else:
                    raise
        except (OSError, sqlite3.Error, _Corrupt) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError(f"cannot keep telebot's state in {directory} ({reason}): set "
                              "TELEBOT_STATE_DIR to a directory you can write") from None
        self._db.armed = True
        if self._news:
            logging.getLogger(__name__).warning("%s", self._news)

    def _connect(self, target: str | Path, **kw: Any) -> FallbackConnection:
        db = sqlite3.connect(target, isolation_level=None, check_same_thread=False, **kw)
        db.row_factory = sqlite3.Row
        return FallbackConnection(db, lambda mem: mem.executescript(_SCHEMA), str(self.path))

    def _open(self, directory: Path) -> None:
        old_umask = os.umask(0o077)
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            if directory.stat().st_mode & 0o077:
                os.chmod(directory, 0o700)
            self._db = self._connect(self.path)
            try:
                check = self._db.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise _Corrupt(check)
                self._db.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed "pending alert" survives a power cut, not just a SIGKILL.
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA busy_timeout=5000")
                self._migrate()
                self._db.executescript(_SCHEMA)
                self._add_columns()
                self.set("schema_version", SCHEMA_VERSION)
            except BaseException:
                self._db.close()
                raise
        finally:
            os.umask(old_umask)
        for name in ("telebot.sqlite3", "telebot.sqlite3-wal", "telebot.sqlite3-shm"):
            with suppress(FileNotFoundError):
                os.chmod(directory / name, 0o600)

    def _move_aside(self) -> str:
        """Rename the damaged database (and its -wal, -shm) with a time stamp; its new name."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for name in ("telebot.sqlite3", "telebot.sqlite3-wal", "telebot.sqlite3-shm"):
            with suppress(FileNotFoundError):
                os.replace(self.path.with_name(name),
                           self.path.with_name(f"{name}.corrupt-{stamp}"))
        return f"telebot.sqlite3.corrupt-{stamp}"

    def _open_in_memory(self, e: sqlite3.Error) -> None:
        """The disk refuses to start the database: work from memory (with what it had)."""
        try:
            self._db = self._connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error:
            self._db = self._connect(":memory:")
        self._db.fail_over(disk_failure(e) or str(e))
        self._db.executescript(_SCHEMA)
        self._add_columns()

    def take_news(self) -> str | None:
        """A problem with the database the owner has not been told yet (then it is told)."""
        for news in (self._news, getattr(self._db, "problem", None)):
            if news and news not in self._told:
                self._told.add(news)
                return news
        return None

    @classmethod
    def open_readonly(cls, directory: Path) -> StateDB | None:
        """The database if telebot has one there, for a look; None otherwise."""
        if not (Path(directory) / "telebot.sqlite3").is_file():
            return None
        try:
            db = cls(directory, readonly=True)
            db._db.execute("SELECT 1 FROM tracked LIMIT 1")
            return db
        except sqlite3.Error:
            return None

    def _add_columns(self) -> None:
        """Columns added since a database was made (each a plain ALTER, no data moved)."""
        if "markup" not in {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}:
            self._db.execute("ALTER TABLE outbox ADD COLUMN markup TEXT")

    def _migrate(self) -> None:
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(tracked)")}
        if "create_time" not in cols:
            return
        from telebot.processes import liveness

        with self.transaction():
            for sql in _MIGRATE_1:
                self._db.execute(sql)
            for pid, created in self._db.execute(
                    "SELECT pid, start_ticks FROM tracked WHERE ended_at IS NULL").fetchall():
                ticks = liveness.start_ticks(pid)
                if ticks is not None and abs(liveness.psutil_create_time(pid) - created) < 0.05:
                    self._db.execute("UPDATE tracked SET start_ticks=? WHERE pid=? AND "
                                     "start_ticks=?", (ticks, pid, created))

    def close(self) -> None:
        self._db.close()

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, for the stores of other stages (`menu.recorded`)."""
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Many small writes, one commit (one fsync): an SD card lives longer for it."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- key/value

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        self._db.execute("INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE "
                         "SET value=excluded.value", (key, json.dumps(value)))

    # ---- tracked tasks

    def track(self, row: Tracked) -> None:
        self._db.execute(
            "INSERT INTO tracked VALUES(:pid, :start_ticks, :started, :email, :username, :world,"
            " :server, :action, :status, :progress, :remaining, :urls, :first_seen,"
            " :last_seen_alive, :last_change, :stalled_at, :ended_at, :end_kind,"
            " :exit_status, :signal, :cause)"
            " ON CONFLICT(pid, start_ticks) DO UPDATE SET status=excluded.status,"
            " progress=excluded.progress, remaining=excluded.remaining, urls=excluded.urls,"
            " last_seen_alive=excluded.last_seen_alive, last_change=excluded.last_change,"
            " stalled_at=excluded.stalled_at, action=excluded.action",
            {**row.__dict__, "progress": json.dumps(row.progress), "urls": json.dumps(row.urls)})

    def tracked(self, *, open_only: bool = True) -> list[Tracked]:
        sql = "SELECT * FROM tracked" + (" WHERE ended_at IS NULL" if open_only else "")
        return [_tracked(r) for r in self._db.execute(sql + " ORDER BY first_seen, pid")]

    def tracked_one(self, pid: int, start_ticks: int) -> Tracked | None:
        row = self._db.execute("SELECT * FROM tracked WHERE pid=? AND start_ticks=?",
                               (pid, start_ticks)).fetchone()
        return None if row is None else _tracked(row)

    def ended_of(self, pids: Iterable[int]) -> dict[int, list[Tracked]]:
        """The ended rows of these pids only, through the primary key's index: a month of
        deaths in the table (9,000 rows) costs a scan nothing when few entries are gone."""
        out: dict[int, list[Tracked]] = {}
        wanted = sorted(set(pids))
        for i in range(0, len(wanted), SQL_IN_CHUNK):
            chunk = wanted[i:i + SQL_IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(f"SELECT * FROM tracked WHERE pid IN ({marks}) AND "
                                      "ended_at IS NOT NULL", chunk):
                out.setdefault(r["pid"], []).append(_tracked(r))
        return out

    def ended_near(self, pid: int, started: float) -> Tracked | None:
        """The ended row of the task ikabot recorded with this pid and start date, if any."""
        row = self._db.execute("SELECT * FROM tracked WHERE pid=? AND ended_at IS NOT NULL AND "
                               "abs(started - ?) < 1 ORDER BY ended_at DESC LIMIT 1",
                               (pid, started)).fetchone()
        return None if row is None else _tracked(row)

    def end(self, pid: int, start_ticks: int, kind: str, at: float, *,
            exit_status: int | None = None, signal: str | None = None,
            cause: str | None = None) -> bool:
        """Mark a tracked task ended; False if it was already (so it is reported once)."""
        cur = self._db.execute(
            "UPDATE tracked SET ended_at=?, end_kind=?, exit_status=?, signal=?, cause=? "
            "WHERE pid=? AND start_ticks=? AND ended_at IS NULL",
            (at, kind, exit_status, signal, cause, pid, start_ticks))
        return cur.rowcount == 1

    # ---- status history (what the task said, and when: `Mission k/N`, pace, /details)

    def record_status(self, pid: int, start_ticks: int, status: str, at: float) -> None:
        self._db.execute("INSERT INTO history VALUES(?, ?, ?, ?)", (pid, start_ticks, at, status))
        self._db.execute(
            "DELETE FROM history WHERE pid=? AND start_ticks=? AND at < (SELECT at FROM history"
            " WHERE pid=? AND start_ticks=? ORDER BY at DESC LIMIT 1 OFFSET ?)",
            (pid, start_ticks, pid, start_ticks, HISTORY_KEEP - 1))

    def status_history(self, pid: int, start_ticks: int,
                       limit: int = HISTORY_KEEP) -> list[tuple[float, str]]:
        """Oldest first."""
        rows = self._db.execute("SELECT at, status FROM history WHERE pid=? AND start_ticks=? "
                                "ORDER BY at DESC LIMIT ?", (pid, start_ticks, limit)).fetchall()
        return [(r[0], r[1]) for r in reversed(rows)]

    def prune(self, older_than: float) -> None:
        """Forget ended tasks and sent alerts older than this (the database stays small)."""
        self._db.execute("DELETE FROM history WHERE (pid, start_ticks) IN (SELECT pid, "
                         "start_ticks FROM tracked WHERE ended_at IS NOT NULL AND ended_at < ?)",
                         (older_than,))
        self._db.execute("DELETE FROM tracked WHERE ended_at IS NOT NULL AND ended_at < ?",
                         (older_than,))
        self._db.execute("DELETE FROM outbox WHERE (sent_at IS NOT NULL OR dropped=1) AND "
                         "created_at < ?", (older_than,))

    # ---- outbox

    def enqueue(self, dedup_key: str, chat_id: str, kind: str, text: str,
                not_before: float = 0.0, *, edits: int | None = None,
                markup: str | None = None) -> int | None:
        """Store an alert to send (or, with `edits`, a new text for an alert already sent);
        None when this very alert was stored before. `markup`: its buttons, as JSON."""
        cur = self._db.execute(
            "INSERT INTO outbox(dedup_key, chat_id, kind, text, created_at, not_before, edits, "
            "markup) VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedup_key) DO NOTHING",
            (dedup_key, chat_id, kind, text, time.time(), not_before, edits, markup))
        return cur.lastrowid if cur.rowcount == 1 else None

    def retext_pending(self, item_id: int, text: str) -> bool:
        """Give a not-yet-sent item a new text (a storm grew before its message went out)."""
        cur = self._db.execute("UPDATE outbox SET text=? WHERE id=? AND sent_at IS NULL AND "
                               "dropped=0", (text, item_id))
        return cur.rowcount == 1

    def item(self, item_id: int) -> OutboxItem | None:
        row = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM outbox WHERE id=?",
                               (item_id,)).fetchone()
        return None if row is None else OutboxItem(**dict(row))

    def pending(self, now: float | None = None) -> list[OutboxItem]:
        now = time.time() if now is None else now
        rows = self._db.execute(
            f"SELECT {_ITEM_COLUMNS} FROM outbox WHERE sent_at IS NULL AND dropped=0 AND "
            "not_before<=? ORDER BY id", (now,)).fetchall()
        return [OutboxItem(**dict(r)) for r in rows]

    def supersede_edits(self, edits: int, newer_than: int) -> None:
        """Older pending edits of one message are moot once a newer text is there."""
        self._db.execute("UPDATE outbox SET sent_at=?, last_error='superseded' WHERE edits=? AND "
                         "id<? AND sent_at IS NULL", (time.time(), edits, newer_than))

    def next_not_before(self) -> float | None:
        row = self._db.execute("SELECT MIN(not_before) FROM outbox WHERE sent_at IS NULL AND "
                               "dropped=0").fetchone()
        return row[0]

    def mark_sent(self, item_id: int, message_id: int | None = None) -> None:
        self._db.execute("UPDATE outbox SET sent_at=?, attempts=attempts+1, message_id="
                         "coalesce(?, message_id) WHERE id=?", (time.time(), message_id, item_id))

    def set_message_id(self, item_id: int, message_id: int) -> None:
        """Later edits of this alert go to another message (the first could not be edited)."""
        self._db.execute("UPDATE outbox SET message_id=? WHERE id=?", (message_id, item_id))

    def record_failure(self, item_id: int, error: str, *, drop: bool = False) -> None:
        self._db.execute("UPDATE outbox SET attempts=attempts+1, last_error=?, dropped=? "
                         "WHERE id=?", (error[:500], 1 if drop else 0, item_id))

    def unsent(self) -> tuple[int, float | None]:
        """How many alerts wait to be sent (held by a mute too), and the oldest one's time."""
        row = self._db.execute("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS "
                               "NULL AND dropped=0").fetchone()
        return int(row[0]), row[1]

    def drop_pending_before(self, created_before: float, error: str) -> int:
        """Give up on unsent alerts created before this time; how many."""
        cur = self._db.execute("UPDATE outbox SET dropped=1, last_error=? WHERE sent_at IS NULL "
                               "AND dropped=0 AND created_at<?", (error[:500], created_before))
        return cur.rowcount

    def release_held(self) -> None:
        """Unmuted: alerts held back until the mute's end may go now."""
        self._db.execute("UPDATE outbox SET not_before=0 WHERE sent_at IS NULL AND dropped=0")

    def sent(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(
            "SELECT * FROM outbox WHERE sent_at IS NOT NULL ORDER BY id")]

    # ---- stop requests (/kill): an end telebot caused itself is reported as *stopped*

    def request_stop(self, pid: int, start_ticks: int, by: str, at: float) -> None:
        """Written (and committed) before the signal: the end is then told as *stopped*."""
        self._db.execute("DELETE FROM stop_requests WHERE at < ?", (at - 30 * 86400,))
        self._db.execute("INSERT OR REPLACE INTO stop_requests VALUES(?, ?, ?, ?)",
                         (pid, start_ticks, by, at))

    def stop_request(self, pid: int, start_ticks: int) -> StopRequest | None:
        """Whether telebot itself stopped this process (pid + start ticks), who asked, when."""
        row = self._db.execute("SELECT * FROM stop_requests WHERE pid=? AND start_ticks=?",
                               (pid, start_ticks)).fetchone()
        return None if row is None else StopRequest(**dict(row))

    def stop_requested(self, pid: int, start_ticks: int) -> bool:
        return self.stop_request(pid, start_ticks) is not None

    # ---- alert settings

    def alert_kinds(self) -> dict[str, bool]:
        return {"died": True, "finished": True, "stalled": True, **self.get("alert_kinds", {})}

    def set_alert_kind(self, kind: str, on: bool) -> None:
        kinds = self.alert_kinds()
        kinds[kind] = on
        self.set("alert_kinds", kinds)

    def mute_until(self) -> float:
        return float(self.get("mute_until", 0.0))

    def set_mute_until(self, ts: float) -> None:
        self.set("mute_until", ts)

    # ---- stopping tasks from Telegram (bot/control.py)

    def add_kill_button(self, button: KillButton) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM kill_buttons WHERE expires_at < ?",
                             (time.time() - 86400,))
            self._db.execute("INSERT INTO kill_buttons VALUES(:nonce, :pid, :start_ticks, "
                             ":started, :action, :account, :expires_at, :used_at)",
                             button.__dict__)

    def kill_button(self, nonce: str) -> KillButton | None:
        row = self._db.execute("SELECT * FROM kill_buttons WHERE nonce=?", (nonce,)).fetchone()
        return None if row is None else KillButton(**dict(row))

    def use_kill_button(self, nonce: str, now: float) -> KillButton | None:
        """Spend a button once: the button if it was unused and not expired, else None."""
        cur = self._db.execute("UPDATE kill_buttons SET used_at=? WHERE nonce=? AND "
                               "used_at IS NULL AND expires_at>=?", (now, nonce, now))
        return self.kill_button(nonce) if cur.rowcount == 1 else None
