"""Producer API: structured `processDetails` written from ikabot's side (contract section 3).

The contract is docs/contract.md; the import path it names is `telebot.details`.

An ikabot task (or custom module) calls these to publish its progress, so telebot needs no
per-task parsing::

    from telebot.details import save_process_details
    save_process_details(session, os.getpid(), {"action": "autoPirate",
                         "progress": {"done": 5, "total": 10, "unit": "missions"}})

`session` is ikabot's Session (only `mail`, `username`, `mundo`, `servidor` are used) or a
`Target`. Directory layout (7.6+): writers follow ikabot 7.7's rules, the exclusive lock on
`session.lock` around the read-modify-write (ikabot's own re-entrant lock when called inside
ikabot) and an atomic replace of the users file. Legacy layout (≤ 7.5): ikabot's file is never
written; the details go to telebot's sidecar file beside it (`sidecar.py`).
This is the only module of telebot that writes next to ikabot's data.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from telebot.errors import DataError
from telebot.ikabot import sidecar
from telebot.ikabot.safeio import UnsafeFile, atomic_write, flock_wait, read_text_capped


@dataclass(frozen=True)
class Target:
    """Where one game account's data lives: e-mail, then username/world/server."""

    email: str
    username: str
    world: str
    server: str
    password: str | None = field(default=None, repr=False)
    ikabot_path: Path | None = None

    @property
    def path(self) -> Path:
        if self.ikabot_path is not None:
            return Path(self.ikabot_path)
        env = os.environ.get("IKABOT_PATH", "").strip()
        return Path(env).expanduser() if env else Path.home() / ".ikabot"

    @classmethod
    def of(cls, session: Any, ikabot_path: Path | None = None) -> Target:
        """From an ikabot Session (`mail`, `username`, `mundo`, `servidor`, `password`)."""
        if isinstance(session, Target):
            return session
        return cls(
            str(getattr(session, "mail", "") or ""),
            str(session.username),
            str(session.mundo),
            str(session.servidor),
            getattr(session, "password", None),
            ikabot_path,
        )


def sanitize_email(email: str) -> str:
    """ikabot 7.6+'s users/<name>.json naming (sessionStorage.sanitize_email)."""
    if not email:
        return "default_user"
    name = re.sub(r'[@\s/\\:*?"<>|]', "_", str(email).strip().lower())
    return re.sub(r"_+", "_", name).strip("._") or "user"


LOCK_TIMEOUT = 10.0  # ikabot holds its lock for milliseconds; longer means something is stuck


@contextmanager
def _flock(lock_path: Path, timeout: float) -> Iterator[None]:
    """An exclusive flock, waited for at most `timeout` seconds (never forever)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if not flock_wait(fd, timeout):
            raise DataError(
                f"{lock_path} stayed locked for {timeout:g} s; is an ikabot "
                "process stuck? Not writing"
            )
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _ikabot_storage(directory: Path) -> Any:
    """ikabot's sessionStorage module, when this process runs ikabot on this very directory."""
    storage = sys.modules.get("ikabot.helpers.sessionStorage")
    if storage is None or not hasattr(storage, "_lock_guard"):
        return None
    try:
        return storage if os.path.samefile(storage.get_ikabot_dir(), directory) else None
    except (OSError, AttributeError):
        return None


@contextmanager
def exclusive_lock(directory: Path, timeout: float | None = None) -> Iterator[None]:
    """ikabot 7.7's writer lock on `session.lock`, shared by every ikabot writer and us.

    Called from inside ikabot (a task publishing its details) the caller may already hold
    ikabot's own lock: it is re-entrant within ikabot's process, but a second descriptor of
    ours would wait for it forever. So when ikabot's module is loaded for this directory we
    go through its in-process guard (re-entering if this thread holds it), and every wait
    has a timeout.
    """
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    storage = _ikabot_storage(directory)
    if storage is None:
        with _flock(directory / "session.lock", timeout):
            yield
        return
    guard = storage._lock_guard
    if not guard.acquire(timeout=timeout):
        raise DataError(f"ikabot's session lock stayed taken for {timeout:g} s; not writing")
    try:
        if storage._lock_depth > 0:  # this thread is inside ikabot's lock already
            yield
        else:
            with _flock(directory / "session.lock", timeout):
                yield
    finally:
        guard.release()


R = TypeVar("R")
Edit = Callable[[dict[str, Any]], R]  # what an edit returns, modify_account returns


def _server_data(root: dict[str, Any], t: Target) -> dict[str, Any]:
    worlds = root.setdefault(t.username, {})
    servers = worlds.setdefault(t.world, {})
    server: dict[str, Any] = servers.setdefault(t.server, {})
    return server


def modify_account(target: Target, edit: Edit[R]) -> R:
    """Run `edit` on this account's username/world/server dict, under the layout's rules."""
    path = target.path
    if path.is_dir():
        return _modify_directory(path, target, edit)
    if path.is_file():
        return _modify_legacy(path, target, edit)
    raise DataError(f"{path} does not exist: set IKABOT_PATH to ikabot's data")


