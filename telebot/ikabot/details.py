"""Producer API: structured `processDetails` written from ikabot's side (DESIGN.md section 3).

An ikabot task (or custom module) calls these to publish its progress, so telebot needs no
per-task parsing::

    from telebot.ikabot.details import save_process_details
    save_process_details(session, os.getpid(), {"action": "autoPirate",
                         "progress": {"done": 5, "total": 10, "unit": "missions"}})

`session` is ikabot's Session (only `mail`, `username`, `mundo`, `servidor` and, for the legacy
layout, `password` are used) or a `Target`. Writers follow ikabot 7.7's rules: the exclusive
`flock` on `session.lock` around the read-modify-write, an atomic replace of the JSON file.
On the legacy file only this account's line changes; every other line is kept byte for byte.
This is the only module of telebot that writes ikabot's data.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telebot.errors import DataError
from telebot.ikabot import legacy
from telebot.processes import liveness


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
        return cls(str(getattr(session, "mail", "") or ""), str(session.username),
                   str(session.mundo), str(session.servidor),
                   getattr(session, "password", None), ikabot_path)


def sanitize_email(email: str) -> str:
    """ikabot 7.6+'s users/<name>.json naming (sessionStorage.sanitize_email)."""
    if not email:
        return "default_user"
    name = re.sub(r'[@\s/\\:*?"<>|]', "_", str(email).strip().lower())
    return re.sub(r"_+", "_", name).strip("._") or "user"


@contextmanager
def exclusive_lock(directory: Path) -> Iterator[None]:
    """ikabot 7.7's own writer lock: every ikabot writer and we serialise on it."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "session.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Temp file in the same directory, fsync, rename: a reader sees old or new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


Edit = Callable[[dict[str, Any]], Any]


def _server_data(root: dict[str, Any], t: Target) -> dict[str, Any]:
    worlds = root.setdefault(t.username, {})
    servers = worlds.setdefault(t.world, {})
    return servers.setdefault(t.server, {})


def modify_account(target: Target, edit: Edit) -> Any:
    """Run `edit` on this account's username/world/server dict, under the layout's rules."""
    path = target.path
    if path.is_dir():
        return _modify_directory(path, target, edit)
    if path.is_file():
        return _modify_legacy(path, target, edit)
    raise DataError(f"{path} does not exist: set IKABOT_PATH to ikabot's data")


def _modify_directory(path: Path, t: Target, edit: Edit) -> Any:
    users = path / "users"
    file = users / f"{sanitize_email(t.email)}.json"
    with exclusive_lock(path):
        try:
            data = json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}
        except ValueError:
            raise DataError(f"{file} is not valid JSON; not writing to it") from None
        data.setdefault("email", t.email)
        data.setdefault("shared", {})
        players = data.setdefault("players", {})
        result = edit(_server_data(players, t))
        users.mkdir(parents=True, exist_ok=True)
        atomic_write(file, json.dumps(data, indent=2, ensure_ascii=False))
    return result


def _modify_legacy(path: Path, t: Target, edit: Edit) -> Any:
    if not t.password:
        raise DataError("the legacy ikabot file needs the account password to write details")
    key = legacy.derive_key(t.email, t.password)
    wanted = legacy.entry_key(t.email)
    with _legacy_lock(path):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        data: dict[str, Any] = {}
        index = None
        for i, raw in enumerate(lines):
            if raw.strip().startswith(wanted):
                try:
                    data = legacy.decrypt(key, raw.strip()[64:])
                except legacy.DecryptError:
                    raise DataError("cannot decrypt this account's line: wrong password?") from None
                index = i
        result = edit(_server_data(data, t))
        line = f"{wanted} {legacy.encrypt(key, data)}"
        if index is None:
            lines.append(line)
        else:
            lines[index] = line
        atomic_write(path, "\n".join(lines) + "\n")
    return result


@contextmanager
def _legacy_lock(path: Path) -> Iterator[None]:
    """ikabot ≤ 7.5 has no lock; serialise our own writers on a lock beside the file."""
    import fcntl

    fd = os.open(f"{path}.telebot.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _target(session: Any, ikabot_path: Path | None) -> Target:
    return Target.of(session, ikabot_path)


def save_process_details(session: Any, pid: int, details: dict[str, Any], *,
                         ikabot_path: Path | None = None) -> dict[str, Any]:
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


def get_process_details(session: Any, pid: int, *,
                        ikabot_path: Path | None = None) -> dict[str, Any] | None:
    """This pid's details as stored, or None. Reads only."""
    t = _target(session, ikabot_path)
    path = t.path
    if path.is_dir():
        file = path / "users" / f"{sanitize_email(t.email)}.json"
        try:
            data = json.loads(file.read_text(encoding="utf-8")).get("players", {})
        except (OSError, ValueError, AttributeError):
            return None
    elif path.is_file() and t.password:
        key = legacy.derive_key(t.email, t.password)
        lines, _ = legacy.parse_lines(path.read_text(encoding="utf-8"))
        mine = [ln for ln in lines if ln.key == legacy.entry_key(t.email)]
        try:
            data = legacy.decrypt(key, mine[-1].ciphertext) if mine else {}
        except legacy.DecryptError:
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


def cleanup_dead_details(session: Any, *, ikabot_path: Path | None = None) -> list[int]:
    """Drop the details of every pid that is no longer its task's process; the pids dropped."""

    def edit(server: dict[str, Any]) -> list[int]:
        all_details = server.get("processDetails")
        if not isinstance(all_details, dict):
            return []
        dead = []
        for key, value in list(all_details.items()):
            ts = value.get("timestamp", 0) if isinstance(value, dict) else 0
            started = ts if isinstance(ts, (int, float)) else 0
            alive, _ = liveness.probe(int(key), started) if key.isdigit() else (False, None)
            if not alive:
                dead.append(int(key) if key.isdigit() else -1)
                del all_details[key]
        return sorted(dead)

    return modify_account(_target(session, ikabot_path), edit)
