"""Keep alive (♻️): per task the owner's word, its chain of restarts and a restart that is
due; per chain the times of its restarts (the back-off and the hourly limit count them).
Kept here so that a chain survives telebot's restarts; `keepalive/` decides with it."""

from __future__ import annotations

from typing import Any

from telebot.state.db import Database
from telebot.state.rows import Kept

RESTARTS_KEPT = 7 * 86400.0  # restart times older than this count for nothing


def _kept(row: Any) -> Kept | None:
    if row is None:
        return None
    d = dict(row)
    d["want"] = None if d["want"] is None else bool(d["want"])
    d["gave_up"] = bool(d["gave_up"])
    return Kept(**d)


class KeepaliveStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, pid: int, start_ticks: int) -> Kept | None:
        return _kept(
            self.db.conn.execute(
                "SELECT * FROM keepalive WHERE pid=? AND start_ticks=?", (pid, start_ticks)
            ).fetchone()
        )

    def newest(self, pid: int) -> Kept | None:
        """By pid alone (`telebot status --json` knows no start ticks of an ended task)."""
        return _kept(
            self.db.conn.execute(
                "SELECT * FROM keepalive WHERE pid=? ORDER BY rowid DESC LIMIT 1", (pid,)
            ).fetchone()
        )

    def _ensure(self, c: Any, pid: int, start_ticks: int, action: str) -> None:
        c.execute(
            "INSERT INTO keepalive(pid, start_ticks, action, chain) VALUES(?, ?, ?, ?) "
            "ON CONFLICT(pid, start_ticks) DO NOTHING",
            (pid, start_ticks, action, f"{pid}:{start_ticks}"),
        )

    def set_want(self, pid: int, start_ticks: int, action: str, want: bool) -> None:
        with self.db.transaction() as c:
            self._ensure(c, pid, start_ticks, action)
            c.execute(
                "UPDATE keepalive SET want=? WHERE pid=? AND start_ticks=?",
                (int(want), pid, start_ticks),
            )
            if not want:  # off: a restart that was due is not made
                c.execute(
                    "UPDATE keepalive SET due_at=NULL, note=? WHERE pid=? AND "
                    "start_ticks=? AND due_at IS NOT NULL",
                    ("keep-alive turned off", pid, start_ticks),
                )

    def wanted(self) -> list[Kept]:
        """Tasks an owner said on or off for (`want` not None)."""
        rows = self.db.conn.execute("SELECT * FROM keepalive WHERE want IS NOT NULL")
        return [k for k in map(_kept, rows.fetchall()) if k is not None]

    def gave_up_count(self) -> int:
        """Chains telebot gave up restarting and the owner has not yet turned off: what
        Prometheus' keep-alive rule pages about (an owner's `/keepalive <pid> off` is the
        acknowledgement)."""
        row = self.db.conn.execute(
            "SELECT COUNT(*) FROM keepalive WHERE gave_up=1 AND (want IS NULL OR want=1)"
        ).fetchone()
        return int(row[0])

    def restarts_since(self, chain: str, since: float) -> list[float]:
        return [
            r[0]
            for r in self.db.conn.execute(
                "SELECT at FROM keepalive_restarts WHERE chain=? AND at>=? ORDER BY at",
                (chain, since),
            )
        ]

    def plan(
        self,
        pid: int,
        start_ticks: int,
        action: str,
        due_at: float,
        alert_id: int | None,
        note: str,
    ) -> None:
        """A restart is due at `due_at` (written with the end, in its transaction)."""
        with self.db.transaction() as c:
            self._ensure(c, pid, start_ticks, action)
            c.execute(
                "UPDATE keepalive SET due_at=?, alert_id=?, note=? WHERE pid=? AND start_ticks=?",
                (due_at, alert_id, note, pid, start_ticks),
            )

    def point_at(self, pid: int, start_ticks: int, alert_id: int) -> None:
        """The message that announced the planned restart, when it is not the task's own end
        alert (after a reboot: the one message of every task that ended with the machine)."""
        with self.db.transaction() as c:
            c.execute(
                "UPDATE keepalive SET alert_id=? WHERE pid=? AND start_ticks=?",
                (alert_id, pid, start_ticks),
            )

    def give_up(self, pid: int, start_ticks: int, action: str, note: str) -> None:
        with self.db.transaction() as c:
            self._ensure(c, pid, start_ticks, action)
            c.execute(
                "UPDATE keepalive SET gave_up=1, due_at=NULL, note=? WHERE pid=? AND start_ticks=?",
                (note, pid, start_ticks),
            )

    def settle(self, pid: int, start_ticks: int, note: str) -> None:
        """The due restart was tried: what came of it."""
        with self.db.transaction() as c:
            c.execute(
                "UPDATE keepalive SET due_at=NULL, note=? WHERE pid=? AND start_ticks=?",
                (note, pid, start_ticks),
            )

    def restarted(self, old: Kept, pid: int, start_ticks: int, at: float, note: str) -> None:
        """`old` was started again as `pid`: the new task joins the chain, kept alive in
        turn; the restart counts for the chain's back-off and limit."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM keepalive_restarts WHERE at<?", (at - RESTARTS_KEPT,))
            c.execute("INSERT INTO keepalive_restarts VALUES(?, ?)", (old.chain, at))
            c.execute(
                "INSERT OR REPLACE INTO keepalive(pid, start_ticks, action, want, chain, "
                "of_pid, of_ticks) VALUES(?, ?, ?, 1, ?, ?, ?)",
                (pid, start_ticks, old.action, old.chain, old.pid, old.start_ticks),
            )
            c.execute(
                "UPDATE keepalive SET due_at=NULL, note=? WHERE pid=? AND start_ticks=?",
                (note, old.pid, old.start_ticks),
            )

    def successor(self, pid: int, start_ticks: int) -> Kept | None:
        """The task this one was restarted as, if it was."""
        return _kept(
            self.db.conn.execute(
                "SELECT * FROM keepalive WHERE of_pid=? AND of_ticks=? ORDER BY rowid DESC LIMIT 1",
                (pid, start_ticks),
            ).fetchone()
        )

    def due(self) -> list[Kept]:
        """Restarts planned and not yet tried (telebot stopped meanwhile, too)."""
        rows = self.db.conn.execute(
            "SELECT * FROM keepalive WHERE due_at IS NOT NULL ORDER BY due_at"
        )
        return [k for k in map(_kept, rows.fetchall()) if k is not None]
