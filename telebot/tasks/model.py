"""The task view: one `processList` entry, merged with its `processDetails` and liveness.

Everything after the store (alerts, render, bot) works on these dataclasses only, so each
layer can be tested by building them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from telebot.config import TelegramConfig
from telebot.ikabot.records import (
    AccountData,
    AccountKey,
    Layout,
    Parsed,
    Progress,
    Snapshot,
)

__all__ = [
    "AccountData",
    "AccountKey",
    "Layout",
    "Parsed",
    "Progress",
    "Snapshot",
    "State",
    "Task",
    "TelegramConfig",
]

State = Literal["running", "finished", "dead"]


@dataclass
class Task:
    """One ikabot task as telebot shows it."""

    pid: int
    action: str
    account: AccountKey
    status: str
    started: float
    details: dict[str, Any]
    progress: Progress | None
    remaining: int | None
    urls: list[str]
    alive: bool
    state: State
    parsed: Parsed = field(default_factory=Parsed)
    start_ticks: int | None = None  # the process's identity (liveness), when alive
    ended: dict[str, Any] | None = None  # how it ended, when telebot saw it end
    history: list[tuple[float, str]] = field(default_factory=list)  # status changes seen
    # the figures computed from this view (`telebot.tasks.facts.facts_of`), dropped by `learn`
    figures_cache: object = field(default=None, repr=False, compare=False)
    # a gone view whose memory is final (`merge.annotate`): its end learned, or no tracked
    # row of its pid left that could still end; a view reused by the next read is not
    # looked up again
    settled: bool = field(default=False, repr=False, compare=False)

    @property
    def key(self) -> tuple[int, float]:
        """Identity of the task: a pid alone can be reused by an unrelated process."""
        return (self.pid, self.started)

    def learn(
        self,
        *,
        ended: dict[str, Any] | None = None,
        state: State | None = None,
        progress: Progress | None = None,
        remaining: int | None = None,
    ) -> None:
        """What telebot itself knows beyond ikabot's data (how it ended, the runs it saw):
        the one way a view changes after it was built, so its facts are computed again."""
        if ended is not None:
            self.ended = ended
        if state is not None:
            self.state = state
        if progress is not None:
            self.progress = progress
        if remaining is not None:
            self.remaining = remaining
        self.figures_cache = None
