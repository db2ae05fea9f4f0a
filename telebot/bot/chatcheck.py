"""Does the configured chat accept the bot? `telebot check` and `telebot run` ask the same way.

`getMe` proves only the token. A wrong chat id, a bot the owner never pressed *Start* on, one
the owner blocked, or a group the bot was removed from all pass it, and every alert would then
be refused. Telegram says which of these it is:

- 400 "Bad Request: chat not found": no such chat for this bot (a wrong TELEBOT_CHAT_ID or
  ikabot's chatId; or a private chat whose user never wrote to the bot);
- 403 "Forbidden: bot was blocked by the user" / "… bot can't initiate conversation with a
  user": the chat exists, but its user blocked the bot or never pressed Start;
- 403 "Forbidden: bot was kicked from the group chat" / "… is not a member of the …": a group
  without the bot.

`getChat` finds the first; only something sent shows the others (a blocked chat still answers
`getChat`), so the check sends a chat action ("typing…", gone in seconds, no message), and
`--send-test` one real message. A 403 ends when the owner acts, so it never ends telebot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, TelegramError

from telebot.bot.telegram_errors import refusal
from telebot.i18n import N_, _
from telebot.logsafe import redact

log = logging.getLogger(__name__)

TEST_MESSAGE = N_("✅ telebot check: this chat gets telebot's alerts.")
KINDS = {
    "private": N_("private chat"),
    "group": N_("group"),
    "supergroup": N_("supergroup"),
    "channel": N_("channel"),
}  # Telegram's chat types, as said


def advice(error: BaseException, chat_id: str, topic_id: int | None = None) -> str:
    """One line: what is wrong with the chat, and what the owner does about it."""
    said = str(getattr(error, "message", error)).lower()
    reason = refusal(error) or redact(str(error))
    if topic_id is not None and ("thread not found" in said or "topic" in said):
        return _(
            "the chat {chat} has no open topic {topic} ({reason}): TELEBOT_TOPIC_ID must "
            "name a topic of a forum group (Topics turned on in the group's settings) that "
            "is open; fix it, or leave it unset"
        ).format(chat=chat_id, topic=topic_id, reason=reason)
    if "chat not found" in said:
        return _(
            "Telegram knows no chat {chat} for this bot ({reason}): TELEBOT_CHAT_ID (or "
            "ikabot's chatId) is wrong, or you never wrote to the bot; send the bot a "
            "message and take chat.id from getUpdates"
        ).format(chat=chat_id, reason=reason)
    if "kicked" in said or "not a member" in said:
        return _(
            "the bot is not in the group {chat} ({reason}): add the bot to the group "
            "again, or fix TELEBOT_CHAT_ID"
        ).format(chat=chat_id, reason=reason)
    if isinstance(error, Forbidden):
        return _(
            "the chat {chat} refuses the bot ({reason}): open the bot in Telegram and "
            "press Start (or unblock it)"
        ).format(chat=chat_id, reason=reason)
    return _("Telegram refused the chat {chat}: {reason}").format(chat=chat_id, reason=reason)


@dataclass(frozen=True)
class ChatCheck:
    ok: bool
    line: str  # what `check` prints and `run` logs
    refused: str | None = None  # the refusal ("403: …") when Telegram refused the chat


async def check_chat(
    bot: Bot, chat_id: str, *, send_test: bool = False, topic_id: int | None = None
) -> ChatCheck:
    """getChat, then a chat action (or, with `send_test`, one message), into `topic_id` when
    set (a topic that does not exist, or a chat without topics, refuses it). Network trouble
    and other errors propagate: they say nothing about the chat."""
    try:
        chat = await bot.get_chat(chat_id)
        if send_test:
            await bot.send_message(chat_id, _(TEST_MESSAGE), message_thread_id=topic_id)
        else:
            await bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=topic_id)
    except (BadRequest, Forbidden) as e:
        return ChatCheck(False, advice(e, chat_id, topic_id), refusal(e))
    kind = _(KINDS.get(chat.type, chat.type))
    name = chat.title or chat.first_name or chat.username or ""
    sent = _("a test message sent") if send_test else _("it accepts the bot")
    where = _(", topic {topic}").format(topic=topic_id) if topic_id is not None else ""
    return ChatCheck(
        True,
        _("chat {chat}: {kind}{name}{where}, {sent}").format(
            chat=chat_id, kind=kind, name=f" {name!r}" if name else "", where=where, sent=sent
        ),
    )


async def announce(bot: Bot, chat_id: str, topic_id: int | None = None) -> ChatCheck | None:
    """`telebot run`'s start: the same check, said loudly (stderr, the journal) when the chat
    refuses the bot; telebot runs on, and its alerts wait in the outbox until the chat works.
    None when the check itself could not be made (the network: the outbox retries anyway)."""
    try:
        verdict = await check_chat(bot, chat_id, topic_id=topic_id)
    except TelegramError as e:
        log.warning("could not check chat %s yet: %s", chat_id, redact(str(e)))
        return None
    if verdict.ok:
        log.info("%s", verdict.line)
    else:
        log.error(
            "TELEBOT CANNOT REACH ITS CHAT: %s. telebot keeps running; its alerts wait "
            "and are sent once the chat accepts them (`telebot check` checks again).",
            verdict.line,
        )
    return verdict
