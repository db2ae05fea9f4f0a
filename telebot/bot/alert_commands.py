"""/alerts and /mute: which alerts the owner gets (died, finished, stalled, one switch each)
and holding the non-urgent ones for a while (deaths always come through)."""

from __future__ import annotations

import html
import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from telebot.alerts.alerter import SWITCHES
from telebot.bot.callbacks import Kind, make, pressed
from telebot.bot.context import BotContext
from telebot.bot.permissions import for_actors, in_bots_chat
from telebot.bot.replies import reply, send
from telebot.bot.runtime import Runtime
from telebot.i18n import _, number
from telebot.views import render


def alert_switches(rt: Runtime) -> dict[str, bool]:
    """The switches as they act: *stalled* is off while TELEBOT_STALL_MINUTES is unset,
    whatever was chosen."""
    kinds = rt.state.settings.alert_kinds()
    return {
        k: on and (k != "stalled" or bool(rt.settings.stall_minutes)) for k, on in kinds.items()
    }


def alerts_markup(kinds: dict[str, bool]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"{'✅' if on else '⬜'} {render.how_label(kind)}",
                    callback_data=make(Kind.ALERT_SWITCH, kind),
                )
                for kind, on in kinds.items()
            ]
        ]
    )


def alerts_text(rt: Runtime) -> str:
    kinds = alert_switches(rt)
    lines = [_("<b>Alerts</b> (tap to switch):")]
    lines += [
        f"{'✅' if on else '⬜'} {render.how_label(kind)}: "
        f"{html.escape(_(SWITCHES.get(kind, kind)))}"
        for kind, on in kinds.items()
    ]
    mute = rt.state.settings.mute_until()
    if mute > time.time():
        lines.append(
            _("🔕 muted for {age} more (deaths still come through); /mute 0 to unmute").format(
                age=render.fmt_age(mute - time.time())
            )
        )
    stall = rt.settings.stall_minutes
    lines.append(
        _("Stall alerts after {minutes} min without change.").format(
            minutes=number(stall, digits=2)
        )
        if stall
        else _(
            "Stall alerts are off: TELEBOT_STALL_MINUTES is not set on the machine running telebot."
        )
    )
    return "\n".join(lines)


@in_bots_chat
async def cmd_alerts(update: Update, context: BotContext) -> None:
    rt = context.runtime
    await reply(context, alerts_text(rt), alerts_markup(alert_switches(rt)))


@in_bots_chat
@for_actors
async def on_alert_switch(update: Update, context: BotContext) -> None:
    query, button = pressed(update)
    rt = context.runtime
    settings = rt.state.settings
    kinds = settings.alert_kinds()
    if button.text == "stalled" and not rt.settings.stall_minutes:
        await query.answer(
            _("Stall alerts need TELEBOT_STALL_MINUTES on the machine running telebot."),
            show_alert=True,
        )
        return
    if button.text in kinds:
        await rt.state.run(settings.set_alert_kind, button.text, not kinds[button.text])
        await query.edit_message_text(
            alerts_text(rt),
            parse_mode=ParseMode.HTML,
            reply_markup=alerts_markup(alert_switches(rt)),
        )
    await query.answer()


@in_bots_chat
@for_actors
async def cmd_mute(update: Update, context: BotContext) -> None:
    rt = context.runtime
    args = context.args or []
    try:
        minutes = float(args[0]) if len(args) == 1 else -1
        if not 0 <= minutes <= 7 * 24 * 60:
            raise ValueError
    except ValueError:
        await send(
            context, _("Usage: /mute &lt;minutes&gt; (0 unmutes). Deaths always come through.")
        )
        return
    await rt.state.run(
        rt.state.settings.set_mute_until, time.time() + minutes * 60 if minutes else 0.0
    )
    if rt.alerter:
        await rt.alerter.wake()
    await send(
        context,
        _(
            "🔕 Finished and stalled alerts held for {minutes} minutes; deaths still come through."
        ).format(minutes=number(minutes, digits=3))
        if minutes
        else _("🔔 Alerts unmuted."),
    )
