"""The context every handler and job is given, typed: `context.runtime`, `context.menu`.

python-telegram-bot hands each callback a `CallbackContext`; with `CONTEXT_TYPES` the
Application makes a `BotContext` instead (its `examples/contexttypesbot.py` way), whose
`bot_data` is a `BotData` with named, typed attributes rather than a dict keyed by strings:
a misspelt name fails in mypy, not in front of the player.
"""

from __future__ import annotations

from typing import Any, TypeAlias, cast

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, Job, JobQueue

from telebot.bot import topics
from telebot.bot.menu_manager import MenuManager
from telebot.bot.runtime import Runtime
from telebot.keepalive.keeper import Keeper


class BotData:
    """What the Application keeps for all its handlers: set by `serve` before the first
    update is handled (the runtime when the Application is built, the menu once connected)."""

    __slots__ = ("_runtime", "keeper", "menu")

    def __init__(self) -> None:  # python-telegram-bot makes it without arguments
        self._runtime: Runtime | None = None
        self.menu: MenuManager | None = None  # /menu's manager, once attached
        self.keeper: Keeper | None = None  # keep-alive (♻️), once attached

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the bot's runtime is used before serve() set it")
        return self._runtime

    @runtime.setter
    def runtime(self, rt: Runtime) -> None:
        self._runtime = rt


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """A handler's context: the bot, the update's arguments, and telebot's runtime. Made
    in the task that runs the callback, so it also says where that task's messages go: the
    topic an update came from, home for a job (`topics`)."""

    @classmethod
    def from_update(
        cls, update: object, application: Application[Any, Any, Any, Any, Any, Any]
    ) -> BotContext:
        topics.answer_in(update)
        return super().from_update(update, application)

    @classmethod
    def from_job(
        cls, job: Job[Any], application: Application[Any, Any, Any, Any, Any, Any]
    ) -> BotContext:
        topics.write_home()
        return super().from_job(job, application)

    # python-telegram-bot types `application` with a type variable it never binds (its ST),
    # so mypy cannot see which it is: this says it, as `build_application` made it
    @property
    def application(self) -> BotApp:  # type: ignore[override]
        return cast("BotApp", super().application)

    @property
    def runtime(self) -> Runtime:
        return self.bot_data.runtime

    @property
    def menu(self) -> MenuManager:
        menu = self.bot_data.menu
        if menu is None:
            raise RuntimeError("/menu's manager is used before serve() attached it")
        return menu


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)

BotApp: TypeAlias = Application[
    ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], BotData, JobQueue[BotContext]
]
