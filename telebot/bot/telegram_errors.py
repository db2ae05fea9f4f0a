"""What Telegram's errors mean for whoever talks to it in the bot stage (the alerts' way out,
`alert_out`; the shared poller; the chat check): one reading of python-telegram-bot's errors."""

from __future__ import annotations

from telegram.error import BadRequest, Forbidden, RetryAfter

from telebot.logsafe import redact


def retry_after_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait (python-telegram-bot gives seconds or a timedelta)."""
    value = error.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


def refusal(error: BaseException) -> str | None:
    """'403: bot was blocked by the user' when Telegram refuses the chat itself (the same
    send may work later, once the owner acts); None for any other error."""
    said = str(getattr(error, "message", error))
    if isinstance(error, Forbidden):
        return "403: " + redact(said.removeprefix("Forbidden: "))
    if isinstance(error, BadRequest) and "chat not found" in said.lower():
        return "400: chat not found"
    # TELEBOT_TOPIC_ID's topic deleted or closed (or the group no forum any more): held like
    # a refusing chat, since an admin reopening the topic makes the same send work again
    if isinstance(error, BadRequest) and any(
        s in said.lower() for s in ("message thread not found", "topic_closed", "topic_deleted")
    ):
        return "400: " + redact(said.removeprefix("Bad Request: "))
    return None
