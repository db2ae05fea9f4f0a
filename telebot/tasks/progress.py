"""Progress that no single status says, from the statuses telebot saw a task write over time.

ikabot's autoPirate writes only `Pirating for N more runs` (N counts the run under way), never
how many runs it was asked for. When telebot saw the task start, the first count it wrote is
the total, and `Mission k/N` follows; when telebot first saw it midway there is no honest total
(`5 runs left`). Once two runs went by, their pace gives an ETA.
"""

from __future__ import annotations

from telebot.ikabot.statuses import parse_status
from telebot.tasks.model import Progress

# A pirate run takes minutes (the shortest mission is 2.5 min plus travel): a task first seen
# within this many seconds of its recorded start was seen in its first run.
SEEN_AT_START = 60.0


def runs_progress(
    history: list[tuple[float, str]], started: float, first_seen: float | None = None
) -> Progress | None:
    """`Mission k/N` (with an ETA once the pace is known) from an autoPirate's history."""
    counts = [
        (at, n)
        for at, status in history
        if (n := parse_status("autoPirate", status).remaining) is not None
    ]
    if not counts:
        return None
    _, total = counts[0]
    # a status before the first count (ikabot's menu writes "started") means we saw the start
    saw_start = parse_status("autoPirate", history[0][1]).remaining is None
    seen = first_seen if first_seen is not None else history[0][0]
    if not (saw_start or (started > 0 and seen - started <= SEEN_AT_START)):
        return None
    _, remaining = counts[-1]
    if total <= 0 or remaining > total:
        return None
    done = total - remaining
    eta = None
    changes = [(at, n) for i, (at, n) in enumerate(counts) if i == 0 or n != counts[i - 1][1]]
    if len(changes) >= 3:  # two whole runs observed: their pace
        (t0, n0), (t1, n1) = changes[1], changes[-1]
        if n0 > n1 and t1 > t0:
            per_run = (t1 - t0) / (n0 - n1)
            eta = t1 + per_run * remaining
    return Progress(done, total, "runs", current=done + 1, eta=eta)
