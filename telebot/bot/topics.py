"""Forum topics: one topic per machine in a forum supergroup, answers where they were asked.

A group of several telebots (one per machine) reads best as a forum with a topic per machine:
each machine's alerts, reports and answers in its own topic (TELEBOT_TOPIC_ID), never mixed.
Telegram puts a message into a topic by its `message_thread_id`; without it, a message goes to
the forum's General topic. So two rules, applied by the bot object itself (`LabelledBot`, as the
host tag is), so that no handler, job or alert can forget them:

- a message telebot writes on its own (an alert, a report, the start-up line) goes to the home
  topic: `TELEBOT_TOPIC_ID`, or none;
- an answer to a command (or a button press) goes to the topic the command came from, General
  included, as a person answers in the thread they were asked in.

Which one a send is, is the asyncio context's: `answer_in` is called for every update (by
`BotContext.from_update`, in the task that handles it), and what that task starts (a /menu
session) inherits it; a job (`from_job`) and the alert outbox's own task write home.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from telegram import Update

# Bot API methods that take `message_thread_id` (those telebot uses, and their kin)
THREADED = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendChatAction",
        "sendMediaGroup",
        "sendAnimation",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendPoll",
        "sendDice",
        "copyMessage",
        "forwardMessage",
    }
)


@dataclass(frozen=True)
class Asked:
    """Where the update being handled came from: its chat and its topic (None: General, or
    a chat without topics)."""

    chat_id: int
    topic: int | None


_ASKED: ContextVar[Asked | None] = ContextVar("telebot_asked", default=None)


def asked_in(update: object) -> Asked | None:
    """The chat and topic of a Telegram update (None for telebot's own events)."""
    if not isinstance(update, Update) or update.effective_chat is None:
        return None
    message = update.effective_message
    topic = message.message_thread_id if message is not None and message.is_topic_message else None
    return Asked(update.effective_chat.id, topic)


def answer_in(update: object) -> None:
    """From now on in this context, answers go where `update` came from (or home, for an
    update that is not Telegram's)."""
    _ASKED.set(asked_in(update))


def write_home() -> None:
    """From now on in this context, messages go to the home topic (a job's context)."""
    _ASKED.set(None)


def thread_for(chat_id: object, home_chat: str | None, home_topic: int | None) -> int | None:
    """The `message_thread_id` for a message to `chat_id` sent in this context, or None."""
    asked = _ASKED.get()
    if asked is not None and str(asked.chat_id) == str(chat_id):
        return asked.topic
    if home_topic is not None and home_chat is not None and str(chat_id) == home_chat:
        return home_topic
    return None
