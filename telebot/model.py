"""The task view: one `processList` entry, merged with its `processDetails` and liveness.

Everything after the store (alerts, render, bot) works on these dataclasses only, so each
layer can be tested by building them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from telebot.facts import Facts

Layout = Literal["legacy", "directory"]
State = Literal["running", "finished", "dead"]


@dataclass(frozen=True)
class TelegramConfig:
    """What ikabot stores in `shared.telegram` (or the TELEBOT_* overrides)."""

    bot_token: str | None = field(default=None, repr=False)
    chat_id: str | None = None


@dataclass(frozen=True)
class AccountKey:
    """One game account: ikabot keys its data by e-mail, then username/world/server."""

    email: str | None
    username: str
    world: str
    server: str

    @property
    def label(self) -> str:
        return f"{self.username} (s{self.world}-{self.server})"


@dataclass
class AccountData:
    """The raw data of one username/world/server, as the store read it."""

    key: AccountKey
    process_list: list[dict[str, Any]]
    process_details: dict[str, dict[str, Any]]


@dataclass
class Snapshot:
    """Everything read from ikabot's data in one pass."""

    layout: Layout
    path: Path
    telegram: TelegramConfig
    accounts: list[AccountData]
    emails: list[str]
    read_at: float
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    unit: str = ""
    current: int | None = None  # the run under way ("run 6 of 10"), when runs are counted
    eta: float | None = None  # when the work should be done, from the observed pace

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else max(0.0, min(1.0, self.done / self.total))


@dataclass(frozen=True)
class Parsed:
    """What a status string says, where it says anything: never invented."""

    progress: Progress | None = None
    remaining: int | None = None
    urls: tuple[str, ...] = ()
    city: str | None = None
    building: str | None = None
    level: int | None = None
    remaining_time: str | None = None
    total_time: str | None = None
    remaining_unit: str | None = None  # what `remaining` counts: "runs", "upgrades", …
    time_left: float | None = None  # seconds of work left, as the status said it
    next_at: float | None = None  # unix time of the task's next run
    total: str | None = None  # a running total, e.g. "total sent 12,000"


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

    @property
    def key(self) -> tuple[int, float]:
        """Identity of the task: a pid alone can be reused by an unrelated process."""
        return (self.pid, self.started)

    @cached_property
    def facts(self) -> Facts:
        """Every figure a surface states about this task, computed once (`telebot.facts`)."""
        from telebot.facts import End, figures  # facts builds on this module's dataclasses

        return figures(action=self.action, state=self.state, started=self.started,
                       progress=self.progress, remaining=self.remaining, parsed=self.parsed,
                       end=End.from_json(self.ended))

    def learn(self, *, ended: dict[str, Any] | None = None, state: State | None = None,
              progress: Progress | None = None, remaining: int | None = None) -> None:
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
        self.__dict__.pop("facts", None)

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON shape (DESIGN.md section 2), plus a few extra fields: the
        same facts every other surface states."""
        from telebot.facts import progress_json

        f = self.facts
        return {
            "pid": self.pid,
            "action": self.action,
            "email": self.account.email,
            "username": self.account.username,
            "world": self.account.world,
            "server": self.account.server,
            "status": self.status,
            "started": self.started,
            "alive": self.alive,
            "state": self.state,
            "progress": progress_json(f.progress),
            "remaining": f.left,
            "time_left": f.time_left,
            "next_at": f.next_at,
            "urls": list(self.urls),
            "details": self.details,
            "ended": f.end.as_json() if f.end is not None else None,
        }
