"""How the bot's handlers are put together (`bot/handlers.py`): one CallbackQueryHandler per
kind of button, every handler registered in `add_handlers`, and a typed context."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from telegram.ext import CallbackQueryHandler, CommandHandler

import telebot
from telebot.bot.app import build_application
from telebot.bot.callbacks import Kind, is_ours, make
from telebot.bot.context import BotContext, BotData
from telebot.bot.handlers import COMMANDS, add_handlers
from telebot.config import Settings

# a valid argument for each kind of button, as the keyboards make them
SAMPLE: dict[Kind, tuple[int | str, str]] = {
    Kind.STOPPED_LIST: (0, ""),
    Kind.REFRESH: (1, ""),
    Kind.STOPPED_PAGE: (2, ""),
    Kind.DETAILS: (123, ""),
    Kind.ALERT_SWITCH: ("died", ""),
    Kind.KILL_ASK: (123, "m1"),
    Kind.KILL_CONFIRM: ("n0nce", "m1"),
    Kind.KILL_CANCEL: ("n0nce", "m1"),
    Kind.MENU_KEY: ("a1b2c3.7", ""),
    Kind.AGAIN_ASK: ("123.456", ""),
    Kind.AGAIN_RUN: ("n0nce", ""),
    Kind.AGAIN_CANCEL: (123, ""),
    Kind.KEEP_ON: ("123.456", ""),
    Kind.KEEP_OFF: ("123.456", ""),
    Kind.ALL_ASK: ("1765100000", ""),
    Kind.ALL_RUN: ("n0nce", ""),
}


@pytest.fixture
def app(tmp_path: Path):
    app = build_application(Settings(ikabot_path=tmp_path), "123:TEST")
    add_handlers(app)
    return app


def button_handlers(app) -> list[CallbackQueryHandler]:
    return [
        h
        for handlers in app.handlers.values()
        for h in handlers
        if isinstance(h, CallbackQueryHandler) and h.pattern is not is_ours
    ]


def test_each_kind_of_button_has_exactly_one_handler(app):
    assert set(SAMPLE) == set(Kind)
    for kind, (arg, machine) in SAMPLE.items():
        data = make(kind, arg, machine)
        takers = [h for h in button_handlers(app) if h.check_update(_press(data))]
        assert len(takers) == 1, (kind, [h.callback.__name__ for h in takers])
    assert len(button_handlers(app)) == len(Kind)  # and no handler for no kind


def test_every_listed_command_is_registered(app):
    registered = {
        c
        for handlers in app.handlers.values()
        for h in handlers
        if isinstance(h, CommandHandler)
        for c in h.commands
    }
    assert registered == set(COMMANDS)


def test_handlers_get_a_typed_context(app):
    assert app.context_types.context is BotContext
    assert isinstance(app.bot_data, BotData)
    with pytest.raises(RuntimeError, match="before serve"):
        app.bot_data.runtime  # noqa: B018 - the property is what is tested


def test_no_string_keyed_bot_data():
    """The runtime and the menu are reached through `BotContext`, never bot_data["..."]."""
    root = Path(telebot.__file__).parent
    found = [
        f"{p.relative_to(root)}:{n}"
        for p in sorted(root.rglob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"bot_data\s*(\[|\.get\()", line)
    ]
    assert found == []


def _press(data: str):
    from telegram import CallbackQuery, Update, User

    user = User(42, "Owner", is_bot=False)
    return Update(1, callback_query=CallbackQuery("1", user, "chat", data=data))
