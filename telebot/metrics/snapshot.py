"""One scan's figures, ready for a scrape: built once per scan, read by every scrape.

Everything here comes from the task views and their `Facts` (telebot/tasks/facts.py): the
progress ratio is the fraction /status draws as its bar, the state is /status's state, so a
graph and a chat message about one task never disagree. Labels name the machine (`host`), the
player in the game (`username`, `world`, `server`), the `action` and the `pid`; never the
account's e-mail, a token or a chat id (docs/contract.md section 2c).

Which tasks have an `ikabot_task_up` series: the running ones (1) and those that ended badly
or unknown (failed, killed, died: 0). A task that finished its work, or that an owner stopped,
is not down, so it has none: "up == 0 for 5 minutes" then means a task that should run does not
(`deploy/prometheus/rules.yml`). It still counts in `ikabot_tasks{state}` and has its progress.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from telebot.tasks.facts import How, facts_of
from telebot.tasks.model import State, Task

STATES: tuple[State, ...] = ("running", "finished", "dead")
TASK_LABELS = ("host", "username", "world", "server", "action", "pid")
NOT_DOWN = (How.FINISHED, How.STOPPED)  # ends that leave nothing down


@dataclass(frozen=True)
class TaskFigures:
    """One task's series: its label values (TASK_LABELS' order), up (None: no series) and
    progress ratio (None: no figure)."""

    labels: tuple[str, ...]
    up: int | None
    ratio: float | None


@dataclass(frozen=True)
class ScanFigures:
    """What one scan found on this machine."""

    host: str
    at: float  # when the scan was made (unix time)
    tasks: tuple[TaskFigures, ...]
    by_state: tuple[tuple[State, int], ...]


def task_figures(task: Task, host: str) -> TaskFigures:
    f = facts_of(task)
    a = task.account
    labels = (host, a.username, a.world, a.server, task.action, str(task.pid))
    up: int | None = 1 if f.running else 0
    if not f.running and (f.state == "finished" or (f.end is not None and f.end.how in NOT_DOWN)):
        up = None
    return TaskFigures(labels, up, f.progress.fraction if f.progress is not None else None)


def scan_figures(tasks: Iterable[Task], host: str, at: float) -> ScanFigures:
    """The figures of one scan. Two entries with the same labels (ikabot keeps a dead entry
    whose pid was reused for the same action) are one series: the running one, else the
    newest, wins, since Prometheus refuses a scrape's duplicate series."""
    counts = dict.fromkeys(STATES, 0)
    best: dict[tuple[str, ...], tuple[bool, float, TaskFigures]] = {}
    for task in tasks:
        figures = task_figures(task, host)
        counts[facts_of(task).state] += 1
        rank = (figures.up == 1, task.started, figures)
        kept = best.get(figures.labels)
        if kept is None or rank[:2] > kept[:2]:
            best[figures.labels] = rank
    return ScanFigures(
        host, at, tuple(r[2] for r in best.values()), tuple((s, counts[s]) for s in STATES)
    )
