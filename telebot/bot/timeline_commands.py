"""/timeline [hours]: the picture of what ran (`views.timeline`), from telebot's own memory.

The rows come from the tasks telebot tracked (`state.tracking.since`) and the links from /menu's
recordings (a 🔁 Run again names the task it replaced); the picture is drawn in a worker
thread, so the event loop keeps answering while matplotlib works. The scheduled report sends
the same picture when TELEBOT_REPORT_PICTURE=1 (`bot.jobs`). `telebot timeline` uses `gather`
and `views.timeline.png` the same way.
"""

from __future__ import annotations

import asyncio
import time

from telegram import Update
from telegram.constants import ChatAction

from telebot.bot.context import BotContext
from telebot.bot.permissions import in_bots_chat
from telebot.bot.replies import runtime, send
from telebot.i18n import _
from telebot.state import StateDB, Tracked
from telebot.tasks.facts import HOWS
from telebot.views import timeline
from telebot.views.timeline import Picture, Span


def span_of(row: Tracked, links: dict[tuple[int, int], tuple[int, int]]) -> Span:
    """A tracked row as a bar: ended (how, when), stalled (still open, a stall noticed),
    or running (drawn up to when telebot last saw it alive)."""
    if row.ended_at is not None:
        outcome = row.end_kind if row.end_kind in HOWS else "died"
        end = row.ended_at
    else:
        outcome = "stalled" if row.stalled_at is not None else "running"
        end = row.last_seen_alive
    start = row.started if row.started > 0 else row.first_seen
    return Span(
        row.key,
        row.account.label,
        row.action,
        min(start, row.first_seen),
        row.first_seen,
        end,
        str(outcome),
        links.get(row.key),
    )


def gather(state: StateDB, now: float, hours: float) -> list[Span]:
    """Every task telebot saw alive in the last `hours` (blocking: the state's thread)."""
    since = now - hours * 3600
    links = state.recordings.again_links()
    return [
        span_of(r, links)
        for r in state.tracking.since(since)
        if min(r.started or r.first_seen, r.first_seen) <= now
    ]


async def picture(state: StateDB, hours: float, now: float | None = None) -> Picture:
    """The picture, its rows read on the state's thread and drawn on a worker thread."""
    now = time.time() if now is None else now
    spans = await state.run(gather, state, now, hours)
    return await asyncio.to_thread(timeline.png, spans, now, hours)


async def send_picture(context: BotContext, pic: Picture) -> None:
    rt = runtime(context)
    await context.bot.send_photo(rt.chat_id, pic.png, caption=pic.caption)


@in_bots_chat
async def cmd_timeline(update: Update, context: BotContext) -> None:
    """Anyone in telebot's chat may see it (it shows no more than /status does)."""
    args = context.args or []
    try:
        hours = timeline.hours_arg(args[0] if args else None)
    except ValueError:
        await send(
            context,
            _(
                "Usage: /timeline [hours from 1 to {max}], e.g. /timeline 48 (default {default})"
            ).format(max=timeline.MAX_HOURS, default=timeline.DEFAULT_HOURS),
        )
        return
    rt = runtime(context)
    await context.bot.send_chat_action(rt.chat_id, ChatAction.UPLOAD_PHOTO)
    await send_picture(context, await picture(rt.state, hours))
