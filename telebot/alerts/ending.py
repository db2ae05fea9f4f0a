"""How a task ended, told from what was really observed, never guessed beyond it.

Order of evidence (issue: real ikabot tasks): the kernel's exit information (a signal, or an
exit status), then ikabot's log (an error the task reported: ikabot's `@task` wrapper exits
with status 0 after a failure too), then, only when the kernel said nothing (an older kernel,
a death seen while telebot was down), what the task's own last state implies; that last kind
of answer is marked *probably*.
"""

from __future__ import annotations

from telebot.processes.exitinfo import ExitInfo
from telebot.state import Tracked
from telebot.state.tracking import TrackingStore
from telebot.tasks.facts import HOWS, End, How, progress_from_row
from telebot.tasks.facts import looks_finished as _looks_finished

__all__ = ["HOWS", "Ending", "classify", "end_key", "looks_finished", "of_end_key"]


Ending = End  # how a task ended; its `at` is filled in by whoever records the end


def end_key(pid: int, start_ticks: int) -> str:
    """The outbox key of a task's end alert: one per process (pid and start ticks), so the end
    is told once however often it is seen (telebot restarted, a reboot report, a scan and a
    wake at once)."""
    return f"end:{pid}:{start_ticks}"


def of_end_key(key: str) -> tuple[int, int] | None:
    """(pid, start ticks) of an end alert's outbox key; None for any other key."""
    kind, _sep, rest = key.partition(":")
    pid, _sep, ticks = rest.partition(":")
    if kind != "end" or not (pid.isdigit() and ticks.isdigit()):
        return None
    return int(pid), int(ticks)


def looks_finished(row: Tracked) -> bool:
    """The task's last known state says its work was done (the fallback's only evidence):
    the one definition, `facts.looks_finished`, applied to what telebot remembers."""
    return _looks_finished(row.action, progress_from_row(row.progress), row.remaining)


def classify(
    row: Tracked, exit: ExitInfo | None, cause: str | None, *, stopped: bool = False
) -> Ending:
    status = exit.exit_status if exit is not None else None
    signal = exit.signal_name if exit is not None else None
    if stopped:
        return Ending(How.STOPPED, status, signal)
    if exit is not None and exit.signal is not None:
        return Ending(How.KILLED, None, signal, cause)
    if status:
        return Ending(How.FAILED, status, None, cause or f"exit status {status}")
    if cause:
        return Ending(How.FAILED, status, None, cause)
    if exit is not None:
        return Ending(How.FINISHED, status)
    if looks_finished(row):
        return Ending(How.FINISHED, probably=True)
    return Ending(How.DIED)


def record_end(tracking: TrackingStore, row: Tracked, ending: Ending, at: float) -> bool:
    """The end of `row`, as `ending` says, written (on the writer thread, inside the caller's
    transaction); False when it was recorded before."""
    return tracking.end(
        row.pid,
        row.start_ticks,
        ending.how,
        at,
        exit_status=ending.exit_status,
        signal=ending.signal,
        cause=ending.cause,
    )
