"""The alert texts (Telegram HTML). The first line names what happened with one word.

Every piece of ikabot text is clipped and escaped here; each line is self-contained HTML so a
long storm can be split on line boundaries.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

from telebot.alerts.ending import Ending
from telebot.i18n import _, ngettext, number
from telebot.ikabot.statuses import parse_status
from telebot.state import Tracked
from telebot.tasks.doubled import Double
from telebot.tasks.facts import Facts, facts_of, figures, progress_from_row
from telebot.tasks.model import State
from telebot.views import clock, render

ICON = {"finished": "✅", "failed": "❌", "killed": "💀", "died": "💀", "stopped": "🛑"}
MARKS = ("✅", "❌", "💀", "🛑", "⏸", "⚠")  # how an alert starts: tests tell them from answers


@dataclass
class Ended:
    """One ended task, as the alert shows it."""

    row: Tracked
    ending: Ending
    at: float
    offline: bool = False
    note: str = ""  # keep-alive's line (♻️ restarting in N s), plain text

    @property
    def facts(self) -> Facts:
        return row_facts(self.row, replace(self.ending, at=self.at))


def row_facts(row: Tracked, end: Ending | None = None) -> Facts:
    """A tracked task's facts as telebot last saw it (with its end, once it ended): the same
    computation (`facts.figures`) as the task view's, so an alert and /status state one
    figure."""
    state: State = "running" if end is None else "finished" if end.how == "finished" else "dead"
    return figures(
        action=row.action,
        state=state,
        started=row.started,
        progress=progress_from_row(row.progress),
        remaining=row.remaining,
        parsed=parse_status(row.action, row.status),
        end=end,
    )


def _account(row: Tracked) -> str:
    return html.escape(render.clip(row.account.label, 120))


def _action(row: Tracked) -> str:
    return html.escape(render.clip(row.action, 60))


def headline(e: Ended) -> str:
    """'finished: 5 of 5 runs done', 'killed (SIGKILL) during run 5 of 10 (4 done)'."""
    text = render.ending_words(e.facts)
    if e.offline:
        text += _(" while telebot was offline")
    return html.escape(render.clip(text, 300))


def alert_lines(e: Ended) -> list[str]:
    """The full text of one ended task."""
    row, end = e.row, e.ending
    icon = ICON.get(end.how, "💀")
    lines = [
        f"{icon} <b>{_action(row)}</b> {headline(e)}",
        _("account {account}").format(account=_account(row))
        + f" · pid <code>{row.pid}</code> · {render.age_words(e.facts, e.at)}",
    ]
    if end.cause:
        lines.append(
            _("cause: {cause}").format(
                cause=f"<code>{html.escape(render.clip(end.cause, 300))}</code>"
            )
        )
    if e.offline:
        lines.append(_("last seen alive at {time}").format(time=clock.stamp(row.last_seen_alive)))
    if row.status:
        lines.append(
            _("last status: {status}").format(
                status=f"<i>{html.escape(render.clip(row.status, 200))}</i>"
            )
        )
    if row.action == "webServer" and end.how != "finished":
        for url in row.urls[:4]:
            lines.append(
                _("🌐 {url} no longer works").format(url=html.escape(render.clip(url, 200)))
            )
    if e.note:
        lines.append(html.escape(e.note))
    return lines


def storm_lines(ended: list[Ended]) -> list[str]:
    """Several ends at once: one line each, under one heading that counts them by word."""
    counts: dict[str, int] = {}
    for e in ended:
        counts[e.ending.how] = counts.get(e.ending.how, 0) + 1
    if len(counts) == 1:
        (how,) = counts
        head = f"{ICON.get(how, '💀')} <b>{_at_once(how, len(ended))}</b>"
    else:
        parts = ", ".join(render.counted(how, n) for how, n in counts.items())
        icon = "✅" if set(counts) == {"finished"} else "💀"
        head = (
            f"{icon} <b>"
            + ngettext(
                "{n} ikabot task ended at once", "{n} ikabot tasks ended at once", len(ended)
            ).format(n=number(len(ended)))
            + f"</b>: {parts}"
        )
    lines = [head]
    for e in ended:
        how = render.ending_words(e.facts)
        url = ""
        if e.row.action == "webServer" and e.ending.how != "finished" and e.row.urls:
            url = " · " + _("{url} no longer works").format(
                url=html.escape(render.clip(e.row.urls[0], 200))
            )
        cause = (
            f" · <code>{html.escape(render.clip(e.ending.cause, 120))}</code>"
            if e.ending.cause
            else ""
        )
        lines.append(
            f"• {_action(e.row)} <code>{e.row.pid}</code> "
            f"{html.escape(render.clip(how, 200))} · {_account(e.row)}"
            f" · {render.age_words(e.facts, e.at)}{cause}{url}"
            + (f" · {html.escape(e.note)}" if e.note else "")
        )
    return lines


def _at_once(how: str, n: int) -> str:
    """'3 ikabot tasks killed at once' (a storm of one kind)."""
    form = {
        "finished": ngettext(
            "{n} ikabot task finished at once", "{n} ikabot tasks finished at once", n
        ),
        "failed": ngettext("{n} ikabot task failed at once", "{n} ikabot tasks failed at once", n),
        "killed": ngettext("{n} ikabot task killed at once", "{n} ikabot tasks killed at once", n),
        "died": ngettext("{n} ikabot task died at once", "{n} ikabot tasks died at once", n),
        "stopped": ngettext(
            "{n} ikabot task stopped at once", "{n} ikabot tasks stopped at once", n
        ),
    }.get(how, ngettext("{n} ikabot task ended at once", "{n} ikabot tasks ended at once", n))
    return form.format(n=number(n))


def twice_text(double: Double) -> str:
    """'⚠️ autoBarbarians runs twice on player1 s59-en (pids 4764 and 5012): both will
    attack', and what each copy is doing."""
    a = double.account
    pids = [str(t.pid) for t in double.tasks]
    listed = _("{some} and {last}").format(some=", ".join(pids[:-1]), last=pids[-1])
    harm = double.harm_said
    lines = [
        _("⚠️ {action} runs {times} on {account} (pids {pids}): {harm}").format(
            action=f"<b>{html.escape(render.clip(double.action, 60))}</b>",
            times=_("twice") if len(pids) == 2 else _("{n} times").format(n=len(pids)),
            account=html.escape(render.clip(a.compact, 120)),
            pids=listed,
            harm=html.escape(harm),
        )
    ]
    for t in double.tasks:
        said = render.figure(facts_of(t))
        start = (
            _("started {time}").format(time=clock.stamp(t.started))
            if facts_of(t).dated
            else _("start unknown")
        )
        lines.append(
            f"• <code>{t.pid}</code> {start}"
            + (f" · {html.escape(render.clip(said, 120))}" if said else "")
            + (f" · <i>{html.escape(render.clip(t.status, 120))}</i>" if t.status else "")
        )
    lines.append(_("Stop the copy you do not want (🛑 below, or /kill &lt;pid&gt;)."))
    return "\n".join(lines)


