"""/timeline's picture: one row per task over the last hours, coloured by how it ended.

Drawn only from what telebot itself saw (its `tracked` rows: when a task started, when telebot
first saw it, when it last saw it alive, when and how it ended, a stall it noticed), never from
anything else. A row is `action pid`, grouped under its account; the bar is the time the task
ran (the part before telebot first saw it drawn faint: ikabot's start date, not a sighting);
its colour says how it ended (the six words of the alerts), or that it still runs. A task
started again by 🔁 Run again (or kept alive) is linked to the task it replaced by an arrow.

Readable on a phone at 200 tasks: at most `MAX_ROWS` rows are drawn, the most recent ones
(still running first, then by when they ended); the rest are counted in a "+N more" line
under the picture and in the caption, never silently dropped.

matplotlib (Agg, no display) is imported on the first picture only, and `png` is plain
blocking work: the bot calls it through `asyncio.to_thread`. It uses matplotlib's object API
(a `Figure` of its own, no pyplot state), so pictures drawn in threads do not share anything.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from telebot.i18n import _, ngettext, number
from telebot.views import clock
from telebot.views.render import counted, how_label

MAX_HOURS = 168
DEFAULT_HOURS = 24
# task rows drawn, the rest are "+N more": Telegram shows a photo at most 2560 pixels tall,
# and 30 rows of 9-point labels at 170 dpi fit in 1900
MAX_ROWS = 30
CAPTION_LIMIT = 1024  # Telegram's limit on a photo's caption

# how a row ended (or that it runs): one colour each, told apart also in grey
# (Okabe-Ito's colour-blind-safe palette)
COLOURS = {
    "running": "#56B4E9",
    "finished": "#009E73",
    "failed": "#E69F00",
    "killed": "#D55E00",
    "died": "#444444",  # not black: the labels are
    "stopped": "#CC79A7",
    "stalled": "#F0E442",
}
OUTCOMES = tuple(COLOURS)

Key = tuple[int, int]  # (pid, start ticks): one task


@dataclass(frozen=True)
class Span:
    """One task as telebot saw it: what the picture needs and nothing more."""

    key: Key
    account: str
    action: str
    start: float  # ikabot's start date (or when telebot first saw it, when undated)
    seen: float  # when telebot first saw it
    end: float  # when it ended, or when telebot last saw it alive
    outcome: str  # one of OUTCOMES
    replaces: Key | None = None  # the task it was started again for, when known

    @property
    def pid(self) -> int:
        return self.key[0]

    @property
    def label(self) -> str:
        return f"{self.action} {self.pid}"


@dataclass(frozen=True)
class Picture:
    """What a /timeline answer is: the PNG, its caption, and what it left out."""

    png: bytes
    caption: str
    drawn: int
    more: int


def chosen(spans: Sequence[Span], limit: int = MAX_ROWS) -> list[Span]:
    """The rows drawn: the most recent `limit` — tasks still running first, but at most three
    quarters of the rows, so the latest ends (what a timeline is for) always show — grouped by
    account (the account with the most recent row first), each account's rows in the order
    they started."""
    live = sorted((s for s in spans if s.outcome in ("running", "stalled")), key=lambda s: -s.start)
    ended = sorted(
        (s for s in spans if s.outcome not in ("running", "stalled")),
        key=lambda s: (-s.end, -s.start),
    )
    take_live = min(len(live), max(limit - len(ended), limit * 3 // 4))
    recent = live[:take_live] + ended[: limit - take_live]
    order: dict[str, int] = {}
    for s in recent:
        order.setdefault(s.account, len(order))
    return sorted(recent, key=lambda s: (order[s.account], s.start, s.pid))


def counts(spans: Sequence[Span]) -> Counter[str]:
    return Counter(s.outcome for s in spans)


def caption(spans: Sequence[Span], hours: float, more: int = 0) -> str:
    """'14 ran · 11 finished · 2 killed · 1 failed' (plain text, ≤ 1024 characters)."""
    h = number(hours, digits=1)
    if not spans:
        return _("Nothing ran in the last {hours} h that telebot saw.").format(hours=h)
    tally = counts(spans)
    parts = [ngettext("{n} ran", "{n} ran", len(spans)).format(n=number(len(spans)))]
    parts += [counted(o, tally[o]) for o in OUTCOMES[1:] if tally[o]]
    if tally["running"]:
        parts.append(counted("running", tally["running"]))
    text = " · ".join(parts) + " " + _("(last {hours} h)").format(hours=h)
    if more:
        text += "\n" + _("+{more} more not drawn: the {rows} most recent are shown").format(
            more=number(more), rows=MAX_ROWS
        )
    return text[:CAPTION_LIMIT]


def _clip(text: str, limit: int) -> str:
    text = " ".join("".join(c for c in text if c.isprintable()).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def png(
    spans: Sequence[Span], now: float, hours: float = DEFAULT_HOURS, *, limit: int = MAX_ROWS
) -> Picture:
    """The picture (blocking: matplotlib draws in the calling thread)."""
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    start = now - hours * 3600
    rows = chosen(spans, limit)
    more = len(spans) - len(rows)
    zone = clock.zone()
    # y positions, top down: an account's header line, then its tasks
    lines: list[tuple[str, Span | None]] = []
    account = None
    for s in rows:
        if s.account != account:
            lines.append((s.account, None))
            account = s.account
        lines.append((s.label, s))
    height = 1.6 + 0.28 * max(len(lines), 3)
    fig = Figure(figsize=(6.4, height), dpi=170)  # 1088 pixels wide: a phone's width
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.33, 0.95 / height, 0.64, 1 - 1.5 / height))
    y_of: dict[Key, float] = {}
    for i, (text, row) in enumerate(lines):
        y = len(lines) - 1 - i
        if row is None:
            ax.text(
                -0.5,
                y,
                _clip(text, 34),
                transform=ax.get_yaxis_transform(),
                ha="left",
                va="center",
                fontsize=9,
                fontweight="bold",
            )
            ax.axhline(y - 0.5, color="#dddddd", linewidth=0.6)
            continue
        s = row
        y_of[s.key] = y
        colour = COLOURS.get(s.outcome, "#999999")
        begin, seen, end = (
            mdates.date2num(clock.at(max(t, start)))
            for t in (s.start, max(s.seen, s.start), max(s.end, s.start))
        )
        if seen > begin:  # before telebot saw it: ikabot's start date, drawn faint
            ax.barh(y, seen - begin, left=begin, height=0.55, color=colour, alpha=0.3)
        ax.barh(
            y,
            max(end - seen, 0.0004),
            left=seen,
            height=0.55,
            color=colour,
            edgecolor="#8a7d00" if s.outcome == "stalled" else colour,
            linewidth=0.5,
        )
    for s in rows:
        if s.replaces in y_of and s.key in y_of:
            old = next(r for r in rows if r.key == s.replaces)
            ax.annotate(
                "",
                xy=(mdates.date2num(clock.at(max(s.start, start))), y_of[s.key]),
                xytext=(mdates.date2num(clock.at(max(old.end, start))), y_of[old.key]),
                arrowprops={
                    "arrowstyle": "->",
                    "color": "#555555",
                    "linewidth": 0.8,
                    "linestyle": "--",
                },
            )
    ax.set_yticks([len(lines) - 1 - i for i, (_, s) in enumerate(lines) if s is not None])
    ax.set_yticklabels([_clip(t, 26) for t, s in lines if s is not None], fontsize=9)
    ax.set_ylim(-0.7, max(len(lines), 1) - 0.3)
    ax.set_xlim(mdates.date2num(clock.at(start)), mdates.date2num(clock.at(now)))
    ax.axvline(mdates.date2num(clock.at(now)), color="#CC0000", linewidth=1.2)
    ax.text(
        mdates.date2num(clock.at(now)),
        1.0,
        _("now"),
        color="#CC0000",
        fontsize=9,
        ha="right",
        va="bottom",
        transform=ax.get_xaxis_transform(),
    )
    if hours <= 36:
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    else:  # 'Mon 04' / 'lun 04': the day's name in the language
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _pos: clock.weekday(mdates.num2date(x, tz=zone).timestamp()))
        )
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=zone, minticks=4, maxticks=8))
    ax.tick_params(axis="x", labelsize=9)
    ax.set_xlabel(_("time ({zone})").format(zone=clock.zone_name(now)), fontsize=9)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.set_axisbelow(True)
    if not rows:
        ax.text(
            0.5,
            0.5,
            _("nothing ran in the last {hours} h").format(hours=number(hours, digits=1)),
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=10,
            color="#666666",
        )
    fig.suptitle(
        _("ikabot tasks, last {hours} h").format(hours=number(hours, digits=1)),
        fontsize=11,
        x=0.02,
        ha="left",
        y=1 - 0.12 / height,
    )
    handles = [Patch(color=COLOURS[o], label=how_label(o)) for o in OUTCOMES]
    fig.legend(
        handles=handles,
        loc="lower left",
        ncol=4,
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.0, 0.0),
        handlelength=1.2,
        columnspacing=0.8,
    )
    if more:
        fig.text(
            0.98,
            0.01,
            _("+{n} more (older)").format(n=number(more)),
            ha="right",
            va="bottom",
            fontsize=9,
        )
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return Picture(out.getvalue(), caption(spans, hours, more), len(rows), more)


def hours_arg(raw: str | None) -> float:
    """'/timeline 48' → 48.0; ValueError for anything not a number from 1 to 168."""
    if raw is None or raw == "":
        return float(DEFAULT_HOURS)
    value = float(raw)
    if not 1 <= value <= MAX_HOURS:  # NaN fails both
        raise ValueError(raw)
    return value
