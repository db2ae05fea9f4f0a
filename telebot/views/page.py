"""The `/details <pid>` page: everything telebot knows about one task, as a person reads it.

No JSON, no epoch numbers, no Python reprs: the figures come from the task's `Facts` (the same
words as /status and the alerts), `processDetails` fields are labelled lines (an autoPirate
schedule, a construction queue one building a line), fields telebot has no words for are
`name: value` in plain words, and every time is in TELEBOT_TZ with its zone said.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from typing import Any

from telebot.i18n import _, number
from telebot.tasks.facts import facts_of
from telebot.tasks.model import Task
from telebot.views import clock
from telebot.views.render import (
    STATE_ICON,
    TELEGRAM_LIMIT,
    age_words,
    clip,
    ending_words,
    field,
    figure,
    fmt_age,
    future,
    progress_bar,
    state_word,
    tg_len,
    url_links,
)

HISTORY_SHOWN = 6  # the last few status changes
QUEUE_SHOWN = 20  # buildings of a construction queue
OTHER_SHOWN = 12  # unknown processDetails fields
# fields the page says in its own lines (or that only ikabot's side needs)
KNOWN = {
    "action",
    "timestamp",
    "started_at",
    "missions",
    "progress",
    "schedule",
    "city",
    "buildings",
    "urls",
    "port",
    "local_ip",
    "finished",
    "state",
}
_TIME_KEY = re.compile(r"(time|date|_at$|^at$|started|until|since)", re.I)
EPOCHS = (946_684_800, 4_102_444_800)  # 2000 … 2100: a number under a time-like name is a time


def _words(name: str) -> str:
    """'custom_port' / 'customPort' → 'custom port'."""
    return clip(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").strip().lower(), 40)


def plain(value: Any, key: str = "", depth: int = 0) -> str:
    """A JSON value in plain words: yes/no, a time for a timestamp, lists joined."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None:
        return _("none")
    if isinstance(value, (int, float)):
        if _TIME_KEY.search(key) and EPOCHS[0] <= value <= EPOCHS[1]:
            return clock.stamp(float(value))
        return str(value) if isinstance(value, int) else number(value, digits=6)
    if depth >= 2:
        return "…"
    if isinstance(value, dict):
        return ", ".join(
            f"{_words(str(k))} {plain(v, str(k), depth + 1)}" for k, v in list(value.items())[:10]
        )
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v, key, depth + 1) for v in value[:10]) + (
            " …" if len(value) > 10 else ""
        )
    return clip(value, 200)


def _hours(value: Any) -> str | None:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 24 for h in value)
    ):
        return f"{value[0]:02d}:00–{value[1]:02d}:00"
    return None


def schedule_line(schedule: dict[str, Any]) -> str:
    """'day: mission 3, 10:00–18:00 · night: mission 7, 19:00–09:00', or 'off'."""
    if schedule.get("enabled") is False:
        return _("off (runs at any hour)")
    parts = []
    for part in ("day", "night"):
        mission, hours = schedule.get(f"{part}_mission"), _hours(schedule.get(f"{part}_hours"))
        bits = [
            _("mission {n}").format(n=plain(mission)) if mission is not None else "",
            hours or "",
        ]
        if any(bits):
            name = _("day") if part == "day" else _("night")
            parts.append(f"{name}: " + ", ".join(b for b in bits if b))
    rest = {
        k: v
        for k, v in schedule.items()
        if k != "enabled" and not re.fullmatch(r"(day|night)_(mission|hours)", str(k))
    }
    parts += [f"{_words(str(k))} {plain(v, str(k))}" for k, v in list(rest.items())[:6]]
    return " · ".join(parts) or _("on")


def queue_lines(buildings: list[Any]) -> list[str]:
    """One line per building: '  • Academy: level 3 → 8 (building)'."""
    lines = []
    for b in buildings[:QUEUE_SHOWN]:
        if not isinstance(b, dict):
            continue
        now, target = b.get("current_level"), b.get("target_level")
        levels = (
            _("level {a} → {b}").format(a=plain(now), b=plain(target))
            if now is not None and target is not None
            else (_("level {n}").format(n=plain(target)) if target is not None else "")
        )
        status = (
            f" ({clip(b['status'], 40)})"
            if isinstance(b.get("status"), str) and b["status"]
            else ""
        )
        lines.append(f"  • {field(b.get('name', '?'))}: {html.escape(levels)}{html.escape(status)}")
    if len(buildings) > QUEUE_SHOWN:
        lines.append("  " + _("…and {n} more").format(n=number(len(buildings) - QUEUE_SHOWN)))
    return lines


