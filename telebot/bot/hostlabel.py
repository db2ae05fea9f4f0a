"""Which machine a message comes from, when several telebots share one group chat.

Each machine runs its own telebot with its own bot; Telegram is all they share. So every
message a telebot sends names its machine when that can matter: in a group chat (a negative
chat id) or when TELEBOT_HOST_LABEL is set. The tag is put on by the bot object itself
(`LabelledBot`), so no handler, job or alert can forget it; `render` keeps `HOST_TAG_ROOM` free
in every page for it.

Buttons carry a short marker of their machine (`marker`): a press reaches only the bot that
sent the message, but two machines that use the same bot token (ikabot's own, in shared-token
mode) both read every press, and each must act only on its own.
"""

from __future__ import annotations

import hashlib
import html
import socket
from typing import Any

from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, ExtBot

from telebot.bot import topics
from telebot.bot.lean_request import LeanRequest
from telebot.config import HOST_LABEL_MAX, Settings

TAG_ICON = "🖥"


def label_for(settings: Settings, chat_id: str) -> str | None:
    """This machine's label when messages must name it, else None."""
    if settings.host_label:
        return settings.host_label
    if chat_id.startswith("-"):  # a group: several machines may answer there
        name = socket.gethostname().split(".")[0] or "telebot"
        return name[:HOST_LABEL_MAX]
    return None


def marker(label: str | None) -> str:
    """A short, stable id of this machine for callback data (64 bytes at most in all)."""
    name = label or socket.gethostname()
    return hashlib.sha256(name.encode()).hexdigest()[:6]


def tag(label: str, parse_mode: Any) -> str:
    if str(parse_mode).upper() == ParseMode.HTML:
        return f"{TAG_ICON} <b>{html.escape(label)}</b>\n"
    return f"{TAG_ICON} {label}\n"


def untagged(text: str) -> str:
    """The text without its first line when that is a host tag (as a person reads past it)."""
    return text.split("\n", 1)[1] if text.startswith(TAG_ICON + " ") and "\n" in text else text


class LabelledBot(ExtBot[None]):
    """An ExtBot whose every message (sent or edited, a photo's caption too) starts with the
    machine's tag, and goes into the right forum topic (`topics`): home (`topic_id` in
    `chat_id`), or where the command being answered came from."""

    def __init__(
        self,
        label: str | None,
        *args: Any,
        chat_id: str | None = None,
        topic_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._host_label = label
        self._home_chat, self._home_topic = chat_id, topic_id

    @property
    def home_topic(self) -> int | None:
        return self._home_topic

    async def _post(self, endpoint: str, data: Any = None, *args: Any, **kwargs: Any) -> Any:
        if (
            data is not None
            and endpoint in topics.THREADED
            and data.get("message_thread_id") is None
        ):
            thread = topics.thread_for(data.get("chat_id"), self._home_chat, self._home_topic)
            if thread is not None:
                data["message_thread_id"] = thread
        return await super()._post(endpoint, data, *args, **kwargs)

    @property
    def host_label(self) -> str | None:
        return self._host_label

    def _tagged(self, text: str, parse_mode: Any) -> str:
        return text if not self._host_label else tag(self._host_label, parse_mode) + text

    async def send_message(self, chat_id: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        return await super().send_message(
            chat_id, self._tagged(text, kwargs.get("parse_mode")), *args, **kwargs
        )

    async def send_photo(
        self, chat_id: Any, photo: Any, caption: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return await super().send_photo(
            chat_id,
            photo,
            self._tagged(caption or "", kwargs.get("parse_mode")) or None,
            *args,
            **kwargs,
        )

    async def edit_message_text(self, text: str, *args: Any, **kwargs: Any) -> Any:
        return await super().edit_message_text(
            self._tagged(text, kwargs.get("parse_mode")), *args, **kwargs
        )


def make_bot(
    settings: Settings, token: str, label: str | None, chat_id: str | None = None
) -> LabelledBot:
    """The bot as ApplicationBuilder would build it (same pools, same rate limiter), writing
    into `settings.topic_id` of `chat_id`."""
    return LabelledBot(
        label,
        token=token,
        base_url=settings.api_base_url,
        chat_id=chat_id,
        topic_id=settings.topic_id,
        request=LeanRequest(connection_pool_size=256),
        get_updates_request=LeanRequest(connection_pool_size=1),
        rate_limiter=AIORateLimiter(max_retries=2),
    )
