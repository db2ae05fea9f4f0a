"""The alert texts (Telegram HTML). The first line names what happened with one word.

Every piece of ikabot text is clipped and escaped here; each line is self-contained HTML so a
long storm can be split on line boundaries.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

from telebot import render
from telebot.alerts.ending import Ending
from telebot.model import Progress, Task
from telebot.state import Tracked

ICON = {"finished": "✅", "failed": "❌", "killed": "💀", "died": "💀", "stopped": "🛑"}
MARKS = ("✅", "❌", "💀", "🛑", "⏸", "⚠")  # how an alert starts: tests tell them from answers


@dataclass
class Ended:
    """One ended task, as the alert shows it."""

    row: Tracked
    ending: Ending
    at: float
    task: Task | None = None
    offline: bool = False


def _progress_of(row: Tracked, task: Task | None) -> Progress | None:
    if task is not None and task.progress is not None:
        return task.progress
    p = row.progress
    if isinstance(p, dict) and isinstance(p.get("done"), int) and isinstance(p.get("total"), int):
        current = p.get("current")
        return Progress(p["done"], p["total"], str(p.get("unit") or ""),
                        current if isinstance(current, int) else None)
    return None


def where(row: Tracked, task: Task | None) -> str:
    """'Mission 5/10', '3 runs left', 'Athens · Academy → level 4', or ''."""
    progress = _progress_of(row, task)
    if progress is not None and progress.current is not None:
        return f"Mission {min(progress.current, progress.total)}/{progress.total}"
    if progress is not None:
        unit = progress.unit.rstrip("s").capitalize() if progress.unit else "Step"
        return f"{render.clip(unit, 40)} {progress.done}/{progress.total}"
    remaining = task.remaining if task is not None else row.remaining
    if remaining is not None:
        return f"{remaining} runs left" if row.action == "autoPirate" else f"{remaining} left"
    if task is not None and task.parsed.city:
        b = f" · {task.parsed.building}" if task.parsed.building else ""
        lvl = f" → level {task.parsed.level}" if task.parsed.level is not None else ""
        return render.clip(f"{task.parsed.city}{b}{lvl}", 120)
    return ""


def _account(row: Tracked) -> str:
    return html.escape(render.clip(f"{row.username} (s{row.world}-{row.server})", 120))


def _action(row: Tracked) -> str:
    return html.escape(render.clip(row.action, 60))


def headline(e: Ended) -> str:
    """'autoPirate finished: all 10 runs done', 'autoPirate killed (SIGKILL) at Mission 3/5'."""
    row, end = e.row, e.ending
    at = where(row, e.task)
    word = end.how
    if end.how == "finished":
        if row.action == "autoPirate" and isinstance(row.progress, dict) and \
                row.progress.get("total") and at.startswith("Mission"):
            detail = f"all {row.progress['total']} runs done"
        else:
            detail = at
        text = f"{word}" + (f": {detail}" if detail else "")
        if end.probably:
            text = f"probably {text} (no error logged; how it exited is unknown)"
    elif end.how == "killed":
        text = f"{word} ({end.signal})" + (f" at {at}" if at else "")
    elif end.how == "failed":
        text = f"{word}" + (f" at {at}" if at else "")
    elif end.how == "stopped":
        text = f"{word} from Telegram" + (f" at {at}" if at else "")
    else:
        text = f"{word}" + (f" at {at}" if at else "")
    if e.offline:
        text += " while telebot was offline"
    return html.escape(render.clip(text, 300))


def alert_lines(e: Ended) -> list[str]:
    """The full text of one ended task."""
    row, task, end = e.row, e.task, e.ending
    status = task.status if task is not None else row.status
    urls = task.urls if task is not None and task.urls else row.urls
    icon = ICON.get(end.how, "💀")
    lines = [f"{icon} <b>{_action(row)}</b> {headline(e)}",
             f"account {_account(row)} · pid <code>{row.pid}</code> · ran "
             f"{render.fmt_age(e.at - row.started)}"]
    if end.cause:
        lines.append(f"cause: <code>{html.escape(render.clip(end.cause, 300))}</code>")
    if e.offline:
        seen = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.last_seen_alive))
        lines.append(f"last seen alive at {seen}")
    if status:
        lines.append(f"last status: <i>{html.escape(render.clip(status, 200))}</i>")
    if row.action == "webServer" and end.how != "finished":
        for url in urls[:4]:
            lines.append(f"🌐 {html.escape(render.clip(url, 200))} no longer works")
    return lines


def storm_lines(ended: list[Ended]) -> list[str]:
    """Several ends at once: one line each, under one heading that counts them by word."""
    counts: dict[str, int] = {}
    for e in ended:
        counts[e.ending.how] = counts.get(e.ending.how, 0) + 1
    if len(counts) == 1:
        (how,) = counts
        head = f"{ICON.get(how, '💀')} <b>{len(ended)} ikabot tasks {how} at once</b>"
    else:
        parts = ", ".join(f"{n} {how}" for how, n in counts.items())
        icon = "✅" if set(counts) == {"finished"} else "💀"
        head = f"{icon} <b>{len(ended)} ikabot tasks ended at once</b>: {parts}"
    lines = [head]
    for e in ended:
        at = where(e.row, e.task)
        how = e.ending.how + (f" ({e.ending.signal})" if e.ending.signal else "")
        url = ""
        if e.row.action == "webServer" and e.ending.how != "finished" and e.row.urls:
            url = f" · {html.escape(render.clip(e.row.urls[0], 200))} no longer works"
        cause = (f" · <code>{html.escape(render.clip(e.ending.cause, 120))}</code>"
                 if e.ending.cause else "")
        lines.append(f"• {_action(e.row)} <code>{e.row.pid}</code> {html.escape(how)} · "
                     f"{_account(e.row)}" + (f" · at {html.escape(at)}" if at else "")
                     + f" · ran {render.fmt_age(e.at - e.row.started)}{cause}{url}")
    return lines


def stalled_text(row: Tracked, now: float) -> str:
    return "\n".join([
        f"⏸ <b>{_action(row)} stalled</b>: no change for "
        f"{render.fmt_age(now - row.last_change)}",
        f"account {_account(row)} · pid <code>{row.pid}</code>",
        f"status: <i>{html.escape(render.clip(row.status, 200))}</i>",
    ])
