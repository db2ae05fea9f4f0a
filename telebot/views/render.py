"""Turn task views into text: a terminal table for the CLI, HTML pages for Telegram.

Every piece of ikabot text goes through `html.escape`, and every HTML line is self-contained
(tags open and close on the same line), so pages can be split on line boundaries without ever
cutting a tag in half. Lengths are counted in UTF-16 code units, as Telegram counts them.
"""

from __future__ import annotations

import html
import ipaddress
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from telebot.i18n import N_, _, ngettext, number, pgettext
from telebot.tasks.doubled import doubled_pids
from telebot.tasks.facts import Facts, How, facts_of, task_json
from telebot.tasks.model import AccountKey, Progress, Task
from telebot.views import clock

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
    """'42 s', '5 m', '3 h 12 m', '2 d 4 h' (the units as the language writes them)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return _("{s} s").format(s=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return _("{m} m").format(m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("{h} h {m} m").format(h=hours, m=minutes)
    days, hours = divmod(hours, 24)
    return _("{d} d {h} h").format(d=number(days), h=hours)


def progress_bar(progress: Progress, width: int = 10) -> str:
    filled = round(progress.fraction * width)
    return "█" * filled + "░" * (width - filled)


def fmt_clock(ts: float, now: float) -> str:
    """'14:35 CET' today, else 'Nov 26 14:35 CET', in TELEBOT_TZ (`clock`)."""
    return clock.clock(ts, now)


# ---------------------------------------------------------------- a task's facts, in words
# Every surface says a task's figures with these functions, from its `Facts`: the alert, the
# /status line, /details, the report and `telebot status` cannot word them differently.


def _unit(n: int, unit: str) -> str:
    """A unit for `n` of it: telebot's own units in the language ('1 run', '2 ejecuciones'), a
    unit a task named itself (the producer API's `progress.unit`) as it wrote it."""
    unit = clip(unit, 40)
    known = {
        "runs": lambda: ngettext("run", "runs", n),
        "run": lambda: ngettext("run", "runs", n),
        "missions": lambda: ngettext("mission", "missions", n),
        "levels": lambda: ngettext("level", "levels", n),
        "upgrades": lambda: ngettext("upgrade", "upgrades", n),
        "activations": lambda: ngettext("activation", "activations", n),
        "experiments": lambda: ngettext("experiment", "experiments", n),
    }.get(unit.lower())
    if known is not None:
        return known()
    return unit[:-1] if n == 1 and unit.endswith("s") and len(unit) > 1 else unit


def figure(f: Facts) -> str:
    """The progress figure: 'run 5 of 10 (4 done)' while a run is under way, '5 of 5 runs
    done', '2 of 3 levels done', '5 runs left, this one included', '3 upgrades left', or ''."""
    p = f.progress
    if p is not None:
        if p.current is not None:
            return ngettext(
                "run {current} of {total} ({done} done)",
                "run {current} of {total} ({done} done)",
                p.done,
            ).format(
                current=number(min(p.current, p.total)), total=number(p.total), done=number(p.done)
            )
        unit = _unit(p.total, p.unit)
        if unit:
            return _("{done} of {total} {unit} done").format(
                done=number(p.done), total=number(p.total), unit=unit
            )
        return _("{done} of {total} done").format(done=number(p.done), total=number(p.total))
    if f.left is None or f.state == "finished":
        return ""
    unit = _unit(f.left, f.left_unit)
    text = (
        _("{n} {unit} left").format(n=number(f.left), unit=unit)
        if unit
        else _("{n} left").format(n=number(f.left))
    )
    if f.running and f.left_unit == "runs":
        text += _(", this one included")  # ikabot's `N more runs` counts the run under way
    return text


def future(f: Facts, now: float) -> list[str]:
    """What a running task says of what comes: 'ETA 14:35 CET', '42 m left', 'next run in
    2 h 10 m (05:12 CET)'; and a running total it states ('total sent 48,000')."""
    bits: list[str] = []
    if f.eta is not None:
        bits.append(_("ETA {time}").format(time=fmt_clock(f.eta, now)))
    if f.time_left is not None:
        bits.append(_("{age} left").format(age=fmt_age(f.time_left)))
    if f.next_at is not None:
        wait = f.next_at - now
        bits.append(
            _("next run in {age} ({time})").format(
                age=fmt_age(wait), time=fmt_clock(f.next_at, now)
            )
            if wait >= 60
            else _("next run due")
        )
    if f.total:
        bits.append(clip(f.total, 60))
    return bits


def ending_words(f: Facts) -> str:
    """How it ended, with the figure it ended at: 'finished: 5 of 5 runs done', 'killed
    (SIGKILL) during run 5 of 10 (4 done)', 'failed with 2 of 3 levels done', 'died with 5
    runs left'; '' when telebot did not see it end."""
    e = f.end
    if e is None:
        return ""
    fig = figure(f)
    if e.how is How.FINISHED:
        if e.probably:
            return (
                _("probably finished: {figure} (no error logged; how it exited is unknown)").format(
                    figure=fig
                )
                if fig
                else _("probably finished (no error logged; how it exited is unknown)")
            )
        return _("finished: {figure}").format(figure=fig) if fig else how_word(How.FINISHED)
    head = (
        _("killed ({signal})").format(signal=e.signal)
        if e.how is How.KILLED and e.signal
        else _("stopped from Telegram")
        if e.how is How.STOPPED
        else how_word(e.how)
    )
    if fig:
        under_way = f.progress is not None and f.progress.current is not None
        return (_("{how} during {figure}") if under_way else _("{how} with {figure}")).format(
            how=head, figure=fig
        )
    return _("{how} at {doing}").format(how=head, doing=clip(f.doing, 120)) if f.doing else head


def how_word(how: str) -> str:
    """The word of an alert's first line ('finished', 'failed', 'killed', 'died', 'stopped',
    'stalled') in the language."""
    return {
        "finished": _("finished"),
        "failed": _("failed"),
        "killed": _("killed"),
        "died": _("died"),
        "stopped": _("stopped"),
        "stalled": _("stalled"),
    }.get(str(how), str(how))


def how_label(how: str) -> str:
    """The same word as a label beside a colour or a count ('terminada', not 'terminó')."""
    return {
        "finished": pgettext("label", "finished"),
        "failed": pgettext("label", "failed"),
        "killed": pgettext("label", "killed"),
        "died": pgettext("label", "died"),
        "stopped": pgettext("label", "stopped"),
        "stalled": pgettext("label", "stalled"),
        "running": pgettext("label", "running"),
    }.get(str(how), str(how))


def counted(outcome: str, n: int) -> str:
    """'11 finished', '2 killed', '1 still running': a count of one way of ending."""
    form = {
        "finished": ngettext("{n} finished", "{n} finished", n),
        "failed": ngettext("{n} failed", "{n} failed", n),
        "killed": ngettext("{n} killed", "{n} killed", n),
        "died": ngettext("{n} died", "{n} died", n),
        "stopped": ngettext("{n} stopped", "{n} stopped", n),
        "stalled": ngettext("{n} stalled", "{n} stalled", n),
        "running": ngettext("{n} still running", "{n} still running", n),
    }[outcome]
    return form.format(n=number(n))


def age_words(f: Facts, now: float) -> str:
    """'up 3 h 12 m' (running), 'ran 2 h 0 m' (ended), 'started 3 d 1 h ago'; 'start
    unknown' for an undated entry (never an age counted from 1970)."""
    if not f.dated:
        return _("start unknown")
    if f.running:
        return _("up {age}").format(age=fmt_age(f.ran(now)))
    if f.end is not None and f.end.at is not None:
        return _("ran {age}").format(age=fmt_age(f.ran(now)))
    return _("started {age} ago").format(age=fmt_age(now - f.started))


def said(task: Task, now: float) -> str:
    """A task's figures in one line: how it ended (when telebot saw it end) or its progress
    and what comes ('run 6 of 10 (5 done) · ETA 14:35 CET', '3 upgrades left · 2 h 0 m
    left', 'next run in 2 h 10 m (05:12 CET)'), the same words in /status, the report and
    `telebot status`."""
    f = facts_of(task)
    if f.end is not None:
        return ending_words(f)
    return " · ".join(b for b in [figure(f), *future(f, now)] if b)


_INVISIBLE = re.compile(  # C0/C1 controls (terminal escapes, bells), bidi overrides, zero-width
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
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
        return _("No ikabot tasks recorded.")
    header = ("PID", _("ACCOUNT"), _("TASK"), _("STATE"), _("PROGRESS"), _("AGE"), _("STATUS"))
    twice = doubled_pids(tasks)
    rows = []
    for t in tasks:
        f = facts_of(t)
        bar = ""
        if f.progress is not None:
            bar = f"[{progress_bar(f.progress).replace('█', '#').replace('░', '.')}] "
        mark = _(" · runs twice: {harm}").format(harm=twice[t.pid].harm) if t.pid in twice else ""
        rows.append(
            (
                str(t.pid),
                clip(t.account.label, 120),
                clip(t.action, NAME_CLIP),
                state_word(t.state),
                clip(bar + said(t, now) + mark, 160),
                age_words(f, now),
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


def state_word(state: str) -> str:
    """'running', 'finished', 'dead': a task's state in the language (the JSON keeps these)."""
    return {
        "running": pgettext("state", "running"),
        "finished": pgettext("state", "finished"),
        "dead": pgettext("state", "dead"),
    }.get(state, state)


def _account_header(key: AccountKey, continued: bool = False, *, email: bool = True) -> str:
    """'👤 player1 · world 59 · en · e-mail': the e-mail only in a private chat (a group's
    members need not learn the login)."""
    more = " <i>" + _("(continued)") + "</i>" if continued else ""
    mail = f" · {field(key.email, 120)}" if key.email and email else ""
    world = _("world {world}").format(world=field(key.world_number, 20))
    return f"👤 <b>{field(key.username)}</b> · {world} · {field(key.server, 20)}{mail}{more}"


TWICE_MARK = N_("⚠️ runs twice")


def task_line(task: Task, now: float, *, with_status: bool = True, twice: bool = False) -> str:
    f = facts_of(task)
    icon = STATE_ICON.get(task.state, "❔")
    parts = [f"{icon} <b>{html.escape(clip(task.action, 60))}</b> <code>{task.pid}</code>"]
    words = said(task, now)
    if f.progress is not None:
        parts.append(f"{progress_bar(f.progress)} {html.escape(words)}")
    elif words:
        parts.append(html.escape(words))
    parts.append(age_words(f, now))
    if twice:
        parts.append(_(TWICE_MARK))
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
        parts.append(_("…and {n} more kinds").format(n=number(len(ranked) - 12)))
    head = ngettext(
        "⏹ <b>{n} not running</b> (still in ikabot's list): ",
        "⏹ <b>{n} not running</b> (still in ikabot's list): ",
        len(stopped),
    )
    return [head.format(n=number(len(stopped))) + " · ".join(parts)]


def status_view(
    tasks: Sequence[Task],
    now: float | None = None,
    limit: int = TELEGRAM_LIMIT,
    warnings: Sequence[str] = (),
    *,
    email: bool = True,
) -> list[StatusPage]:
    """The `/status` answer: running tasks in full, grouped by account, paged to fit
    Telegram's limit; stopped ones summed up per action (a button lists them). `email`:
    show each account's login (not in a group chat).

    A page that starts in the middle of an account repeats its header, so every page
    reads on its own.
    """
    now = time.time() if now is None else now
    if not tasks:
        return [
            StatusPage(
                "\n".join(
                    [
                        _("No ikabot tasks are recorded. Start one from ikabot's menu."),
                        *warning_lines(warnings),
                    ]
                ),
                [],
            )
        ]
    running = [t for t in tasks if t.state == "running"]
    stopped = [t for t in tasks if t.state != "running"]
    twice = doubled_pids(running)
    title = "\n".join(
        [
            _("<b>ikabot tasks</b>: {running} running, {stopped} stopped").format(
                running=number(len(running)), stopped=number(len(stopped))
            ),
            *warning_lines(warnings),
        ]
    )
    pages: list[tuple[list[str], list[Task]]] = [([title], [])]
    size = tg_len(title)
    for key, group in _grouped(running).items():
        header = _account_header(key, email=email)
        first = True
        for task in group:
            entry = task_line(task, now, twice=task.pid in twice)
            block = [header, entry] if first else [entry]
            block_len = sum(tg_len(x) + 1 for x in block)
            if size + block_len > limit:
                pages.append(([], []))
                size = 0
                if not first:
                    block = [_account_header(key, continued=True, email=email), entry]
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


def status_pages(
    tasks: Sequence[Task], now: float | None = None, limit: int = TELEGRAM_LIMIT
) -> list[str]:
    return [p.text for p in status_view(tasks, now, limit)]


STOPPED_PER_PAGE = 15  # one line each, every field clipped: always under 4096


def stopped_page(tasks: Sequence[Task], page: int, now: float | None = None) -> StatusPage:
    """One page of the stopped tasks, newest first (the list behind /status's button)."""
    now = time.time() if now is None else now
    stopped = sorted((t for t in tasks if t.state != "running"), key=lambda t: -t.started)
    pages = max(1, -(-len(stopped) // STOPPED_PER_PAGE))
    page = max(0, min(page, pages - 1))
    shown = stopped[page * STOPPED_PER_PAGE : (page + 1) * STOPPED_PER_PAGE]
    lines = [
        ngettext(
            "⏹ <b>Not running</b>: {n} task, page {page}/{pages}",
            "⏹ <b>Not running</b>: {n} tasks, page {page}/{pages}",
            len(stopped),
        ).format(n=number(len(stopped)), page=page + 1, pages=pages)
    ]
    for t in shown:
        lines.append(
            f"{task_line(t, now, with_status=False)} · {html.escape(clip(t.account.label, 80))}"
        )
    if not shown:
        lines.append(_("None: every recorded task is running."))
    return StatusPage("\n".join(lines), shown, len(stopped))


def url_links(urls: Sequence[str], note: Callable[[str], str | None] = lambda _: None) -> list[str]:
    """Tappable links for the first URLS_SHOWN URLs, and a "+N more" line for the rest (a
    URL too long to be a real address is shown clipped, not linked). `note`: a few words
    after a URL (why it may not open from the player's phone), or None."""
    out = []
    for u in urls[:URLS_SHOWN]:
        link = (
            f'<a href="{html.escape(u, quote=True)}">{html.escape(u)}</a>'
            if len(u) <= URL_CLIP
            else html.escape(clip(u, URL_CLIP))
        )
        why = note(u)
        out.append(link + (f" <i>({html.escape(why)})</i>" if why else ""))
    if len(urls) > URLS_SHOWN:
        out.append(_("+{n} more").format(n=number(len(urls) - URLS_SHOWN)))
    return out


def _local_only(url: str) -> str | None:
    """Why a URL cannot be opened from the player's phone, if it cannot: a loopback address
    works only on the machine itself, a container's bridge address only from its host."""
    try:
        host = urlsplit(url).hostname or ""
        ip = ipaddress.ip_address(host)
    except ValueError:
        return _("only on that machine") if host == "localhost" else None
    if ip.is_loopback:
        return _("only on that machine")
    if ip in _DOCKER_NETS:
        return _("a container's address: only from the machine running it")
    return None


_DOCKER_NETS = ipaddress.ip_network("172.16.0.0/12")  # Docker's bridge networks


def tunnel_hint(url: str) -> str:
    """How to open `url`, which works only on that machine, from elsewhere: the SSH tunnel
    with its real address and port (the same port here, unless it is a privileged one)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    here = port if port >= 1024 else 8080  # ssh -L binds a port below 1024 only as root
    there = f"{parts.scheme}://127.0.0.1:{here}{parts.path or '/'}"
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host  # an IPv6 address, as ssh -L writes it
    return _(
        "💡 Away from that machine, open {url} through an SSH tunnel (ssh -L "
        "{here}:{host}:{port} you@host, then {there}), or start the web server with its "
        "LAN address."
    ).format(
        url=html.escape(url), here=here, host=html.escape(host), port=port, there=html.escape(there)
    )


def webserver_html(tasks: Sequence[Task], now: float | None = None) -> str:
    """The `/webserver` answer: tappable URLs of running web servers, those that are gone
    summed up in one line, and a hint where a URL works only on the machine itself."""
    now = time.time() if now is None else now
    servers = [t for t in tasks if t.action == "webServer"]
    running = [t for t in servers if t.state == "running"]
    lines: list[str] = []
    if not running:
        lines.append(
            _("No ikabot web server is running. Start one from ikabot's menu (webServer).")
        )
    hints: list[str] = []  # the URLs that work only on that machine
    for t in running:
        lines.append(
            f"🌐 <b>{field(t.account.label, 120)}</b> · pid <code>{t.pid}</code> · "
            f"{age_words(facts_of(t), now)}"
        )
        if not t.urls:
            lines.append(
                "    "
                + _("(no URL known yet; status: <i>{status}</i>)").format(
                    status=html.escape(clip(t.status))
                )
            )
        notes = {u: _local_only(u) for u in t.urls[:URLS_SHOWN]}
        hints += [u for u, why in notes.items() if why]
        lines += [f"    {link}" for link in url_links(t.urls, notes.get)]
    if hints:
        lines.append(tunnel_hint(hints[0]))
    gone = [t for t in servers if t.state != "running"]
    if gone:
        pids = ", ".join(str(t.pid) for t in gone[:10]) + (" …" if len(gone) > 10 else "")
        lines.append(
            ngettext(
                "⚠️ {n} web server recorded but gone (pid {pids}): its URL no longer works.",
                "⚠️ {n} web servers recorded but gone (pid {pids}): their URLs no longer work.",
                len(gone),
            ).format(n=number(len(gone)), pids=pids)
        )
    return "\n".join(lines)


def report_html(tasks: Sequence[Task], now: float | None = None) -> str:
    """The scheduled progress report: one line a task that has something to show."""
    now = time.time() if now is None else now
    lines = [_("📊 <b>Progress report</b>")]
    for t in tasks:
        if t.state != "running":
            continue
        f = facts_of(t)
        fig = html.escape(said(t, now) or clip(t.status, 80))
        bar = f"{progress_bar(f.progress)} " if f.progress is not None else ""
        lines.append(
            f"{STATE_ICON['running']} {field(t.account.username)} · "
            f"<b>{field(t.action)}</b> · {bar}{fig}"
        )
    stopped = [t for t in tasks if t.state != "running"]
    if stopped:
        lines.append(
            ngettext(
                "{n} task not running; /status for all.",
                "{n} tasks not running; /status for all.",
                len(stopped),
            ).format(n=number(len(stopped)))
        )
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
    """`telebot status --json`: the contract's shape (docs/contract.md section 2), strict JSON:
    a NaN or Infinity from ikabot's details (Python's json writes them) becomes null."""
    return {"processes": [_finite(task_json(t)) for t in tasks]}


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
        lines.append(
            _("⚠️ and {n} more (telebot status shows them all)").format(
                n=number(len(warnings) - limit)
            )
        )
    return lines
