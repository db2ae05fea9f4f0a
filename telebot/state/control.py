"""Acting from Telegram: /kill's one-time confirmation buttons (`bot/kill.py`) and 🔁 Run it's
(`bot/menu_handlers.py`), and the stop requests that make an end telebot caused itself be told
as *stopped*."""

from __future__ import annotations

import time
from typing import Any

from telebot.state.db import Database
from telebot.state.rows import AgainButton, KillButton, StopRequest

STOP_REQUESTS_KEPT = 30 * 86400.0
BUTTONS_KEPT = 86400.0  # past their expiry


class ControlStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_kill_button(self, button: KillButton) -> None:
        self._add("kill_buttons", button.__dict__)

    def kill_button(self, nonce: str) -> KillButton | None:
        row = self._row("kill_buttons", nonce)
        return None if row is None else KillButton(**row)

    def use_kill_button(self, nonce: str, now: float) -> KillButton | None:
        """Spend a button once: the button if it was unused and not expired, else None."""
        return self.kill_button(nonce) if self._spend("kill_buttons", nonce, now) else None

    def add_again_button(self, button: AgainButton) -> None:
        self._add("again_buttons", button.__dict__)

    def again_button(self, nonce: str) -> AgainButton | None:
        row = self._row("again_buttons", nonce)
        return None if row is None else AgainButton(**row)

    def use_again_button(self, nonce: str, now: float) -> AgainButton | None:
        """Spend a 🔁 Run it once: the button if it was unused and not expired, else None."""
        return self.again_button(nonce) if self._spend("again_buttons", nonce, now) else None

    def add_again_buttons(self, buttons: list[AgainButton]) -> None:
        """One confirmation for several replays (🔁 Run all again): nonces `<batch>.<i>`."""
        with self.db.transaction():
            for button in buttons:
                self.add_again_button(button)

    def use_again_batch(self, batch: str, now: float) -> list[AgainButton]:
        """Spend every `<batch>.<i>` at once (once, in time); in their order, or []."""
        prefix = f"{batch}."
        with self.db.transaction() as c:
            rows = c.execute(
                "SELECT * FROM again_buttons WHERE substr(nonce, 1, ?)=? AND "
                "used_at IS NULL AND expires_at>=?",
                (len(prefix), prefix, now),
            ).fetchall()
            c.execute(
                "UPDATE again_buttons SET used_at=? WHERE substr(nonce, 1, ?)=? AND "
                "used_at IS NULL AND expires_at>=?",
                (now, len(prefix), prefix, now),
            )
        spent = [AgainButton(**{**dict(r), "used_at": now}) for r in rows]
        return sorted(spent, key=lambda b: int(b.nonce.rpartition(".")[2]))

    # /kill's and 🔁 Run it's confirmations are one kind of thing: a nonce used once, before
    # it expires; `table` is one of those two names, never outside input
    def _add(self, table: str, fields: dict[str, Any]) -> None:
        names = ", ".join(fields)
        values = ", ".join(f":{name}" for name in fields)
        with self.db.transaction() as c:
            c.execute(f"DELETE FROM {table} WHERE expires_at < ?", (time.time() - BUTTONS_KEPT,))
            c.execute(f"INSERT INTO {table}({names}) VALUES({values})", fields)

    def _row(self, table: str, nonce: str) -> dict[str, Any] | None:
        row = self.db.conn.execute(f"SELECT * FROM {table} WHERE nonce=?", (nonce,)).fetchone()
        return None if row is None else dict(row)

    def _spend(self, table: str, nonce: str, now: float) -> bool:
        with self.db.transaction() as c:
            cur = c.execute(
                f"UPDATE {table} SET used_at=? WHERE nonce=? AND used_at IS NULL AND expires_at>=?",
                (now, nonce, now),
            )
        return bool(cur.rowcount == 1)

    def request_stop(self, pid: int, start_ticks: int, by: str, at: float) -> None:
        """Written (and committed) before the signal: the end is then told as *stopped*."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM stop_requests WHERE at < ?", (at - STOP_REQUESTS_KEPT,))
            c.execute(
                "INSERT OR REPLACE INTO stop_requests VALUES(?, ?, ?, ?)",
                (pid, start_ticks, by, at),
            )

    def stop_request(self, pid: int, start_ticks: int) -> StopRequest | None:
        """Whether telebot itself stopped this process (pid + start ticks), who asked, when."""
        row = self.db.conn.execute(
            "SELECT * FROM stop_requests WHERE pid=? AND start_ticks=?", (pid, start_ticks)
        ).fetchone()
        return None if row is None else StopRequest(**dict(row))

    def stop_requested(self, pid: int, start_ticks: int) -> bool:
        return self.stop_request(pid, start_ticks) is not None