def _read_users_file(file: Path) -> dict[str, Any]:
    """This account's users file, or a clear DataError for anything we must not replace."""
    if file.is_symlink():
        raise DataError(
            f"{file} is a symlink; not replacing it (ikabot writes a regular file there)"
        )
    if not os.path.lexists(file):
        return {}
    try:
        data = json.loads(read_text_capped(file))
    except UnsafeFile as e:
        raise DataError(f"{file}: {e}; not writing to it") from None
    except UnicodeDecodeError:
        raise DataError(f"{file} is not UTF-8 text; not writing to it") from None
    except (ValueError, RecursionError):
        raise DataError(f"{file} is not valid JSON; not writing to it") from None
    except OSError as e:
        raise DataError(f"cannot read {file}: {e.strerror}; not writing to it") from None
    if not isinstance(data, dict):
        raise DataError(f"{file} does not hold a JSON object; not writing to it")
    return data


def _modify_directory(path: Path, t: Target, edit: Edit[R]) -> R:
    users = path / "users"
    file = users / f"{sanitize_email(t.email)}.json"
    with exclusive_lock(path):
        data = _read_users_file(file)
        data.setdefault("email", t.email)
        data.setdefault("shared", {})
        players = data.setdefault("players", {})
        result = edit(_server_data(players, t))
        users.mkdir(parents=True, exist_ok=True)
        atomic_write(file, json.dumps(data, indent=2, ensure_ascii=False))
    return result


def _modify_legacy(path: Path, t: Target, edit: Edit[R]) -> R:
    """ikabot ≤ 7.5's file is never written: the details go to telebot's sidecar beside it."""
    return sidecar.update(
        path, lambda data: edit(_server_data(sidecar.account(data, t.email), t)), LOCK_TIMEOUT
    )


def _target(session: Any, ikabot_path: Path | None) -> Target:
    return Target.of(session, ikabot_path)


def save_process_details(
    session: Any, pid: int, details: dict[str, Any], *, ikabot_path: Path | None = None
) -> dict[str, Any]:
    """Merge `details` into this pid's entry (stamped with `timestamp`), and return it."""

    def edit(server: dict[str, Any]) -> dict[str, Any]:
        all_details = server.get("processDetails")
        if not isinstance(all_details, dict):
            all_details = server["processDetails"] = {}
        current = all_details.get(str(pid))
        merged = dict(current) if isinstance(current, dict) else {}
        merged.update(details)
        merged["timestamp"] = time.time()
        all_details[str(pid)] = merged
        return merged

    return modify_account(_target(session, ikabot_path), edit)


def get_process_details(
    session: Any, pid: int, *, ikabot_path: Path | None = None
) -> dict[str, Any] | None:
    """This pid's details as stored, or None. Reads only."""
    t = _target(session, ikabot_path)
    path = t.path
    if path.is_dir():
        file = path / "users" / f"{sanitize_email(t.email)}.json"
        try:  # never blocks: a FIFO or a device there is refused, not read
            data = json.loads(read_text_capped(file)).get("players", {})
        except (OSError, ValueError, RecursionError, AttributeError):
            return None
    elif path.is_file():
        try:
            data = sidecar.details_of(sidecar.load(path), t.email)
        except (OSError, ValueError):
            return None
    else:
        return None
    try:
        found = data[t.username][t.world][t.server]["processDetails"][str(pid)]
    except (KeyError, TypeError):
        return None
    return found if isinstance(found, dict) else None


def delete_process_details(session: Any, pid: int, *, ikabot_path: Path | None = None) -> bool:
    """Remove this pid's details; True if there were any."""

    def edit(server: dict[str, Any]) -> bool:
        all_details = server.get("processDetails")
        return isinstance(all_details, dict) and all_details.pop(str(pid), None) is not None

    return modify_account(_target(session, ikabot_path), edit)


Alive = Callable[[int, float], bool]  # is pid still the process that started at this time?


def cleanup_dead_details(
    session: Any, *, alive: Alive, ikabot_path: Path | None = None
) -> list[int]:
    """Drop the details of every pid that is no longer its task's process; the pids dropped.

    `alive` answers for one pid (`telebot.details` passes process watching's answer: this
    module reads and writes ikabot's files and knows nothing of processes)."""

    def edit(server: dict[str, Any]) -> list[int]:
        all_details = server.get("processDetails")
        if not isinstance(all_details, dict):
            return []
        dead = []
        for key, value in list(all_details.items()):
            ts = value.get("timestamp", 0) if isinstance(value, dict) else 0
            started = ts if isinstance(ts, (int, float)) else 0
            if not (key.isdigit() and alive(int(key), started)):
                dead.append(int(key) if key.isdigit() else -1)
                del all_details[key]
        return sorted(dead)

    return modify_account(_target(session, ikabot_path), edit)
