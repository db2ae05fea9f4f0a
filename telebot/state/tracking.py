"""The tasks telebot tracks (so a death while it was down is still told) and their status
history (what each said and when: `Mission k/N`, the pace, /details)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator

from telebot.state.db import Database
from telebot.state.rows import Tracked

HISTORY_KEEP = 50  # status changes remembered per task
SQL_IN_CHUNK = 500  # values in one `IN (…)`: far below SQLite's limit on bound parameters

_COLUMNS = (
    ":pid, :start_ticks, :started, :email, :username, :world, :server, :action, "
    ":status, :progress, :remaining, :urls, :first_seen, :last_seen_alive, "
    ":last_change, :stalled_at, :ended_at, :end_kind, :exit_status, :signal, :cause"
)


def _tracked(r: sqlite3.Row) -> Tracked:
    d = dict(r)
    d["progress"] = json.loads(d["progress"]) if d["progress"] else None
    d["urls"] = json.loads(d["urls"])
    return Tracked(**d)


class TrackingReads:
    """The reads of tracked rows and their history (`TrackingStore` adds the writes)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def tracked(self, *, open_only: bool = True) -> list[Tracked]:
        sql = "SELECT * FROM tracked" + (" WHERE ended_at IS NULL" if open_only else "")
        return [_tracked(r) for r in self.db.conn.execute(sql + " ORDER BY first_seen, pid")]

    def open_keys(self) -> list[tuple[int, int]]:
        """(pid, start ticks) of the rows still open, as `tracked()` orders them: a scan's
        first step reads no more than that."""
        return [
            (r[0], r[1])
            for r in self.db.conn.execute(
                "SELECT pid, start_ticks FROM tracked WHERE ended_at IS NULL "
                "ORDER BY first_seen, pid"
            )
        ]

    def tracked_one(self, pid: int, start_ticks: int) -> Tracked | None:
        row = self.db.conn.execute(
            "SELECT * FROM tracked WHERE pid=? AND start_ticks=?", (pid, start_ticks)
        ).fetchone()
        return None if row is None else _tracked(row)

    def since(self, at: float) -> list[Tracked]:
        """Every task that was alive at or after `at` (still open, or ended since): what
        /timeline draws."""
        return [
            _tracked(r)
            for r in self.db.conn.execute(
                "SELECT * FROM tracked WHERE ended_at IS NULL OR ended_at >= ? "
                "ORDER BY first_seen, pid",
                (at,),
            )
        ]

    def _of_pids(self, sql: str, pids: Iterable[int]) -> Iterator[sqlite3.Row]:
        """The rows of `sql` (its `{pids}` stands for `pid IN (…)`) for these pids, one statement
        per `SQL_IN_CHUNK` of them, in the order of the pids' chunks."""
        wanted = sorted(set(pids))
        for i in range(0, len(wanted), SQL_IN_CHUNK):
            chunk = wanted[i : i + SQL_IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self.db.conn.execute(sql.format(pids=f"pid IN ({marks})"), chunk)

    def rows_of(self, pids: Iterable[int]) -> dict[int, list[Tracked]]:
        """Every row (open or ended) of these pids only, through the primary key's index: a
        month of deaths in the table (9,000 rows) costs a scan nothing when few are asked."""
        out: dict[int, list[Tracked]] = {}
        for r in self._of_pids("SELECT * FROM tracked WHERE {pids}", pids):
            out.setdefault(r["pid"], []).append(_tracked(r))
        return out

    def first_seen(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], float]:
        """When telebot first saw each of these tasks (pid, start ticks) that it tracks: one
        `IN (…)` per `SQL_IN_CHUNK` pids, no row read whole."""
        wanted = set(keys)
        out: dict[tuple[int, int], float] = {}
        sql = "SELECT pid, start_ticks, first_seen FROM tracked WHERE {pids}"
        for pid, ticks, at in self._of_pids(sql, (pid for pid, _ in wanted)):
            if (pid, ticks) in wanted:
                out[(pid, ticks)] = at
        return out

    def ended_near(self, pid: int, started: float) -> Tracked | None:
        """The ended row of the task ikabot recorded with this pid and start date, if any."""
        row = self.db.conn.execute(
            "SELECT * FROM tracked WHERE pid=? AND ended_at IS NOT NULL AND abs(started - ?) < 1"
            " ORDER BY ended_at DESC LIMIT 1",
            (pid, started),
        ).fetchone()
        return None if row is None else _tracked(row)

    def status_history(
        self, pid: int, start_ticks: int, limit: int = HISTORY_KEEP
    ) -> list[tuple[float, str]]:
        """Oldest first."""
        rows = self.db.conn.execute(
            "SELECT at, status FROM history WHERE pid=? AND start_ticks=? ORDER BY at DESC LIMIT ?",
            (pid, start_ticks, limit),
        ).fetchall()
        return [(r[0], r[1]) for r in reversed(rows)]

    def histories(
        self, keys: Iterable[tuple[int, int]], limit: int = HISTORY_KEEP
    ) -> dict[tuple[int, int], list[tuple[float, str]]]:
        """`status_history` of each of these tasks (pid, start ticks), oldest first, in one
        `IN (…)` per `SQL_IN_CHUNK` pids through the history's index, not a SELECT a task."""
        wanted = set(keys)
        out: dict[tuple[int, int], list[tuple[float, str]]] = {}
        sql = (
            "SELECT pid, start_ticks, at, status FROM history WHERE {pids} "
            "ORDER BY pid, start_ticks, at, rowid"
        )
        for pid, ticks, at, status in self._of_pids(sql, (pid for pid, _ in wanted)):
            if (pid, ticks) in wanted:
                out.setdefault((pid, ticks), []).append((at, status))
        if limit < 0:  # as SQLite's LIMIT: no limit
            return out
        return {key: said[max(0, len(said) - limit) :] for key, said in out.items() if limit}

    def history_of(
        self, pid: int, started: float, start_ticks: int | None
    ) -> list[tuple[float, str]]:
        """The status history of the task ikabot recorded with this pid and start date; for
        an ended one (no start ticks any more) through its ended row."""
        if start_ticks is None:
            row = self.ended_near(pid, started)
            start_ticks = row.start_ticks if row is not None else None
        return self.status_history(pid, start_ticks) if start_ticks is not None else []


