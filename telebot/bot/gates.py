"""The gates every update passes before any handler (groups -2 and -1 in `bot.handlers`).

1. `gate`: only what is recent, never an edit, never ikabot's own set-up command.
2. `member_limit`: a group member's pace (owners and private chats are never limited).
Who may see data or change anything is decided per handler (`bot.permissions`).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from telebot import i18n
from telebot.bot.context import BotContext
from telebot.bot.ordering import MEMBER_ANSWERS_PER_MINUTE, Verdict
from telebot.bot.poller import is_ikabot_setup
from telebot.bot.replies import send
from telebot.i18n import N_, _

log = logging.getLogger(__name__)

TOO_MANY_TEXT = N_(
    "⏳ At most {n} commands a minute per member here; the rest are skipped for now."
)
TOO_MANY = TOO_MANY_TEXT.format(n=MEMBER_ANSWERS_PER_MINUTE)  # in English


def too_many() -> str:
    return _(TOO_MANY_TEXT).format(n=MEMBER_ANSWERS_PER_MINUTE)


async def gate(update: Update, context: BotContext) -> None:
    """Only what is recent, never an edit: telebot answers the commands sent while it runs.

    Long polling (dedicated mode) would otherwise answer commands Telegram kept for up to 24 h
    while telebot was down, all at once, and run a command again when its message is edited.
    The shared-token poller applies the same rule before the dispatcher. ikabot's own
    set-up command `/ikabot NNNN` is ikabot's: never answered (the shared-token poller does
    not even hand it over, nor confirm it).
    """
    if update.edited_message is not None or update.edited_channel_post is not None:
        raise ApplicationHandlerStop
    message = update.message or update.channel_post
    if message is not None and is_ikabot_setup(message.text):
        if context.application.updater is not None and context.application.updater.running:
            # long polling has confirmed it already: ikabot's set-up cannot see it
            log.warning(
                "ikabot's set-up command /ikabot reached TELEBOT_TOKEN's bot, which "
                "telebot long-polls: ikabot cannot read it there. Set ikabot up with "
                "its own bot's token (or stop telebot during ikabot's set-up)"
            )
        raise ApplicationHandlerStop
    if (
        message is not None
        and message.date is not None
        and message.date.timestamp() < context.runtime.started_at - 1
    ):
        log.info("ignored a command sent before telebot started (update %s)", update.update_id)
        raise ApplicationHandlerStop
    await learn_language(update, context)


async def learn_language(update: Update, context: BotContext) -> None:
    """TELEBOT_LANG unset: telebot speaks the language of the owner's Telegram app, learnt
    from the owner's own updates (`language_code`) and kept in its database."""
    rt = context.runtime
    user = update.effective_user
    if (
        rt.settings.lang
        or user is None
        or not user.language_code
        or not rt.permissions.may_act(user.id)
        or not rt.permissions.is_bots_chat(
            update.effective_chat.id if update.effective_chat else None
        )
    ):
        return
    lang = i18n.language_of(user.language_code)
    if lang is not None and lang != i18n.current():
        i18n.use(lang)
        await rt.state.run(rt.state.settings.set_owner_language, user.language_code)


def for_this_bot(text: str, username: str | None) -> bool:
    """A command for this bot: bare, or /command@<this bot> (not another bot's in a group)."""
    if not text.startswith("/"):
        return False
    _cmd, _at, mention = text.split(maxsplit=1)[0].partition("@")
    return not mention or mention.lower() == (username or "").lower()


async def member_limit(update: Update, context: BotContext) -> None:
    """A group member's commands and presses, at most MEMBER_ANSWERS_PER_MINUTE a minute;
    owners (TELEBOT_OWNER_IDS) are never limited, nor is anyone in a private chat."""
    rt = context.runtime
    chat, user = update.effective_chat, update.effective_user
    message = update.message or update.channel_post
    counted = update.callback_query is not None or (
        message is not None and for_this_bot(message.text or "", context.bot.username)
    )
    if (
        chat is None
        or user is None
        or chat.type == "private"
        or not counted
        or not rt.permissions.is_bots_chat(chat.id)
        or rt.permissions.may_act(user.id)
    ):
        return
    verdict = rt.member_limit.check(user.id)
    if verdict is Verdict.ANSWER:
        return
    log.info(
        "skipped a command of group member %s: over %d a minute", user.id, MEMBER_ANSWERS_PER_MINUTE
    )
    if update.callback_query is not None:
        await update.callback_query.answer(too_many() if verdict is Verdict.NOTICE else None)
    elif verdict is Verdict.NOTICE:
        await send(context, too_many())
    raise ApplicationHandlerStop
