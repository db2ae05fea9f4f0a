"""/status and /webserver: every ikabot task, page by page, with its buttons (🔄 Refresh,
🔎 details, the list of tasks not running, ◀ ▶ through it)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from telebot.bot.callbacks import Kind, make, pressed
from telebot.bot.context import BotContext
from telebot.bot.permissions import in_bots_chat
from telebot.bot.replies import reply, send
from telebot.i18n import _, number
from telebot.tasks.model import Task
from telebot.views import render

DETAIL_BUTTONS_PER_PAGE = 99  # Telegram takes at most 100 buttons; one is Refresh


def _detail_rows(tasks: list[Task]) -> list[list[InlineKeyboardButton]]:
    buttons = [
        InlineKeyboardButton(
            f"🔎 {render.clip(t.action, 30)} {t.pid}", callback_data=make(Kind.DETAILS, t.pid)
        )
        for t in tasks[:DETAIL_BUTTONS_PER_PAGE]
    ]
    return [buttons[i : i + 3] for i in range(0, len(buttons), 3)]


def status_markup(page: int, view: render.StatusPage) -> InlineKeyboardMarkup:
    """Refresh for this page, a details button for each task shown on it, and (on the last
    page) the list of stopped tasks."""
    rows = _detail_rows(view.tasks)
    last = [InlineKeyboardButton(_("🔄 Refresh"), callback_data=make(Kind.REFRESH, page))]
    if view.stopped:
        last.append(
            InlineKeyboardButton(
                _("⏹ Not running ({n})").format(n=number(view.stopped)),
                callback_data=make(Kind.STOPPED_LIST, 0),
            )
        )
    rows.append(last)
    return InlineKeyboardMarkup(rows)


def stopped_markup(page: int, view: render.StatusPage) -> InlineKeyboardMarkup:
    rows = _detail_rows(view.tasks)
    pages = max(1, -(-view.stopped // render.STOPPED_PER_PAGE))
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=make(Kind.STOPPED_PAGE, page - 1)))
    if page + 1 < pages:
        nav.append(InlineKeyboardButton("▶", callback_data=make(Kind.STOPPED_PAGE, page + 1)))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


@in_bots_chat
async def cmd_status(update: Update, context: BotContext) -> None:
    rt = context.runtime
    tasks = await rt.refresh()
    for i, view in enumerate(
        render.status_view(tasks, warnings=rt.warnings, email=not rt.permissions.group_chat)
    ):
        await reply(context, view.text, status_markup(i, view))


@in_bots_chat
async def cmd_webserver(update: Update, context: BotContext) -> None:
    await send(context, render.webserver_html(await context.runtime.refresh()))


@in_bots_chat
async def on_stopped_list(update: Update, context: BotContext) -> None:
    """From /status: the list of tasks not running, as a message of its own."""
    query, button = pressed(update)
    await query.answer()
    view = render.stopped_page(await context.runtime.refresh(), button.number)
    await reply(context, view.text, stopped_markup(button.number, view))


@in_bots_chat
async def on_refresh(update: Update, context: BotContext) -> None:
    """🔄 Refresh of a /status page: the message, edited."""
    rt = context.runtime
    query, button = pressed(update)
    if query.message is None:  # too old for Telegram to say which message
        await query.answer()
        return
    page = button.number
    views = render.status_view(
        await rt.refresh(), warnings=rt.warnings, email=not rt.permissions.group_chat
    )
    view = (
        views[page]
        if page < len(views)
        else render.StatusPage(_("(fewer tasks now: see the pages above)"), [])
    )
    await _edit_page(update, view, status_markup(page, view), _("Refreshed"))


@in_bots_chat
async def on_stopped_page(update: Update, context: BotContext) -> None:
    """◀ ▶ in the list of tasks not running: the message, edited."""
    query, button = pressed(update)
    if query.message is None:  # too old for Telegram to say which message
        await query.answer()
        return
    view = render.stopped_page(await context.runtime.refresh(), button.number)
    await _edit_page(update, view, stopped_markup(button.number, view), None)


async def _edit_page(
    update: Update, view: render.StatusPage, markup: InlineKeyboardMarkup, done: str | None
) -> None:
    query, _button = pressed(update)
    try:
        await query.edit_message_text(
            view.text, parse_mode=ParseMode.HTML, reply_markup=markup, disable_web_page_preview=True
        )
        await query.answer(done)
    except BadRequest as e:
        if "not modified" not in e.message.lower():
            raise
        await query.answer(_("Already up to date"))
