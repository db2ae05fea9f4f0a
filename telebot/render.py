"""Turn task views into text: a terminal table for the CLI, HTML pages for Telegram.

Every piece of ikabot text goes through `html.escape`, and every HTML line is self-contained
(tags open and close on the same line), so pages can be split on line boundaries without ever
cutting a tag in half. Lengths are counted in UTF-16 code units, as Telegram counts them.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from telebot.model import AccountKey, Progress, Task

HOST_TAG_ROOM = 64  # every message may start with its machine's tag line (bot/hostlabel.py)
TELEGRAM_LIMIT = 4096 - HOST_TAG_ROOM  # what telebot's own text may use of Telegram's 4096
STATUS_CLIP = 300  # a runaway status string must not push one task past a whole message
# URLs shown per task, then "+N more": ikabot's webServer has two (local and LAN); a task
# listing 3,000 must not turn /webserver into 40 messages
URLS_SHOWN = 5
URL_CLIP = 200  # one URL: room for any real address, not for a whole message

STATE_ICON = {"running": "🟢", "finished": "✅", "dead": "💀"}


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji can count as two)."""
    return len(text.encode("utf-16-le")) // 2


def fmt_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} m"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def progress_bar(progress: Progress, width: int = 10) -> str:
    filled = round(progress.fraction * width)
    return "█" * filled + "░" * (width - filled)


def fmt_clock(ts: float, now: float) -> str:
    """'14:35' today, else 'Nov 26 14:35'."""
    t = time.localtime(ts)
    if time.localtime(now)[:3] == t[:3]:
        return time.strftime("%H:%M", t)
    return time.strftime("%b %d %H:%M", t)


def progress_text(task: Task, now: float | None = None) -> str:
    """What a person reads as the task's progress: 'Mission 6/10 · ETA 14:35', '5/10
    missions', '3 upgrades left · 2 h 0 m left', 'next run in 2 h 10 m', 'total sent 48,000',
    or '' when nothing is known."""
    now = time.time() if now is None else now
    bits: list[str] = []
    p = task.progress
    parsed = task.parsed
    if p is not None:
        if p.current is not None:
            text = f"Mission {min(p.current, p.total)}/{p.total}"
        else:
            unit = f" {clip(p.unit, 40)}" if p.unit else ""
            text = f"{p.done}/{p.total}{unit}"
        if p.eta is not None:
            text += f" · ETA {fmt_clock(p.eta, now)}"
        bits.append(text)
    elif task.remaining is not None:
        unit = parsed.remaining_unit or ("runs" if task.action == "autoPirate" else "")
        bits.append(f"{task.remaining} {clip(unit, 40)} left" if unit else
                    f"{task.remaining} left")
    if parsed.time_left is not None:
        bits.append(f"{fmt_age(parsed.time_left)} left")
    if parsed.next_at is not None:
        wait = parsed.next_at - now
        bits.append(f"next run in {fmt_age(wait)} ({fmt_clock(parsed.next_at, now)})"
                    if wait >= 60 else "next run due")
    if parsed.total:
        bits.append(clip(parsed.total, 60))
    return " · ".join(bits)


