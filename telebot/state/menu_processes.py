"""The /menu processes telebot started and has not seen end (`MenuProcess`: pid + identity).

A row is written when a menu starts and removed when it ends. A row still there when telebot
starts is a menu a killed telebot left behind: the new one ends it, by pid and identity only
(`processes.leftover`), and removes the row."""

from __future__ import annotations

from telebot.state.db import Database
from telebot.state.rows import MenuProcess


class MenuProcessesStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, proc: MenuProcess) -> None:
        with self.db.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO menu_processes(pid, start_ticks, boot_id, "
                "started_at) VALUES(:pid, :start_ticks, :boot_id, :started_at)",
                proc.__dict__,
            )

    def remove(self, proc: MenuProcess) -> None:
        with self.db.transaction() as c:
            c.execute(
                "DELETE FROM menu_processes WHERE pid=? AND start_ticks=? AND boot_id=?",
                (proc.pid, proc.start_ticks, proc.boot_id),
            )

    def all(self) -> list[MenuProcess]:
        return [
            MenuProcess(**dict(r))
            for r in self.db.conn.execute(
                "SELECT pid, start_ticks, boot_id, started_at FROM menu_processes ORDER BY "
                "started_at"
            )
        ]
