"""/report: the scheduled progress report, shown or set (`bot.jobs` sends it)."""

from __future__ import annotations

from telegram import Update

from telebot.bot.context import BotContext
from telebot.bot.jobs import schedule_report
from telebot.bot.permissions import NOT_AN_OWNER, in_bots_chat, user_may_act
from telebot.bot.replies import send

MAX_MINUTES = 7 * 24 * 60  # a week


@in_bots_chat
async def cmd_report(update: Update, context: BotContext) -> None:
    """Anyone in telebot's chat may see the schedule; only an owner may change it."""
    rt = context.runtime
    args = context.args or []
    if not args:
        minutes = rt.state.settings.report_minutes(rt.settings.report_minutes)
        now = "off" if not minutes else f"every {minutes:g} minutes (when progress changed)"
        await send(context, f"Progress report: {now}.\nChange it with /report &lt;minutes&gt; "
                            "or /report off.")
        return
    if not user_may_act(update, context):
        await send(context, NOT_AN_OWNER)
        return
    word = args[0].lower()
    try:
        minutes = 0.0 if word in ("off", "0") else float(word)
        if not 1 <= minutes <= MAX_MINUTES and minutes != 0:
            raise ValueError
    except ValueError:
        await send(context, f"Usage: /report &lt;minutes from 1 to {MAX_MINUTES}&gt; or "
                            "/report off")
        return
    await rt.state.run(rt.state.settings.set_report_minutes, minutes)
    schedule_report(context.application, minutes)
    await send(context, "Progress report off." if not minutes else
               f"Progress report every {minutes:g} minutes, when some progress changed.")
