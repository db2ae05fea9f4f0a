"""A storm of deaths becomes one message: the first is sent at once, the rest edit it.

When ikabot (or the machine) goes down, its tasks die within milliseconds of each other. The
first death's alert goes out with no delay; a death that follows the storm's previous one
within `STORM_GAP` (and its first within `STORM_CAP`) rewrites that message into the grouped
form: while it is still unsent its text is replaced, once sent an edit is queued in the
durable outbox. Each step is written in the same transaction that ends the task, so a restart
mid-storm neither loses a death nor repeats one. Tasks that finished are not storms: each gets
its own message. `Storms` lives on the state's writer thread (it is used inside the
transaction that ends a task), so one storm is never changed from two threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telebot.alerts.texts import Ended, alert_lines, storm_lines
from telebot.state import StateDB
from telebot.views import render

STORM_GAP = 0.25  # a death this soon after the storm's previous one joins its message
STORM_CAP = 2.0  # … as long as the storm's first death is no older than this
STORM_MAX = 40  # a storm message lists at most this many; the next starts a new message


@dataclass
class _Storm:
    head: int  # the outbox item of the storm's message
    kind: str
    members: list[Ended]
    started: float  # monotonic
    last: float


def text_of(members: list[Ended]) -> str:
    if len(members) == 1:
        return "\n".join(alert_lines(members[0]))
    return "\n".join(storm_lines(members))


@dataclass
class Storms:
    state: StateDB
    chat_id: str
    gap: float = field(default_factory=lambda: STORM_GAP)
    cap: float = field(default_factory=lambda: STORM_CAP)
    clock: Callable[[], float] = time.monotonic  # injected by tests: the gap is a parameter
    _current: _Storm | None = None

    def close(self) -> None:
        """The next end starts a message of its own (the offline report at start is one)."""
        self._current = None

    def place(self, e: Ended, kind: str, dedup_key: str, markup: str | None = None) -> None:
        """Put one ended task into the outbox; call inside the transaction that ended it.
        `markup`: its buttons (JSON), on a message of its own (an edit keeps the first's)."""
        now = self.clock()
        storm = self._current
        if e.ending.how == "finished":  # good news is not a storm
            self.state.outbox.enqueue(dedup_key, self.chat_id, kind, text_of([e]), markup=markup)
            return
        if (
            storm is not None
            and now - storm.last <= self.gap
            and now - storm.started <= self.cap
            and len(storm.members) < STORM_MAX
        ):
            text = text_of([*storm.members, e])
            if render.tg_len(text) <= render.TELEGRAM_LIMIT:
                storm.members.append(e)
                storm.last = now
                outbox = self.state.outbox
                if not outbox.retext_pending(storm.head, text):
                    outbox.enqueue(
                        f"edit:{storm.head}:{len(storm.members)}",
                        self.chat_id,
                        storm.kind,
                        text,
                        edits=storm.head,
                    )
                return
        head = self.state.outbox.enqueue(dedup_key, self.chat_id, kind, text_of([e]), markup=markup)
        self._current = None if head is None else _Storm(head, kind, [e], now, now)
