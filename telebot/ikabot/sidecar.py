"""`processDetails` for the legacy layout, kept in a file of telebot's beside `~/.ikabot`.

ikabot ≤ 7.5 rewrites `~/.ikabot` in place (truncate, then write) without a lock. Any other
writer of that file can read it inside the truncate window, see no line for its account, and
write back a file that has lost every other account, the Telegram config and the cookies; an
atomic replace would also detach ikabot's own in-flight write. So the producer API never
writes ikabot's file on that layout: details live here, in `<ikabot file>.telebot-details.json`
(owner-only, replaced atomically), and the store merges them in when it reads.

Layout: `{"version": 1, "accounts": {"<sha256("ikabot"+e-mail)>": {"<username>": {"<world>":
{"<server>": {"processDetails": {"<pid>": {...}}}}}}}}` — the e-mail's entry key, as ikabot's
own file uses, so the file names no e-mail and needs no password.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from telebot.ikabot import legacy
from telebot.ikabot.safeio import atomic_write, read_text_capped

SUFFIX = ".telebot-details.json"
MAX_BYTES = 16 * 1024 * 1024


def path_for(ikabot_file: Path) -> Path:
    return ikabot_file.with_name(ikabot_file.name + SUFFIX)


def load(ikabot_file: Path) -> dict[str, Any]:
    """The sidecar's content, or an empty one when it is missing, unreadable or not ours."""
    try:
        text = read_text_capped(path_for(ikabot_file), MAX_BYTES)
    except (OSError, ValueError):
        return {"version": 1, "accounts": {}}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {"version": 1, "accounts": {}}
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), dict):
        return {"version": 1, "accounts": {}}
    return data


def account(data: dict[str, Any], email: str) -> dict[str, Any]:
    """username → world → server → {"processDetails": …} of one e-mail (created if absent)."""
    return data["accounts"].setdefault(legacy.entry_key(email), {})


def save(ikabot_file: Path, data: dict[str, Any]) -> None:
    target = path_for(ikabot_file)
    atomic_write(target, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False),
                 mode=0o600)


def details_of(data: dict[str, Any], email: str) -> dict[str, Any]:
    """The account's part of a loaded sidecar, for the store to merge (never created)."""
    mine = data["accounts"].get(legacy.entry_key(email))
    return mine if isinstance(mine, dict) else {}


def stamp(ikabot_file: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path_for(ikabot_file))
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
