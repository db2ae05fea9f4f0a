"""Strings from ikabot's data that every later stage can handle.

Python's json reads `"\\ud83d"` (a lone UTF-16 surrogate) and `"\\u0000"` as they are; SQLite,
UTF-8 output and the Bot API refuse such strings (one in a status made `telebot run` exit at
start). They are replaced by U+FFFD where ikabot's data comes in (the store, ikabot's log), so
the state, the renderer and Telegram never see one, and nothing else about the data changes.
"""

from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT = "\ufffd"
# in JSON text they can only come as escapes: a text without one needs no look at its strings
_UNSAFE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with every lone surrogate and NUL replaced by U+FFFD; anything else kept."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _SURROGATE.sub(REPLACEMENT, text)
    return text


def clean(value: Any) -> Any:
    """JSON data with `clean_text` applied to every string, keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def loads_clean(text: str) -> Any:
    """`json.loads`, cleaned (only when the text has an escape that needs it)."""
    data = json.loads(text)
    return clean(data) if _UNSAFE_ESCAPE.search(text) else data
