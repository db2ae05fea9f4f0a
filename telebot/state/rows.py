"""The rows telebot keeps, as dataclasses (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telebot.ikabot.records import AccountKey


@dataclass
class Tracked:
    """A task telebot has seen alive, as remembered in the database."""

    pid: int
    start_ticks: int
    started: float
    email: str | None
    username: str
    world: str
    server: str
    action: str
    status: str
    progress: dict[str, Any] | None
    remaining: int | None
    urls: list[str]
    first_seen: float
    last_seen_alive: float
    last_change: float
    stalled_at: float | None
    ended_at: float | None
    end_kind: str | None
    exit_status: int | None = None
    signal: str | None = None
    cause: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start_ticks)

    @property
    def account(self) -> AccountKey:
        return AccountKey(self.email, self.username, self.world, self.server)

    def ended_json(self) -> dict[str, Any] | None:
        """The contract's `ended` object (docs/contract.md section 2), once telebot saw the
        task end."""
        if self.ended_at is None:
            return None
        return {
            "how": self.end_kind,
            "exit_status": self.exit_status,
            "signal": self.signal,
            "cause": self.cause,
            "at": self.ended_at,
        }


@dataclass(frozen=True)
class KillButton:
    """A /kill confirmation: which process it stands for, until when, and whether used."""

    nonce: str
    pid: int
    start_ticks: int
    started: float  # the processList entry's date
    action: str
    account: str
    expires_at: float
    used_at: float | None


@dataclass(frozen=True)
class AgainButton:
    """A 🔁 Run it confirmation: which recording it replays, the copies of that action the
    owner was shown as already running (`twin_guard.identity_of`, space-separated), until
    when it is valid, and whether it was used."""

    nonce: str
    pid: int
    start_ticks: int
    acknowledged: str
    expires_at: float
    used_at: float | None

    @property
    def seen(self) -> tuple[str, ...]:
        return tuple(self.acknowledged.split())


@dataclass(frozen=True)
class StopRequest:
    """telebot was asked to stop this very process (written before the signal is sent)."""

    pid: int
    start_ticks: int
    who: str
    at: float


@dataclass(frozen=True)
class MenuProcess:
    """A /menu process telebot started and has not seen end: its pid and its identity (start
    ticks within one boot, `processes.liveness`), for the next telebot to end it if this one
    was killed first (`processes.leftover`)."""

    pid: int
    start_ticks: int
    boot_id: str
    started_at: float


@dataclass
class OutboxItem:
    id: int
    dedup_key: str
    chat_id: str
    kind: str
    text: str
    created_at: float
    not_before: float
    attempts: int
    edits: int | None = None  # an edit of this outbox item's message, not a new message
    message_id: int | None = None
    markup: str | None = None  # the message's buttons (Bot API JSON), if it has any


@dataclass
class Kept:
    """A task's keep-alive (♻️) record: the owner's word on it (`want`: None follows
    TELEBOT_KEEPALIVE), the chain of restarts it belongs to (named by its first task), the task
    it was restarted from, and a restart that is due (with the alert that announced it)."""

    pid: int
    start_ticks: int
    action: str
    want: bool | None
    chain: str
    of_pid: int | None
    of_ticks: int | None
    gave_up: bool
    due_at: float | None
    alert_id: int | None
    note: str | None
