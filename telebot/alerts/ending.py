"""How a task ended, told from what was really observed, never guessed beyond it.

Order of evidence (issue: real ikabot tasks): the kernel's exit information (a signal, or an
exit status), then ikabot's log (an error the task reported: ikabot's `@task` wrapper exits
with status 0 after a failure too), then, only when the kernel said nothing (an older kernel,
a death seen while telebot was down), what the task's own last state implies; that last kind
of answer is marked *probably*.
"""

from __future__ import annotations

from dataclasses import dataclass

from telebot.processes.exitinfo import ExitInfo
from telebot.state import Tracked

HOWS = ("finished", "failed", "killed", "died", "stopped")


@dataclass(frozen=True)
class Ending:
    how: str  # one of HOWS
    exit_status: int | None = None
    signal: str | None = None
    cause: str | None = None
    probably: bool = False


def looks_finished(row: Tracked) -> bool:
    """The task's last known state says its work was done (the fallback's only evidence).

    autoPirate counts down `Pirating for N more runs` and exits after the run that said 1;
    a progress figure at its total, or no work left, says the same for any task.
    """
    p = row.progress
    if isinstance(p, dict) and isinstance(p.get("done"), int) and \
            isinstance(p.get("total"), int) and p["total"] > 0 and p["done"] >= p["total"]:
        return True
    if row.remaining == 0:
        return True
    return row.action == "autoPirate" and row.remaining == 1


def classify(row: Tracked, exit: ExitInfo | None, cause: str | None, *,
             stopped: bool = False) -> Ending:
    status = exit.exit_status if exit is not None else None
    signal = exit.signal_name if exit is not None else None
    if stopped:
        return Ending("stopped", status, signal)
    if exit is not None and exit.signal is not None:
        return Ending("killed", None, signal, cause)
    if status:
        return Ending("failed", status, None, cause or f"exit status {status}")
    if cause:
        return Ending("failed", status, None, cause)
    if exit is not None:
        return Ending("finished", status)
    if looks_finished(row):
        return Ending("finished", probably=True)
    return Ending("died")
