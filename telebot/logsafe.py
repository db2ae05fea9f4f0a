"""Keep secrets out of every log line.

httpx logs each request URL at INFO, and a Bot API URL contains the bot token; exception texts
from the HTTP stack can carry it too. The filter below rewrites every record that reaches a
handler, whatever logger produced it, so no code path has to remember.
"""

from __future__ import annotations

import logging
import re

_secrets: set[str] = set()
# Anything shaped like a bot token, even one we were never told about.
_TOKEN_SHAPE = re.compile(r"\b\d{3,12}:[A-Za-z0-9_-]{20,}\b")
_URL_TOKEN = re.compile(r"/bot[^/\s]+/")


def add_secret(secret: str | None) -> None:
    if secret and len(secret) >= 3:
        _secrets.add(secret)


def looks_secret(text: str) -> bool:
    """Is this text, or a part of it, a secret telebot knows or a bot token's shape?"""
    return any(s in text for s in _secrets) or _TOKEN_SHAPE.search(text) is not None


def redact(text: str) -> str:
    for s in sorted(_secrets, key=len, reverse=True):
        text = text.replace(s, "***")
    text = _URL_TOKEN.sub("/bot***/", text)
    return _TOKEN_SHAPE.sub("***", text)


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = clean, None
        return True


def setup_logging(level: int = logging.INFO, *secrets: str | None) -> None:
    """Log to stderr with the redacting filter on every handler; quiet the HTTP stack."""
    for s in secrets:
        add_secret(s)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    install_filter()
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # python-telegram-bot's DEBUG lines print every update in full: a password typed into
    # /menu (deleted from the chat, never stored) would be in them
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))


def install_filter() -> None:
    """Put the filter on every handler of the root logger (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