class TrackingStore(TrackingReads):
    """The tracked tasks and their status history: the reads, and the writes."""

    def track(self, row: Tracked) -> None:
        with self.db.transaction() as c:
            c.execute(
                f"INSERT INTO tracked VALUES({_COLUMNS}) ON CONFLICT(pid, start_ticks) DO "
                "UPDATE SET status=excluded.status, progress=excluded.progress, "
                "remaining=excluded.remaining, urls=excluded.urls, "
                "last_seen_alive=excluded.last_seen_alive, last_change=excluded.last_change, "
                "stalled_at=excluded.stalled_at, action=excluded.action",
                {
                    **row.__dict__,
                    "progress": json.dumps(row.progress),
                    "urls": json.dumps(row.urls),
                },
            )

    def end(
        self,
        pid: int,
        start_ticks: int,
        kind: str,
        at: float,
        *,
        exit_status: int | None = None,
        signal: str | None = None,
        cause: str | None = None,
    ) -> bool:
        """Mark a tracked task ended; False if it was already (so it is reported once)."""
        with self.db.transaction() as c:
            cur = c.execute(
                "UPDATE tracked SET ended_at=?, end_kind=?, exit_status=?, signal=?, cause=? "
                "WHERE pid=? AND start_ticks=? AND ended_at IS NULL",
                (at, kind, exit_status, signal, cause, pid, start_ticks),
            )
        return cur.rowcount == 1

    def record_statuses(self, changes: list[tuple[int, int, str, float]]) -> None:
        """(pid, start ticks, status, at) for each task whose status changed: one batch."""
        if not changes:
            return
        with self.db.transaction() as c:
            c.executemany(
                "INSERT INTO history VALUES(?, ?, ?, ?)",
                [(pid, ticks, at, status) for pid, ticks, status, at in changes],
            )
            for pid, ticks in dict.fromkeys((pid, ticks) for pid, ticks, _, _ in changes):
                c.execute(
                    "DELETE FROM history WHERE pid=? AND start_ticks=? AND at < (SELECT at "
                    "FROM history WHERE pid=? AND start_ticks=? ORDER BY at DESC LIMIT 1 "
                    "OFFSET ?)",
                    (pid, ticks, pid, ticks, HISTORY_KEEP - 1),
                )

    def record_status(self, pid: int, start_ticks: int, status: str, at: float) -> None:
        self.record_statuses([(pid, start_ticks, status, at)])

    def prune(self, older_than: float) -> None:
        """Forget tasks that ended before this, and their history (the database stays small)."""
        with self.db.transaction() as c:
            c.execute(
                "DELETE FROM history WHERE (pid, start_ticks) IN (SELECT pid, start_ticks "
                "FROM tracked WHERE ended_at IS NOT NULL AND ended_at < ?)",
                (older_than,),
            )
            c.execute(
                "DELETE FROM tracked WHERE ended_at IS NOT NULL AND ended_at < ?", (older_than,)
            )
