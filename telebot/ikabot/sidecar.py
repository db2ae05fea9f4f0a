"""`processDetails` for the legacy layout, kept in a file of telebot's beside `~/.ikabot`.

ikabot ≤ 7.5 rewrites `~/.ikabot` in place (truncate, then write) without a lock. Any other
writer of that file can read it inside the truncate window, see no line for its account, and
write back a file that has lost every other account, the Telegram config and the cookies; an
atomic replace would also detach ikabot's own in-flight write. So the producer API never
writes ikabot's file on that layout: details live here, in `<ikabot file>.telebot-details.json`
(owner-only, replaced atomically), and the store merges them in when it reads.

Writers lock the sidecar file itself (an flock on the descriptor, then a check that the path
still names that inode, since the writer before may have replaced it), so telebot adds exactly
one file beside ikabot's, and no lock file in `$HOME`.

Layout: `{"version": 1, "accounts": {"<sha256("ikabot"+e-mail)>": {"<username>": {"<world>":
{"<server>": {"processDetails": {"<pid>": {...}}}}}}}}` — the e-mail's entry key, as ikabot's
own file uses, so the file names no e-mail and needs no password.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from telebot.errors import DataError
from telebot.ikabot import legacy
from telebot.ikabot.safeio import atomic_write, flock_wait, read_text_capped

SUFFIX = ".telebot-details.json"
MAX_BYTES = 16 * 1024 * 1024


def path_for(ikabot_file: Path) -> Path:
    return ikabot_file.with_name(ikabot_file.name + SUFFIX)


def empty() -> dict[str, Any]:
    return {"version": 1, "accounts": {}}


def parse(text: str) -> dict[str, Any]:
    """A sidecar's text as data; ValueError when it is not one (RecursionError included)."""
    if not text.strip():
        return empty()
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), dict):
        raise ValueError("not telebot's details file")
    return data


def load(ikabot_file: Path, owner: int | None = None) -> dict[str, Any]:
    """The sidecar's content (empty when there is none yet).

    OSError or ValueError (`UnsafeFile`: not a regular file of `owner`, ikabot's user, or
    root, or writable by others; bad UTF-8, not JSON) when it cannot be read: the store names
    it in a warning and shows the tasks without it.
    """
    try:
        return parse(read_text_capped(path_for(ikabot_file), MAX_BYTES, owner))
    except FileNotFoundError:
        return empty()


def account(data: dict[str, Any], email: str) -> dict[str, Any]:
    """username → world → server → {"processDetails": …} of one e-mail (created if absent)."""
    players: dict[str, Any] = data["accounts"].setdefault(legacy.entry_key(email), {})
    return players


def details_of(data: dict[str, Any], email: str) -> dict[str, Any]:
    """The account's part of a loaded sidecar, for the store to merge (never created)."""
    mine = data["accounts"].get(legacy.entry_key(email))
    return mine if isinstance(mine, dict) else {}


R = TypeVar("R")


def update(ikabot_file: Path, edit: Callable[[dict[str, Any]], R], timeout: float) -> R:
    """Read-modify-write the sidecar under an exclusive flock on it; `edit`'s result.

    A sidecar that is not telebot's data (torn by hand, not JSON) is started afresh: it only
    ever holds what the producer API wrote. Every wait is bounded by `timeout`.
    """
    target = path_for(ikabot_file)
    deadline = time.monotonic() + timeout
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    while True:
        try:
            fd = os.open(target, flags, 0o600)
        except OSError as e:
            raise DataError(
                f"cannot open {target}: {e.strerror} (it must be a regular file "
                "of this user); not writing"
            ) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise DataError(f"{target} is not a regular file; not writing")
            if not flock_wait(fd, max(0.0, deadline - time.monotonic())):
                raise DataError(
                    f"{target} stayed locked for {timeout:g} s; is a task stuck? Not writing"
                )
            try:
                now = os.stat(target, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                continue  # replaced while we waited: lock the new one
            try:
                data = parse(read_text_capped(target, MAX_BYTES))
            except (OSError, ValueError):
                data = empty()
            result = edit(data)
            atomic_write(
                target, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False), mode=0o600
            )
            return result
        finally:
            os.close(fd)  # closing releases the lock
