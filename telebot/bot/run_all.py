"""🔁 Run all again, under the one message about a reboot (`alerts.reboot`): the tasks that
ended with the machine, have recorded answers and are not kept alive (those restart by
themselves), replayed through /menu one after another.

The same machinery as 🔁 Run again, for several at once: a confirmation that lists them and
warns of copies already running, with a 🔁 Run them that works once and expires
(`state.control`'s once-used store: one nonce per task, spent together); then each replay is
a 🔁 Run again of its own (`MenuManager.open`), whose guard looks again, right before each
answer is typed, for a copy of that action on that account that the owner did not see when
confirming (`tasks.twin_guard`). The next replay opens once the one before has ended.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import secrets

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from telebot.bot import menu_handlers
from telebot.bot.callbacks import Kind, make, pressed
from telebot.bot.context import BotContext
from telebot.bot.menu_manager import BUSY, OFF, MenuManager
from telebot.bot.permissions import for_actors, in_bots_chat
from telebot.bot.replies import reply
from telebot.i18n import _, ngettext, number
from telebot.menu.recorded import Recording
from telebot.state import AgainButton
from telebot.tasks import twin_guard
from telebot.views import render

log = logging.getLogger(__name__)

AT_ONCE = 25  # tasks one confirmation lists (a press after them offers the rest)


def run_all_markup(allow_menu: bool, tag: str, n: int) -> str | None:
    """The reboot message's button (JSON, as the outbox keeps it): for `n` tasks."""
    if not allow_menu or n <= 0:
        return None
    label = ngettext("🔁 Run all again ({n} task)", "🔁 Run all again ({n} tasks)", n)
    return json.dumps(
        InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        label.format(n=number(n)), callback_data=make(Kind.ALL_ASK, tag)
                    )
                ]
            ]
        ).to_dict()
    )


async def runnable(mgr: MenuManager, tag: str) -> list[Recording] | None:
    """The reboot's tasks still to run again (None: the button is of an earlier reboot):
    recorded, not restarted by keep-alive, not run again since."""
    state = mgr.rt.state
    listed = await state.run(state.settings.reboot_ended)
    if listed is None or listed[0] != tag:
        return None
    out = []
    for pid, ticks in listed[1]:
        rec = await mgr.recording(pid, ticks)
        kept = await state.run(state.keepalive.get, pid, ticks)
        if (
            rec is None
            or (kept is not None and kept.due_at is not None)
            or await state.run(state.keepalive.successor, pid, ticks) is not None
            or await mgr.again_as(rec) is not None
        ):
            continue
        out.append(rec)
    return out


@in_bots_chat
@for_actors
async def on_all_ask(update: Update, context: BotContext) -> None:
    """🔁 Run all again: the tasks it would replay, to confirm."""
    query, button = pressed(update)
    rt, mgr = context.runtime, context.menu
    if not rt.settings.allow_menu:
        await query.answer(OFF, show_alert=True)
        return
    recs = await runnable(mgr, button.text)
    recs = recs[:AT_ONCE] if recs is not None else None
    if not recs:
        await query.answer(
            _("Nothing left to run again from this reboot.")
            if recs is not None
            else _("This list is of an earlier reboot."),
            show_alert=True,
        )
        return
    await query.answer()
    tasks = await rt.refresh()
    batch = secrets.token_urlsafe(9)
    expires = menu_handlers.clock() + menu_handlers.AGAIN_TTL
    lines = [
        ngettext(
            "🔁 Run {n} task again, as it was configured? ikabot's menu opens here and "
            "gets its recorded answers, each only if it asks the same question as "
            "before:",
            "🔁 Run {n} tasks again, one after another, as they were configured? "
            "ikabot's menu opens here for each and gets its recorded answers, each "
            "only if it asks the same question as before:",
            len(recs),
        ).format(n=number(len(recs)))
    ]
    buttons = []
    for i, rec in enumerate(recs):
        same = twin_guard.twins(tasks, rec.action, rec.account)
        line = _("{i}. {action} (was pid {pid}) on {account}").format(
            i=i + 1,
            action=f"<b>{html.escape(render.clip(rec.action, 40))}</b>",
            pid=rec.pid,
            account=html.escape(render.clip(rec.account.label, 60)),
        )
        if same:
            line += " · " + _("⚠️ already runs (pid {pids})").format(
                pids=", ".join(str(t.pid) for t in same)
            )
        lines.append(line)
        buttons.append(
            AgainButton(
                f"{batch}.{i}",
                rec.pid,
                rec.start_ticks,
                " ".join(twin_guard.identity_of(t) for t in same),
                expires,
                None,
            )
        )
    lines.append(
        "<i>"
        + _("This button works once, for {n} minutes.").format(
            n=number(menu_handlers.AGAIN_TTL / 60)
        )
        + "</i>"
    )
    await rt.state.run(rt.state.control.add_again_buttons, buttons)
    await reply(
        context,
        "\n".join(lines),
        InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(_("🔁 Run them"), callback_data=make(Kind.ALL_RUN, batch)),
                    InlineKeyboardButton(
                        _("Cancel"), callback_data=make(Kind.AGAIN_CANCEL, recs[0].pid)
                    ),
                ]
            ]
        ),
    )


@in_bots_chat
@for_actors
async def on_all_run(update: Update, context: BotContext) -> None:
    """🔁 Run them: the batch spent (once, in time), then the replays, one after another."""
    query, button = pressed(update)
    rt = context.runtime
    if not rt.settings.allow_menu:
        await query.answer(OFF, show_alert=True)
        return
    spent = await rt.state.run(rt.state.control.use_again_batch, button.text, menu_handlers.clock())
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)
    if not spent:
        await query.answer(
            _(
                "This 🔁 Run them has expired or was used already: press 🔁 Run "
                "all again for a new one."
            ),
            show_alert=True,
        )
        return
    await query.answer(_("Starting ikabot's menu"))
    context.menu.run_beside(one_after_another(context.menu, spent))


async def one_after_another(mgr: MenuManager, spent: list[AgainButton]) -> None:
    """Each a 🔁 Run again of its own, the next once the one before has ended (a /menu
    session or keep-alive's replay in between is waited for too)."""
    for button in spent:
        rec = await mgr.recording(button.pid, button.start_ticks)
        if rec is None:
            continue
        while True:
            while (session := mgr.open_session()) is not None:
                await session.ended.wait()
            problem = await mgr.open(rec.steps, rec, button.seen)
            if problem != BUSY:  # someone opened one just now: wait for it again
                break
        if problem:
            with contextlib.suppress(TelegramError):
                await mgr.bot.send_message(mgr.rt.chat_id, problem, parse_mode=ParseMode.HTML)
            return
        log.info("Run all again: replaying %s of pid %d", rec.action, rec.pid)
        if (session := mgr.open_session()) is not None:
            await session.ended.wait()
