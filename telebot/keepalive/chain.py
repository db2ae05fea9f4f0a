"""What keep-alive does when a task ends: restart it after a back-off, give up, or nothing.

Pure decisions over numbers (the clock is an argument), so the back-off and the hourly limit
are tested without waiting. Like a supervisor's (supervisord's autorestart, PM2's exponential
back-off): only an end that is a fault restarts (failed, killed, died); a task that finished
its work, or that an owner stopped with /kill, stays down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from telebot.i18n import _, ngettext

RESTARTABLE = frozenset({"failed", "killed", "died"})
FACTOR = 3.0  # each restart within the hour waits this much longer than the one before
LONGEST = 1800.0  # seconds: the back-off never exceeds half an hour
WINDOW = 3600.0  # restarts counted for the limit and the back-off: the last hour's


@dataclass(frozen=True)
class Decision:
    """`restart_in` seconds, or None (not restarted: `gave_up`, or `note` says why)."""

    restart_in: float | None
    gave_up: bool
    note: str


def is_kept(action: str, want: bool | None, setting: frozenset[str]) -> bool:
    """An owner's /keepalive word, else TELEBOT_KEEPALIVE (action names, or `all`)."""
    if want is not None:
        return want
    return "all" in setting or action in setting


def backoff(restarts: int, first: float) -> float:
    """≈ `first` s, then ×3 per restart in the last hour, at most half an hour."""
    return min(LONGEST, first * FACTOR ** max(0, restarts))


def seconds_words(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"


def decide(
    how: str,
    *,
    kept: bool,
    recorded: bool,
    restarts: Iterable[float],
    now: float,
    limit: int,
    first: float,
    not_before: float = 0.0,
) -> Decision | None:
    """None when keep-alive has nothing to say about this end (not kept, or a good end).
    `not_before`: the earliest time for this restart (the one planned before it goes first:
    restarts are staggered, never all at once)."""
    if not kept or how not in RESTARTABLE:
        return None
    if not recorded:
        return Decision(
            None,
            False,
            _("♻️ not restarted: it has no recorded answers (a task started from /menu has)"),
        )
    recent = [t for t in restarts if t > now - WINDOW]
    if len(recent) >= limit:
        return Decision(
            None,
            True,
            ngettext(
                "♻️ gave up: restarted {n} time within an hour (TELEBOT_KEEPALIVE_MAX={limit})",
                "♻️ gave up: restarted {n} times within an hour (TELEBOT_KEEPALIVE_MAX={limit})",
                len(recent),
            ).format(n=len(recent), limit=limit),
        )
    delay = max(backoff(len(recent), first), not_before - now)
    return Decision(delay, False, _("♻️ restarting in {delay}").format(delay=seconds_words(delay)))
