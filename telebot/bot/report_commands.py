"""/report: the scheduled progress report, shown or set (`bot.jobs` sends it)."""

from __future__ import annotations

from telegram import Update

from telebot.bot.context import BotContext
from telebot.bot.jobs import schedule_report
from telebot.bot.permissions import NOT_AN_OWNER, in_bots_chat, user_may_act
from telebot.bot.replies import send
from telebot.i18n import _, number

MAX_MINUTES = 7 * 24 * 60  # a week


@in_bots_chat
async def cmd_report(update: Update, context: BotContext) -> None:
    """Anyone in telebot's chat may see the schedule; only an owner may change it."""
    rt = context.runtime
    args = context.args or []
    if not args:
        minutes = rt.state.settings.report_minutes(rt.settings.report_minutes)
        now = (
            _("off")
            if not minutes
            else _("every {minutes} minutes (when progress changed)").format(minutes=_num(minutes))
        )
        await send(
            context,
            _("Progress report: {now}.").format(now=now)
            + "\n"
            + _("Change it with /report &lt;minutes&gt; or /report off."),
        )
        return
    if not user_may_act(update, context):
        await send(context, _(NOT_AN_OWNER))
        return
    word = args[0].lower()
    try:
        minutes = 0.0 if word in ("off", "0") else float(word)
        if not 1 <= minutes <= MAX_MINUTES and minutes != 0:
            raise ValueError
    except ValueError:
        await send(
            context,
            _("Usage: /report &lt;minutes from 1 to {max}&gt; or /report off").format(
                max=MAX_MINUTES
            ),
        )
        return
    await rt.state.run(rt.state.settings.set_report_minutes, minutes)
    schedule_report(context.application, minutes)
    await send(
        context,
        _("Progress report off.")
        if not minutes
        else _("Progress report every {minutes} minutes, when some progress changed.").format(
            minutes=_num(minutes)
        ),
    )


def _num(minutes: float) -> str:
    """30 → '30', 0.5 → '0.5' ('0,5' in Spanish)."""
    return number(minutes, digits=3)