def _moment(ts: float, now: float) -> str:
    """'14:35:02' today, else 'Dec 04 14:35:02' (the zone is said in the heading)."""
    t = clock.at(ts)
    return (
        t.strftime("%H:%M:%S")
        if clock.at(now).date() == t.date()
        else clock.day(ts) + t.strftime(" %H:%M:%S")
    )


def _detail_lines(d: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    schedule = d.get("schedule")
    if isinstance(schedule, dict) and schedule:
        lines.append(
            _("Schedule: {schedule}").format(schedule=html.escape(schedule_line(schedule)))
        )
    city = d.get("city")
    name = city.get("name") if isinstance(city, dict) else city if isinstance(city, str) else None
    buildings = d.get("buildings")
    if isinstance(buildings, list) and buildings:
        lines.append(
            _("Building queue in {city}:").format(city=field(name))
            if name
            else _("Building queue:")
        )
        lines += queue_lines(buildings)
    elif name:
        lines.append(_("City: {city}").format(city=field(name)))
    other = [(k, v) for k, v in d.items() if str(k) not in KNOWN]
    for k, v in other[:OTHER_SHOWN]:
        lines.append(f"{html.escape(_words(str(k)))}: {html.escape(clip(plain(v, str(k)), 300))}")
    if len(other) > OTHER_SHOWN:
        lines.append(_("…and {n} more fields").format(n=number(len(other) - OTHER_SHOWN)))
    return lines


def details_html(
    task: Task, now: float | None = None, history: Sequence[tuple[float, str]] | None = None
) -> str:
    """The `/details <pid>` answer. `history`: the task's status changes telebot saw (oldest
    first); the view's own when not given."""
    now = time.time() if now is None else now
    f = facts_of(task)
    icon = STATE_ICON.get(task.state, "❔")
    lines = [
        f"🔎 <b>{field(task.action)}</b> · pid <code>{task.pid}</code> · {icon} "
        f"{state_word(task.state)}",
        _("Account: {account}").format(account=field(task.account.label, 120)),
        (
            _("Started: {time}").format(time=clock.stamp(task.started))
            if f.dated
            else _("Started: unknown")
        )
        + ("" if f.end is not None or not f.dated else f" · {age_words(f, now)}"),
    ]
    fig = " · ".join(b for b in [figure(f), *future(f, now)] if b)
    bar = progress_bar(f.progress) if f.progress is not None else ""
    if fig and f.end is None:
        lines.append(
            _("Progress: {figure}").format(figure=(bar + " " if bar else "") + html.escape(fig))
        )
    if f.end is not None:  # the figure it ended at is in the end's words
        when = (
            ""
            if f.end.at is None
            else f" · {clock.stamp(f.end.at)}"
            + (" · " + _("ran {age}").format(age=fmt_age(f.ran(now))) if f.dated else "")
        )
        lines.append(_("Ended: {how}").format(how=html.escape(ending_words(f))) + when)
        if bar:  # where it stopped, drawn on a line of its own: not inside the sentence
            lines.append(bar)
        if f.end.cause:
            lines.append(
                _("Cause: {cause}").format(
                    cause=f"<code>{html.escape(clip(f.end.cause, 300))}</code>"
                )
            )
    elif f.state == "dead":
        lines.append(_("Ended: not running; telebot did not see how it ended"))
    elif f.state == "finished":
        lines.append(_("Ended: finished, as its last status says (telebot did not see it end)"))
    if f.doing and f.running:
        lines.append(_("Working on: {what}").format(what=html.escape(clip(f.doing, 120))))
    lines += [_("URL: {link}").format(link=link) for link in url_links(task.urls)]
    lines.append(
        _("Status: {status}").format(status=f"<i>{html.escape(clip(task.status, 1000))}</i>")
    )
    changes: list[str] = []
    seen = list(task.history if history is None else history)
    if len(seen) > 1:
        changes.append(_("Status changes ({zone}):").format(zone=clock.zone_name(now)))
        for at, status in seen[-HISTORY_SHOWN:]:
            changes.append(f"  {_moment(at, now)} <i>{html.escape(clip(status, 120))}</i>")
    fields = _detail_lines(task.details)
    room = TELEGRAM_LIMIT - tg_len("\n".join(lines + changes)) - 40
    while fields and tg_len("\n".join(fields)) > room:  # one message, whatever the details
        fields.pop()
        if fields and fields[-1] != "…":
            fields[-1] = "…"
    return "\n".join(lines + fields + changes)
