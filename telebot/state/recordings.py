"""/menu's recorded answers (🔁 Run again): per task (pid + start ticks), the answers that
started it, as rows; `menu.recorded` turns them into `Recording`s. Never an echo-off answer:
the session does not hand those over."""

from __future__ import annotations

from typing import Any

from telebot.state.db import Database

KEPT = 500  # recordings kept; the oldest go first
COLUMNS = (
    "pid",
    "start_ticks",
    "action",
    "email",
    "username",
    "world",
    "server",
    "steps",
    "recorded_at",
    "again_of_pid",
    "again_of_ticks",
)


class RecordingsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, row: dict[str, Any]) -> None:
        with self.db.transaction() as c:
            c.execute(
                f"INSERT OR REPLACE INTO menu_recordings ({', '.join(COLUMNS)}) VALUES "
                f"({', '.join(':' + k for k in COLUMNS)})",
                row,
            )
            c.execute(
                "DELETE FROM menu_recordings WHERE rowid NOT IN (SELECT rowid FROM "
                "menu_recordings ORDER BY recorded_at DESC LIMIT ?)",
                (KEPT,),
            )

    def _one(self, where: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        row = self.db.conn.execute(
            f"SELECT * FROM menu_recordings WHERE {where} ORDER BY recorded_at DESC LIMIT 1", args
        ).fetchone()
        return None if row is None else dict(row)

    def get(self, pid: int, start_ticks: int) -> dict[str, Any] | None:
        return self._one("pid=? AND start_ticks=?", (pid, start_ticks))

    def newest(self, pid: int) -> dict[str, Any] | None:
        """The newest recording with this pid (ikabot's menu drops ended tasks' entries)."""
        return self._one("pid=?", (pid,))

    def again_as(self, pid: int, start_ticks: int) -> dict[str, Any] | None:
        """The task started by 🔁 Run again of this one, if any (the newest)."""
        return self._one("again_of_pid=? AND again_of_ticks=?", (pid, start_ticks))

    def again_links(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(task → the task it was started again for) for every recorded 🔁 Run again."""
        return {
            (r[0], r[1]): (r[2], r[3])
            for r in self.db.conn.execute(
                "SELECT pid, start_ticks, again_of_pid, again_of_ticks FROM menu_recordings "
                "WHERE again_of_pid IS NOT NULL AND again_of_ticks IS NOT NULL"
            )
        }
