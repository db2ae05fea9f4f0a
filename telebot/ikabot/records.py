"""What ikabot's data says, as telebot reads it: the accounts, their raw entries and what a
status string says. The store and the status parser return these; the task model builds on
them, so nothing in `ikabot/` needs to know what telebot computes later."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from telebot.config import TelegramConfig

Layout = Literal["legacy", "directory"]
# a world as some records write it: ikabot's own `59`, Ikariam's host name's `s59`, `s59-en`
_WORLD = re.compile(r"[sS]?(\d+)(?:-[A-Za-z]+)?")


@dataclass(frozen=True)
class AccountKey:
    """One game account: ikabot keys its data by e-mail, then username/world/server. The one
    place its words are built: every record that names an account holds or makes one."""

    email: str | None
    username: str
    world: str
    server: str

    @property
    def fields(self) -> tuple[str | None, str, str, str]:
        """(email, username, world, server): a record's columns, in this order."""
        return (self.email, self.username, self.world, self.server)

    @property
    def player(self) -> tuple[str, str, str]:
        """The player in the game (username, world, server), whichever e-mail logs in."""
        return (self.username, self.world, self.server)

    @property
    def world_number(self) -> str:
        """'59': the world as ikabot writes it, from whichever form the record has (`59`,
        `s59`, `s59-en`); a world in no such form as it is. Only for showing: the record's
        own `world` stays what locates its data."""
        m = _WORLD.fullmatch(self.world.strip())
        return m.group(1) if m else self.world

    @property
    def where(self) -> str:
        """'s59-en': the world and the server, as Ikariam's host names them."""
        return f"s{self.world_number}-{self.server}"

    @property
    def label(self) -> str:
        """'player1 (s59-en)'."""
        return f"{self.username} ({self.where})"

    @property
    def compact(self) -> str:
        """'player1 s59-en', inside a sentence that has parentheses of its own."""
        return f"{self.username} {self.where}"


@dataclass
class AccountData:
    """The raw data of one username/world/server, as the store read it."""

    key: AccountKey
    process_list: list[dict[str, Any]]
    process_details: dict[str, dict[str, Any]]
    # pid → its entries (a pid may come back), in the list's order: built once with the rows,
    # where the store reads them (a worker thread, or the end's writer step; never the loop),
    # and shared with them between reads while the file is unchanged, so a death's look-up of
    # its entry (`merge.view_of`) is one dict access, not a walk over months of entries
    by_pid: dict[int, list[dict[str, Any]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_pid: dict[int, list[dict[str, Any]]] = {}
        for entry in self.process_list:
            by_pid.setdefault(entry["pid"], []).append(entry)
        self.by_pid = by_pid


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
