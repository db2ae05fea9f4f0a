"""One truth per task: every figure a surface states about a task, computed here and only here.

/status, /details, every alert, the scheduled report, `telebot status` and `status --json`
render a `Facts`; none of them counts, guesses an end or decides "finished" on its own. So the
alert and the /status line of one task cannot disagree.

How things are counted (docs/contract.md section 2, "One truth per task"):
- `Progress.done` counts completed units (runs, levels). `current` is the unit under way, for
  tasks that count runs (ikabot's autoPirate writes `Pirating for N more runs` before each run:
  N counts the run under way, so run `total - N + 1` is in progress and `total - N` are done).
- `left` is what is still to do, the unit under way included (ikabot's own count).
- A finished task shows its completed figure (5 of 5 runs, 3 of 3 levels) and has no time
  left, no next run and no run under way; its last status may still read `Pirating for 1 more
  runs`, which is what ikabot wrote before that last run.
- A task that ended otherwise keeps the figure it had: the run it was in is the run the end
  interrupted ("killed during run 5 of 10 (4 done)").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from telebot.compat import StrEnum
from telebot.tasks.model import Parsed, Progress, State, Task


class How(StrEnum):
    """How a task ended: the contract's `ended.how`, stored as these strings."""

    FINISHED = "finished"  # its work done (exit status 0, or its last state says so)
    FAILED = "failed"  # a non-zero exit status, or an error in ikabot's log
    KILLED = "killed"  # a signal (not telebot's stop)
    DIED = "died"  # gone, and nothing says how
    STOPPED = "stopped"  # stopped from Telegram (/kill)


HOWS = tuple(How)


@dataclass(frozen=True)
class End:
    """How a task ended, as telebot saw it (or, `probably`, as its last state implies)."""

    how: How
    exit_status: int | None = None
    signal: str | None = None
    cause: str | None = None
    at: float | None = None
    probably: bool = False

    def __post_init__(self) -> None:  # a plain "finished" becomes How.FINISHED (or fails)
        object.__setattr__(self, "how", How(self.how))

    @classmethod
    def from_json(cls, ended: dict[str, Any] | None) -> End | None:
        """The contract's `ended` object (docs/contract.md section 2) back as an End."""
        if not isinstance(ended, dict) or ended.get("how") not in HOWS:
            return None
        how = How(ended["how"])
        at = ended.get("at")
        status = _int_or_none(ended.get("exit_status"))
        # a finish told from the task's last state alone has no exit status (`ending.classify`)
        probably = bool(ended.get("probably")) or (how is How.FINISHED and status is None)
        return cls(
            how,
            status,
            _str_or_none(ended.get("signal")),
            _str_or_none(ended.get("cause")),
            float(at) if isinstance(at, (int, float)) else None,
            probably,
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "how": self.how,
            "exit_status": self.exit_status,
            "signal": self.signal,
            "cause": self.cause,
            "at": self.at,
        }
        if self.probably:
            out["probably"] = True
        return out


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


@dataclass(frozen=True)
class Facts:
    """What is known about one task, once: every surface states these and nothing else."""

    state: State
    started: float
    progress: Progress | None = None  # done / total (+ the run under way)
    left: int | None = None  # still to do, the unit under way included
    left_unit: str = ""  # what `left` counts: "runs", "upgrades", …
    time_left: float | None = None  # seconds of work left (running tasks only)
    next_at: float | None = None  # the next run (running tasks only)
    eta: float | None = None  # when the work should be done, from the pace seen
    total: str | None = None  # a running total as the status says it ("total sent 12,000")
    doing: str | None = None  # "Athens · Academy → level 4"
    end: End | None = None  # how it ended, when known

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def dated(self) -> bool:
        """ikabot wrote a start time: an entry's `"date": 0` (or less) means it is unknown."""
        return self.started > 0

    def ran(self, now: float) -> float:
        """How long it ran (ended tasks), or has been up (running ones)."""
        until = self.end.at if self.end is not None and self.end.at is not None else now
        return max(0.0, until - self.started)


