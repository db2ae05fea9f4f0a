"""What Telegram's errors mean for whoever talks to it (the alert outbox, the shared poller):
a neutral module, so the alerts stage does not reach into the bot stage for it."""

from __future__ import annotations

from telegram.error import RetryAfter


def retry_after_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait (python-telegram-bot gives seconds or a timedelta)."""
    value = error.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)
