"""/details <pid> and the 🔎 button: everything about one task (`views.page`), its 🛑 button,
and how it relates to /menu (its recorded answers, 🔁 Run again)."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from telebot.bot import keepalive_commands, kill, menu_handlers
from telebot.bot.callbacks import pressed
from telebot.bot.context import BotContext
from telebot.bot.permissions import in_bots_chat
from telebot.bot.replies import send
from telebot.bot.runtime import Runtime
from telebot.i18n import _
from telebot.tasks.model import Task
from telebot.views.page import details_html


def find(tasks: list[Task], pid: int) -> Task | None:
    """The live task with this pid, else the newest entry that had it."""
    matches = [t for t in tasks if t.pid == pid]
    alive = [t for t in matches if t.alive]
    return (alive or sorted(matches, key=lambda t: t.started))[-1] if matches else None


@in_bots_chat
async def cmd_details(update: Update, context: BotContext) -> None:
    args = context.args or []
    if len(args) != 1 or not args[0].isdigit():
        await send(
            context, _("Usage: /details &lt;pid&gt;, e.g. /details 12345 (the pids are in /status)")
        )
        return
    await send_details(context, int(args[0]))


@in_bots_chat
async def on_details_button(update: Update, context: BotContext) -> None:
    query, button = pressed(update)
    await query.answer()
    await send_details(context, button.number)


async def send_details(context: BotContext, pid: int) -> None:
    rt = context.runtime
    menu = context.bot_data.menu
    task = find(await rt.refresh(), pid)
    if task is None:
        gone = await menu_handlers.gone_details(menu, pid)
        await send(context, *gone) if gone else await send(
            context, _("No ikabot task with pid {pid}. /status lists them.").format(pid=pid)
        )
        return
    markup = kill.details_markup(rt, task, context.bot)
    note, buttons = await menu_handlers.details_note(menu, task)
    kept, keep_buttons = await keepalive_commands.details_note(context.bot_data.keeper, menu, task)
    note = "\n".join(n for n in (note, kept) if n)
    buttons = [*buttons, *keep_buttons]
    if buttons:
        rows = list(markup.inline_keyboard) if markup else []
        markup = InlineKeyboardMarkup([*rows, buttons])
    text = details_html(task, history=await history(rt, task))
    await send(context, f"{text}\n{note}" if note else text, markup)


async def history(rt: Runtime, task: Task) -> list[tuple[float, str]]:
    """The status changes telebot saw this task make (an ended one's too)."""
    if task.history:
        return list(task.history)
    tracking = rt.state.tracking
    return await rt.state.run(tracking.history_of, task.pid, task.started, task.start_ticks)
