"""Acting from Telegram: /kill's one-time confirmation buttons (`bot/kill.py`) and 🔁 Run it's
(`bot/menu_handlers.py`), and the stop requests that make an end telebot caused itself be told
as *stopped*."""

from __future__ import annotations

import time

from telebot.state.db import Database
from telebot.state.rows import AgainButton, KillButton, StopRequest

STOP_REQUESTS_KEPT = 30 * 86400.0
BUTTONS_KEPT = 86400.0  # past their expiry


class ControlStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_kill_button(self, button: KillButton) -> None:
        with self.db.transaction() as c:
            c.execute("DELETE FROM kill_buttons WHERE expires_at < ?",
                      (time.time() - BUTTONS_KEPT,))
            c.execute("INSERT INTO kill_buttons VALUES(:nonce, :pid, :start_ticks, :started, "
                      ":action, :account, :expires_at, :used_at)", button.__dict__)

    def kill_button(self, nonce: str) -> KillButton | None:
        row = self.db.conn.execute("SELECT * FROM kill_buttons WHERE nonce=?",
                                   (nonce,)).fetchone()
        return None if row is None else KillButton(**dict(row))

    def use_kill_button(self, nonce: str, now: float) -> KillButton | None:
        """Spend a button once: the button if it was unused and not expired, else None."""
        with self.db.transaction() as c:
            cur = c.execute("UPDATE kill_buttons SET used_at=? WHERE nonce=? AND used_at IS NULL "
                            "AND expires_at>=?", (now, nonce, now))
        return self.kill_button(nonce) if cur.rowcount == 1 else None

    def add_again_button(self, button: AgainButton) -> None:
        with self.db.transaction() as c:
            c.execute("DELETE FROM again_buttons WHERE expires_at < ?",
                      (time.time() - BUTTONS_KEPT,))
            c.execute("INSERT INTO again_buttons VALUES(:nonce, :pid, :start_ticks, "
                      ":acknowledged, :expires_at, :used_at)", button.__dict__)

    def again_button(self, nonce: str) -> AgainButton | None:
        row = self.db.conn.execute("SELECT * FROM again_buttons WHERE nonce=?",
                                   (nonce,)).fetchone()
        return None if row is None else AgainButton(**dict(row))

    def use_again_button(self, nonce: str, now: float) -> AgainButton | None:
        """Spend a 🔁 Run it once: the button if it was unused and not expired, else None."""
        with self.db.transaction() as c:
            cur = c.execute("UPDATE again_buttons SET used_at=? WHERE nonce=? AND used_at IS "
                            "NULL AND expires_at>=?", (now, nonce, now))
        return self.again_button(nonce) if cur.rowcount == 1 else None

    def request_stop(self, pid: int, start_ticks: int, by: str, at: float) -> None:
        """Written (and committed) before the signal: the end is then told as *stopped*."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM stop_requests WHERE at < ?", (at - STOP_REQUESTS_KEPT,))
            c.execute("INSERT OR REPLACE INTO stop_requests VALUES(?, ?, ?, ?)",
                      (pid, start_ticks, by, at))

    def stop_request(self, pid: int, start_ticks: int) -> StopRequest | None:
        """Whether telebot itself stopped this process (pid + start ticks), who asked, when."""
        row = self.db.conn.execute("SELECT * FROM stop_requests WHERE pid=? AND start_ticks=?",
                                   (pid, start_ticks)).fetchone()
        return None if row is None else StopRequest(**dict(row))

    def stop_requested(self, pid: int, start_ticks: int) -> bool:
        return self.stop_request(pid, start_ticks) is not None
