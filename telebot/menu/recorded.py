"""The answers a /menu session gave to start a task, kept in telebot's state (SQLite) with that
task's identity, for 🔁 Run again. Never an echo-off answer: those are not given to this store.

The table (`menu_recordings`) is created with telebot's other tables (`state._SCHEMA`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from telebot.menu.screen import Choice, Question


@dataclass(frozen=True)
class Step:
    """One answer, and the question it answered (prompt + choices on the screen then)."""

    question: Question
    answer: str
    kind: str  # "choice" (a button), "text" (a typed reply), "enter" (the ⏎ button)

    def to_json(self) -> dict[str, object]:
        return {"prompt": self.question.prompt, "answer": self.answer, "kind": self.kind,
                "choices": [[c.number, c.text] for c in self.question.choices]}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Step:
        choices = tuple(Choice(int(n), str(t)) for n, t in d.get("choices", []))  # type: ignore[attr-defined]
        return cls(Question(str(d["prompt"]), choices), str(d["answer"]), str(d["kind"]))

    def describe(self) -> str:
        """'(17) Auto-Pirate' for a choice, '“5”' for text, '⏎' for Enter."""
        if self.kind == "enter":
            return "⏎"
        for c in self.question.choices:
            if str(c.number) == self.answer:
                return f"({c.number}) {c.text}"
        return f"“{self.answer}”"


@dataclass(frozen=True)
class Recording:
    pid: int
    start_ticks: int
    action: str
    email: str | None
    username: str
    world: str
    server: str
    steps: tuple[Step, ...]
    recorded_at: float
    again_of: tuple[int, int] | None  # the task this one was 🔁 run again from

    @property
    def account_key(self) -> tuple[str, str, str]:
        return (self.username, self.world, self.server)


class RecordedAnswers:
    """Recordings keyed by task identity (pid + start ticks)."""

    KEEP = 500  # recordings kept; the oldest go first

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def add(self, r: Recording) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO menu_recordings (pid, start_ticks, action, email, username,"
            " world, server, steps, recorded_at, again_of_pid, again_of_ticks) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (r.pid, r.start_ticks, r.action, r.email, r.username, r.world, r.server,
             json.dumps([s.to_json() for s in r.steps]), r.recorded_at,
             r.again_of[0] if r.again_of else None, r.again_of[1] if r.again_of else None))
        self._db.execute(
            "DELETE FROM menu_recordings WHERE rowid NOT IN (SELECT rowid FROM menu_recordings "
            "ORDER BY recorded_at DESC LIMIT ?)", (self.KEEP,))

    def get(self, pid: int, start_ticks: int) -> Recording | None:
        row = self._db.execute("SELECT * FROM menu_recordings WHERE pid=? AND start_ticks=?",
                               (pid, start_ticks)).fetchone()
        return _recording(row) if row else None

    def newest(self, pid: int) -> Recording | None:
        """The newest recording of a task with this pid (its entry may be gone from ikabot's
        data: ikabot's menu drops the entries of ended tasks)."""
        row = self._db.execute("SELECT * FROM menu_recordings WHERE pid=? ORDER BY "
                               "recorded_at DESC LIMIT 1", (pid,)).fetchone()
        return _recording(row) if row else None

    def again_as(self, pid: int, start_ticks: int) -> Recording | None:
        """The task started by 🔁 Run again of this one, if any (the newest)."""
        row = self._db.execute("SELECT * FROM menu_recordings WHERE again_of_pid=? AND "
                               "again_of_ticks=? ORDER BY recorded_at DESC LIMIT 1",
                               (pid, start_ticks)).fetchone()
        return _recording(row) if row else None


def _recording(row: sqlite3.Row) -> Recording:
    again = (int(row["again_of_pid"]), int(row["again_of_ticks"])) \
        if row["again_of_pid"] is not None else None
    return Recording(int(row["pid"]), int(row["start_ticks"]), row["action"], row["email"],
                     row["username"], row["world"], row["server"],
                     tuple(Step.from_json(s) for s in json.loads(row["steps"])),
                     float(row["recorded_at"] or time.time()), again)
