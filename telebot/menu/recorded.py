"""The answers a /menu session gave to start a task, with that task's identity, for 🔁 Run
again. Never an echo-off answer: the session records none. telebot's state keeps them as rows
(`state.recordings`, its table in `state.schema`); `to_row` / `from_row` convert.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from telebot.compat import StrEnum
from telebot.i18n import _
from telebot.ikabot.records import AccountKey
from telebot.menu.screen import Choice, Question


class StepKind(StrEnum):
    """How an answer was given; stored as these strings (`state.recordings`)."""

    CHOICE = "choice"  # a button: a number on the screen
    TEXT = "text"  # a typed reply
    ENTER = "enter"  # the ⏎ button (or a reply ikabot's enter() throws away)
    SECRET = "secret"  # an answer shaped like a secret (a token): recorded without its text


SECRET = StepKind.SECRET


@dataclass(frozen=True)
class Step:
    """One answer, and the question it answered (prompt + choices on the screen then)."""

    question: Question
    answer: str
    kind: StepKind

    def __post_init__(self) -> None:  # a plain "enter" becomes StepKind.ENTER (or fails)
        object.__setattr__(self, "kind", StepKind(self.kind))

    def to_json(self) -> dict[str, object]:
        return {
            "prompt": self.question.prompt,
            "answer": self.answer,
            "kind": self.kind,
            "choices": [[c.number, c.text] for c in self.question.choices],
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Step:
        choices = tuple(Choice(int(n), str(t)) for n, t in d.get("choices", []))  # type: ignore[attr-defined]
        return cls(Question(str(d["prompt"]), choices), str(d["answer"]), StepKind(str(d["kind"])))

    def describe(self) -> str:
        """'(17) Auto-Pirate' for a choice, '“5”' for text, '⏎' for Enter."""
        if self.kind is StepKind.ENTER:
            return "⏎"
        if self.kind is StepKind.SECRET:
            return _("a secret (never kept: you type it)")
        for c in self.question.choices:
            if str(c.number) == self.answer:
                return f"({c.number}) {c.text}"
        return f"“{self.answer}”"


@dataclass(frozen=True)
class Recording:
    pid: int
    start_ticks: int
    action: str
    account: AccountKey
    steps: tuple[Step, ...]
    recorded_at: float
    again_of: tuple[int, int] | None  # the task this one was 🔁 run again from


def to_row(r: Recording) -> dict[str, object]:
    """A recording as telebot's state keeps it (`state.recordings`)."""
    a = r.account
    return {
        "pid": r.pid,
        "start_ticks": r.start_ticks,
        "action": r.action,
        "email": a.email,
        "username": a.username,
        "world": a.world,
        "server": a.server,
        "steps": json.dumps([s.to_json() for s in r.steps]),
        "recorded_at": r.recorded_at,
        "again_of_pid": r.again_of[0] if r.again_of else None,
        "again_of_ticks": r.again_of[1] if r.again_of else None,
    }


def from_row(row: dict[str, Any] | None) -> Recording | None:
    if row is None:
        return None
    again = (
        (int(row["again_of_pid"]), int(row["again_of_ticks"]))
        if row["again_of_pid"] is not None
        else None
    )
    account = AccountKey(row["email"], row["username"], row["world"], row["server"])
    return Recording(
        int(row["pid"]),
        int(row["start_ticks"]),
        row["action"],
        account,
        tuple(Step.from_json(s) for s in json.loads(row["steps"])),
        float(row["recorded_at"] or time.time()),
        again,
    )