def looks_finished(
    action: str,
    progress: Progress | None,
    remaining: int | None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Does a task's last known state say its work was done? The one definition of
    "finished" without an exit status: a progress figure at its total, nothing left, a
    producer's own `finished` flag, or an autoPirate whose last status counted its last run
    (ikabot's autoPirate exits after the run that said `1 more runs`)."""
    if progress is not None and progress.complete:
        return True
    if remaining == 0:
        return True
    if details and (details.get("finished") is True or details.get("state") == "finished"):
        return True
    return action == "autoPirate" and remaining == 1


def state_of(alive: bool, end: End | None, finished: bool) -> State:
    """running / finished / dead: telebot's own knowledge of the end wins over the data's."""
    if alive:
        return "running"
    if end is not None:
        return "finished" if end.how is How.FINISHED else "dead"
    return "finished" if finished else "dead"


def figures(
    *,
    action: str,
    state: State,
    started: float,
    progress: Progress | None,
    remaining: int | None,
    parsed: Parsed,
    end: End | None = None,
) -> Facts:
    """The facts of one task from what its data and telebot's memory say."""
    left = remaining
    if left is None and progress is not None:
        left = progress.total - progress.done
    left_unit = parsed.remaining_unit or ("runs" if action == "autoPirate" else "")
    if progress is not None and progress.unit and not parsed.remaining_unit:
        left_unit = progress.unit
    doing = None
    if parsed.city:
        b = f" · {parsed.building}" if parsed.building else ""
        lvl = f" → level {parsed.level}" if parsed.level is not None else ""
        doing = f"{parsed.city}{b}{lvl}"
    if state == "finished":
        if progress is not None:  # the completed figure, nothing under way
            progress = Progress(progress.total, progress.total, progress.unit)
        return Facts(
            state,
            started,
            progress,
            0 if left is not None else None,
            left_unit,
            total=parsed.total,
            doing=None,
            end=end,
        )
    if state != "running":  # the figure it had; no future
        if progress is not None and progress.eta is not None:
            progress = replace(progress, eta=None)
        return Facts(
            state, started, progress, left, left_unit, total=parsed.total, doing=doing, end=end
        )
    done = progress is not None and progress.complete  # its work is done: nothing is left
    return Facts(
        state,
        started,
        progress,
        left,
        left_unit,
        None if done else parsed.time_left,
        parsed.next_at,
        progress.eta if progress is not None and not done else None,
        parsed.total,
        doing,
        end,
    )


def progress_from_row(p: Any) -> Progress | None:
    """A progress figure as telebot's database keeps it (a dict), back as a Progress."""
    if not isinstance(p, dict):
        return None
    done, total = _int_or_none(p.get("done")), _int_or_none(p.get("total"))
    if done is None or not total:
        return None
    return Progress(done, total, str(p.get("unit") or ""), _int_or_none(p.get("current")))


def progress_json(p: Progress | None) -> dict[str, Any] | None:
    """A progress figure as JSON (`status --json` and telebot's database)."""
    if p is None:
        return None
    out: dict[str, Any] = {"done": p.done, "total": p.total, "unit": p.unit}
    if p.current is not None:
        out["current"] = p.current
    return out


def facts_of(task: Task) -> Facts:
    """Every figure a surface states about this task, computed once per view: the model holds
    the data, the figures are a function of it (`Task.learn` drops them when the data grows)."""
    cached = task.figures_cache
    if isinstance(cached, Facts):
        return cached
    made = figures(
        action=task.action,
        state=task.state,
        started=task.started,
        progress=task.progress,
        remaining=task.remaining,
        parsed=task.parsed,
        end=End.from_json(task.ended),
    )
    task.figures_cache = made
    return made


def task_json(task: Task) -> dict[str, Any]:
    """The contract's JSON shape (docs/contract.md section 2), plus a few extra fields: the
    same facts every other surface states."""
    f = facts_of(task)
    return {
        "pid": task.pid,
        "action": task.action,
        "email": task.account.email,
        "username": task.account.username,
        "world": task.account.world,
        "server": task.account.server,
        "status": task.status,
        "started": task.started,
        "alive": task.alive,
        "state": task.state,
        "progress": progress_json(f.progress),
        "remaining": f.left,
        "time_left": f.time_left,
        "next_at": f.next_at,
        "urls": list(task.urls),
        "details": task.details,
        "ended": f.end.as_json() if f.end is not None else None,
    }