_INVISIBLE = re.compile(  # C0/C1 controls (terminal escapes, bells), bidi overrides, zero-width
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
NAME_CLIP = 60  # an action, a username: room for any real one, not for a whole message


def clip(text: object, limit: int = STATUS_CLIP) -> str:
    """ikabot's text as one short, harmless line: controls and bidi overrides out (an `ESC]0;`
    retitles the player's terminal, U+202E turns a line around), whitespace collapsed, at most
    `limit` characters. Every field from ikabot goes through it before it is escaped."""
    text = " ".join(_INVISIBLE.sub("", str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field(text: object, limit: int = NAME_CLIP) -> str:
    """A field from ikabot, clipped and HTML-escaped."""
    return html.escape(clip(text, limit))


def _grouped(tasks: Iterable[Task]) -> dict[AccountKey, list[Task]]:
    groups: dict[AccountKey, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.account, []).append(task)
    return groups


# ---------------------------------------------------------------- terminal


def status_table(tasks: Sequence[Task], now: float | None = None) -> str:
    """The CLI's `telebot status`: one row a task, columns sized to their content."""
    now = time.time() if now is None else now
    if not tasks:
        return "No ikabot tasks recorded."
    header = ("PID", "ACCOUNT", "TASK", "STATE", "PROGRESS", "AGE", "STATUS")
    rows = []
    for t in tasks:
        bar = ""
        if t.progress is not None:
            bar = f"[{progress_bar(t.progress).replace('█', '#').replace('░', '.')}] "
        rows.append(
            (
                str(t.pid),
                clip(t.account.label, 120),
                clip(t.action, NAME_CLIP),
                t.state,
                clip(bar + progress_text(t), 120),
                fmt_age(now - t.started),
                clip(t.status, 80),
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for r in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------- Telegram HTML


def _account_header(key: AccountKey, continued: bool = False) -> str:
    more = " <i>(continued)</i>" if continued else ""
    email = f" · {field(key.email, 120)}" if key.email else ""
    return (
        f"👤 <b>{field(key.username)}</b> · world {field(key.world, 20)} · "
        f"{field(key.server, 20)}{email}{more}"
    )


def task_line(task: Task, now: float, *, with_status: bool = True) -> str:
    icon = STATE_ICON.get(task.state, "❔")
    parts = [f"{icon} <b>{html.escape(clip(task.action, 60))}</b> <code>{task.pid}</code>"]
    said = progress_text(task, now)
    if task.progress is not None:
        parts.append(f"{progress_bar(task.progress)} {html.escape(said)}")
    elif said:
        parts.append(html.escape(said))
    parts.append(fmt_age(now - task.started))
    line = " · ".join(parts)
    if task.status and with_status:
        line += f"\n    <i>{html.escape(clip(task.status))}</i>"
    return line


@dataclass
class StatusPage:
    """One message of the `/status` answer, and the tasks it shows (for their buttons)."""

    text: str
    tasks: list[Task]
    stopped: int = 0  # on the last page: how many stopped tasks the summary counts


def _stopped_summary(stopped: Sequence[Task]) -> list[str]:
    """Stopped tasks summed up per action: months of ikabot leave thousands of entries."""
    by_action: dict[str, dict[str, int]] = {}
    for (action, state), n in Counter((t.action, t.state) for t in stopped).items():
        by_action.setdefault(action, {})[state] = n
    ranked = sorted(by_action.items(), key=lambda kv: -sum(kv[1].values()))
    parts = []
    for action, counts in ranked[:12]:
        icons = " ".join(f"{STATE_ICON.get(state, '❔')}{n}" for state, n in sorted(counts.items()))
        parts.append(f"{html.escape(clip(action, 40))} {icons}")
    if len(ranked) > 12:
        parts.append(f"…and {len(ranked) - 12} more kinds")
    return [f"⏹ <b>{len(stopped)} not running</b> (still in ikabot's list): " + " · ".join(parts)]


def status_view(tasks: Sequence[Task], now: float | None = None,
                limit: int = TELEGRAM_LIMIT, warnings: Sequence[str] = ()) -> list[StatusPage]:
    """The `/status` answer: running tasks in full, grouped by account, paged to fit
    Telegram's limit; stopped ones summed up per action (a button lists them).

    A page that starts in the middle of an account repeats its header, so every page
    reads on its own.
    """
    now = time.time() if now is None else now
    if not tasks:
        return [StatusPage("\n".join(["No ikabot tasks are recorded. Start one from ikabot's "
                                      "menu.", *warning_lines(warnings)]), [])]
    running = [t for t in tasks if t.state == "running"]
    stopped = [t for t in tasks if t.state != "running"]
    title = "\n".join([f"<b>ikabot tasks</b>: {len(running)} running, {len(stopped)} stopped",
                       *warning_lines(warnings)])
    pages: list[tuple[list[str], list[Task]]] = [([title], [])]
    size = tg_len(title)
    for key, group in _grouped(running).items():
        header = _account_header(key)
        first = True
        for task in group:
            entry = task_line(task, now)
            block = [header, entry] if first else [entry]
            block_len = sum(tg_len(x) + 1 for x in block)
            if size + block_len > limit:
                pages.append(([], []))
                size = 0
                if not first:
                    block = [_account_header(key, continued=True), entry]
                    block_len = sum(tg_len(x) + 1 for x in block)
            pages[-1][0].extend(block)
            pages[-1][1].append(task)
            size += block_len
            first = False
    if stopped:
        summary = _stopped_summary(stopped)
        if size + sum(tg_len(x) + 1 for x in summary) > limit:
            pages.append(([], []))
        pages[-1][0].extend(summary)
    out = [StatusPage("\n".join(lines), shown) for lines, shown in pages if lines]
    out[-1].stopped = len(stopped)
    return out


def status_pages(tasks: Sequence[Task], now: float | None = None,
                 limit: int = TELEGRAM_LIMIT) -> list[str]:
    return [p.text for p in status_view(tasks, now, limit)]


STOPPED_PER_PAGE = 15  # one line each, every field clipped: always under 4096


def stopped_page(tasks: Sequence[Task], page: int, now: float | None = None) -> StatusPage:
    """One page of the stopped tasks, newest first (the list behind /status's button)."""
    now = time.time() if now is None else now
    stopped = sorted((t for t in tasks if t.state != "running"), key=lambda t: -t.started)
    pages = max(1, -(-len(stopped) // STOPPED_PER_PAGE))
    page = max(0, min(page, pages - 1))
    shown = stopped[page * STOPPED_PER_PAGE:(page + 1) * STOPPED_PER_PAGE]
    lines = [f"⏹ <b>Not running</b>: {len(stopped)} tasks, page {page + 1}/{pages}"]
    for t in shown:
        lines.append(f"{task_line(t, now, with_status=False)} · "
                     f"{html.escape(clip(t.account.label, 80))}")
    if not shown:
        lines.append("None: every recorded task is running.")
    return StatusPage("\n".join(lines), shown, len(stopped))


def url_links(urls: Sequence[str]) -> list[str]:
    """Tappable links for the first URLS_SHOWN URLs, and a "+N more" line for the rest (a
    URL too long to be a real address is shown clipped, not linked)."""
    out = [f'<a href="{html.escape(u, quote=True)}">{html.escape(u)}</a>'
           if len(u) <= URL_CLIP else html.escape(clip(u, URL_CLIP)) for u in urls[:URLS_SHOWN]]
    if len(urls) > URLS_SHOWN:
        out.append(f"+{len(urls) - URLS_SHOWN} more")
    return out


def webserver_html(tasks: Sequence[Task], now: float | None = None) -> str:
    """The `/webserver` answer: tappable URLs of running web servers, and dead ones noted."""
    now = time.time() if now is None else now
    servers = [t for t in tasks if t.action == "webServer"]
    running = [t for t in servers if t.state == "running"]
    lines: list[str] = []
    if not running:
        lines.append("No ikabot web server is running. Start one from ikabot's menu (webServer).")
    for t in running:
        lines.append(
            f"🌐 <b>{field(t.account.label, 120)}</b> · pid <code>{t.pid}</code> · "
            f"up {fmt_age(now - t.started)}"
        )
        if not t.urls:
            lines.append(f"    (no URL known yet; status: <i>{html.escape(clip(t.status))}</i>)")
        lines += [f"    {u}" for u in url_links(t.urls)]
    for t in servers:
        if t.state != "running":
            shown = [html.escape(clip(u, URL_CLIP)) for u in t.urls[:URLS_SHOWN]]
            more = len(t.urls) - len(shown)
            urls = ", ".join(shown + ([f"+{more} more"] if more > 0 else [])) or "its URL"
            lines.append(
                f"⚠️ webServer pid <code>{t.pid}</code> of {field(t.account.label, 120)} is "
                f"recorded but its process is dead: {urls} no longer works."
            )
    return "\n".join(lines)


def _details_specific(task: Task) -> list[str]:
    d = task.details
    lines: list[str] = []
    missions = d.get("missions")
    if isinstance(missions, dict):
        bits = [f"{k} {html.escape(str(missions[k]))}"
                for k in ("completed", "total", "remaining") if k in missions]
        lines.append("Missions: " + ", ".join(bits))
    schedule = d.get("schedule")
    if isinstance(schedule, dict) and schedule:
        bits = [f"{html.escape(str(k))}={html.escape(str(v))}" for k, v in schedule.items()]
        lines.append("Schedule: " + clip(", ".join(bits), 600))
    city = d.get("city")
    if isinstance(city, dict) and city.get("name"):
        lines.append(f"City: {field(city['name'])}")
    buildings = d.get("buildings")
    if isinstance(buildings, list) and buildings:
        lines.append("Building queue:")
        for b in buildings[:30]:
            if isinstance(b, dict):
                lines.append(
                    f"  • {html.escape(clip(str(b.get('name', '?')), 60))} "
                    f"{html.escape(str(b.get('current_level', '?')))} → "
                    f"{html.escape(str(b.get('target_level', '?')))} "
                    f"({html.escape(clip(str(b.get('status', '')), 40))})"
                )
        if len(buildings) > 30:
            lines.append(f"  …and {len(buildings) - 30} more")
    return lines


def details_html(task: Task, now: float | None = None) -> str:
    """The `/details <pid>` answer: everything telebot knows about one task."""
    now = time.time() if now is None else now
    icon = STATE_ICON.get(task.state, "❔")
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(task.started))
    lines = [
        f"🔎 <b>{field(task.action)}</b> · pid <code>{task.pid}</code> · {icon} "
        f"{task.state}",
        f"Account: {field(task.account.label, 120)}",
        f"Started: {started} ({fmt_age(now - task.started)} ago)",
    ]
    said = progress_text(task, now)
    if task.progress is not None:
        lines.append(f"Progress: {progress_bar(task.progress)} {html.escape(said)}")
    elif said:
        lines.append(f"Progress: {html.escape(said)}")
    p = task.parsed
    if p.city:
        building = f" · {field(p.building)}" if p.building else ""
        level = f" → level {p.level}" if p.level is not None else ""
        lines.append(f"Construction: {field(p.city)}{building}{level}")
    if p.remaining_time or p.total_time:
        lines.append(f"Time left: {html.escape(p.remaining_time or '?')}"
                     f" (total {html.escape(p.total_time or '?')})")
    lines += [f"URL: {u}" for u in url_links(task.urls)]
    lines.append(f"Status: <i>{html.escape(clip(task.status, 1000))}</i>")
    if task.ended:
        how = task.ended.get("how") or "ended"
        extra = task.ended.get("signal") or task.ended.get("cause") or ""
        lines.append(f"Ended: {html.escape(str(how))}"
                     + (f" ({html.escape(clip(str(extra), 300))})" if extra else ""))
    if len(task.history) > 1:
        lines.append("Recent status changes:")
        for at, status in task.history[-5:]:
            lines.append(f"  {time.strftime('%H:%M:%S', time.localtime(at))} "
                         f"<i>{html.escape(clip(status, 120))}</i>")
    lines.extend(_details_specific(task))
    if task.details:
        raw = _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}",  # shown, not obeyed
                             json.dumps(task.details, indent=1, ensure_ascii=False, default=str))
        budget = TELEGRAM_LIMIT - tg_len("\n".join(lines)) - 20
        escaped = html.escape(raw)
        while tg_len(escaped) > budget and raw:
            raw = raw[: int(len(raw) * 0.9)]
            escaped = html.escape(raw) + "\n…"
        if raw and budget > 200:
            lines.append(f"<pre>{escaped}</pre>")
    return "\n".join(lines)


def report_html(tasks: Sequence[Task], now: float | None = None) -> str:
    """The scheduled progress report: one line a task that has something to show."""
    now = time.time() if now is None else now
    lines = ["📊 <b>Progress report</b>"]
    for t in tasks:
        if t.state != "running":
            continue
        fig = html.escape(progress_text(t) or clip(t.status, 80))
        bar = f"{progress_bar(t.progress)} " if t.progress is not None else ""
        lines.append(
            f"{STATE_ICON['running']} {field(t.account.username)} · "
            f"<b>{field(t.action)}</b> · {bar}{fig}"
        )
    stopped = [t for t in tasks if t.state != "running"]
    if stopped:
        lines.append(f"{len(stopped)} task(s) not running; /status for all.")
    return "\n".join(lines)


# ---------------------------------------------------------------- utilities


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split on line boundaries into chunks of at most `limit` (UTF-16 units).

    Every line is self-contained HTML, so a chunk of whole lines is valid HTML. A single line
    longer than the limit (callers keep lines short, see `clip`; this is the last resort) loses
    its tags and is cut between characters, never inside an entity such as `&amp;`. No chunk
    is blank: a text with nothing visible gives no chunk at all.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        if tg_len(line) > limit:
            line = html.escape(html_to_text(line), quote=False)
        while tg_len(line) > limit:
            cut = limit
            while tg_len(line[:cut]) > limit:
                cut -= 1
            amp = line.rfind("&", max(0, cut - 8), cut)
            if amp >= 0 and ";" not in line[amp:cut]:
                cut = amp  # `&lt;` and friends stay whole
            if current:
                chunks.append("\n".join(current))
                current, size = [], 0
            chunks.append(line[:cut])
            line = line[cut:]
        extra = tg_len(line) + (1 if current else 0)
        if current and size + extra > limit:
            chunks.append("\n".join(current))
            current, size = [], 0
            extra = tg_len(line)
        current.append(line)
        size += extra
    if current:
        chunks.append("\n".join(current))
    # Telegram refuses a message with nothing visible ("message text is empty"): a chunk of
    # whitespace alone (a run of `\r` cut out of a long line) is dropped; it showed nothing
    return [c for c in chunks if html_to_text(c).strip()]


_A_TAG = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.S)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def html_to_text(markup: str) -> str:
    """Telegram HTML as a person sees it, for the terminal (demo, logs)."""

    def link(m: re.Match[str]) -> str:
        href, label = html.unescape(m.group(1)), html.unescape(_TAG.sub("", m.group(2)))
        return label if label == href else f"{label} ({href})"

    text = _A_TAG.sub(lambda m: html.escape(link(m), quote=False), markup)
    return html.unescape(_TAG.sub("", text))


def as_json(tasks: Sequence[Task]) -> dict[str, Any]:
    """`telebot status --json`: the contract's shape (DESIGN.md section 2), strict JSON: a NaN
    or Infinity from ikabot's details (Python's json writes them) becomes null."""
    return _finite({"processes": [t.as_json() for t in tasks]})


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def warning_lines(warnings: Sequence[str], limit: int = 3) -> list[str]:
    """What could not be read, for /status: the player should know the list is partial."""
    lines = [f"⚠️ {html.escape(clip(w, 200))}" for w in warnings[:limit]]
    if len(warnings) > limit:
        lines.append(f"⚠️ and {len(warnings) - limit} more (telebot status shows them all)")
    return lines