def stalled_text(row: Tracked, now: float) -> str:
    fig = render.figure(row_facts(row))
    age = render.fmt_age(now - row.last_change)
    head = (
        _("⏸ {action} stalled at {figure}: no change for {age}").format(
            action=f"<b>{_action(row)}</b>", figure=html.escape(render.clip(fig, 120)), age=age
        )
        if fig
        else _("⏸ {action} stalled: no change for {age}").format(
            action=f"<b>{_action(row)}</b>", age=age
        )
    )
    return "\n".join(
        [
            head,
            _("account {account}").format(account=_account(row)) + f" · pid <code>{row.pid}</code>",
            _("status: {status}").format(
                status=f"<i>{html.escape(render.clip(row.status, 200))}</i>"
            ),
        ]
    )


def reboot_lines(ended: list[Ended], restarting: int, runnable: int) -> list[str]:
    """After a reboot: every task that ended with the machine, by account, in one message;
    `restarting` of them are kept alive (♻️), `runnable` others can be run again (🔁).
    Task lines that do not fit Telegram's limit are counted instead."""
    n = len(ended)
    head = [
        "🔌 <b>"
        + ngettext(
            "The machine restarted: {n} ikabot task ended with it",
            "The machine restarted: {n} ikabot tasks ended with it",
            n,
        ).format(n=number(n))
        + "</b>"
    ]
    foot = []
    if restarting:
        foot.append(
            ngettext(
                "♻️ {n} task kept alive restarts by itself.",
                "♻️ {n} tasks kept alive restart by themselves, one after another.",
                restarting,
            ).format(n=number(restarting))
        )
    if runnable:
        foot.append(
            ngettext(
                "🔁 Run all again starts the {n} other task with recorded answers again.",
                "🔁 Run all again starts the {n} other tasks with recorded "
                "answers again, one after another.",
                runnable,
            ).format(n=number(runnable))
        )
    if n - restarting - runnable > 0:
        rest = n - restarting - runnable
        foot.append(
            ngettext(
                "{n} task is not restarted: start it again in ikabot's menu (/menu).",
                "{n} tasks are not restarted: start them again in ikabot's menu (/menu).",
                rest,
            ).format(n=number(rest))
        )
    by_account: dict[str, list[Ended]] = {}
    for e in ended:
        by_account.setdefault(_account(e.row), []).append(e)
    body: list[tuple[str, int]] = []  # a line, and the room its later edit may take
    for account, members in by_account.items():
        body.append(
            (
                ngettext(
                    "<b>{account}</b>: {n} task", "<b>{account}</b>: {n} tasks", len(members)
                ).format(account=account, n=number(len(members))),
                0,
            )
        )
        body.extend((reboot_line(e), NOTE_ROOM if e.note else 0) for e in members)
    room = render.TELEGRAM_LIMIT - render.tg_len("\n".join(head + foot)) - 80
    shown, used = 0, 0
    while shown < len(body) and used + render.tg_len(body[shown][0]) + body[shown][1] + 1 < room:
        used += render.tg_len(body[shown][0]) + body[shown][1] + 1
        shown += 1
    lines = [line for line, _ in body[:shown]]
    if shown < len(body):
        left = sum(1 for line, _ in body[shown:] if line.startswith("•"))
        lines.append(
            ngettext("… and {n} more task", "… and {n} more tasks", left).format(n=number(left))
        )
    return head + lines + foot


NOTE_ROOM = 240  # a kept task's line in the reboot message: what keep-alive's edit may add


def note_html(note: str, room: int = NOTE_ROOM) -> str:
    """Keep-alive's note as HTML that fits `room` (escaping lengthens it: clipped after)."""
    limit = room
    while render.tg_len(text := html.escape(render.clip(note, limit))) > room and limit > 1:
        limit = limit * 3 // 4
    return text


def reboot_line(e: Ended) -> str:
    """One task of the reboot message; keep-alive's note last, so its edit finds it."""
    how = html.escape(render.clip(render.ending_words(e.facts), 120))
    return f"• {_action(e.row)} <code>{e.row.pid}</code> {how}" + (
        f" · {html.escape(e.note)}" if e.note else ""
    )
