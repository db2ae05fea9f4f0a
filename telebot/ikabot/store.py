"""Read ikabot's data, in either layout, into a `Snapshot`. Read-only, always.

ikabot ≤ 7.5 keeps one encrypted file that it rewrites in place without a lock, so a read can
catch it empty or half-written: such a read is retried, and if it stays bad the last good
snapshot is returned (with a warning) instead of "all tasks are gone". ikabot ≥ 7.6 keeps a
directory of JSON files replaced atomically; 7.7 writers hold an exclusive `flock` on
`session.lock`, so telebot reads under a brief *shared* lock on it, never an exclusive one,
and never creates anything there.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from telebot.config import TelegramConfig
from telebot.errors import DataError, TornRead
from telebot.i18n import _, ngettext
from telebot.ikabot import legacy, sidecar
from telebot.ikabot.clean import clean, clean_text, loads_clean
from telebot.ikabot.records import AccountData, AccountKey, Layout, Snapshot
from telebot.ikabot.safeio import (
    DEFAULT_CAP,
    UnsafeFile,
    owner_of,
    read_bytes_capped,
    read_text_capped,
)

RETRIES = 6
BACKOFF = 0.01  # doubled each retry: about 0.6 s in all, longer than ikabot takes to write
LOCK_WAIT = 2.0


# ---------------------------------------------------------------- shared helpers


PID_MAX = 2**22  # Linux's largest pid_max: a bigger pid is no process at all


def _clean_entry(entry: Any) -> dict[str, Any] | None:
    """A processList entry with the four fields typed, or None when it cannot be a task: no
    usable pid (past pid_max, `"²"`, which `isdigit()` takes), or a date that is not a finite
    number (Python's json, and so ikabot, can write NaN and Infinity)."""
    if not isinstance(entry, dict):
        return None
    pid = entry.get("pid")
    if isinstance(pid, str) and pid.isascii() and pid.isdigit() and len(pid) < 12:
        pid = int(pid)
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= PID_MAX:
        return None
    date = entry.get("date")
    if isinstance(date, bool) or not isinstance(date, (int, float)):
        date = 0.0  # no date (or not a number): undated, looked at on every read
    elif not math.isfinite(date) or not 0 <= date < 2**33:
        return None
    status = entry.get("status")
    action = entry.get("action")
    return {
        **entry,
        "pid": pid,
        "action": action if isinstance(action, str) else "?",
        "date": float(date),
        "status": status if isinstance(status, str) else "",
    }


def accounts_from(
    email: str | None, players: Any, warnings: list[str] | None = None
) -> list[AccountData]:
    """username → world → server → {processList, processDetails} into AccountData rows.

    A bad entry is dropped alone, and counted in `warnings`: one entry must never break a read.
    """
    out: list[AccountData] = []
    dropped = undated = 0
    if not isinstance(players, dict):
        return out
    for username, worlds in players.items():
        if username == "shared" or not isinstance(worlds, dict):
            continue
        for world, servers in worlds.items():
            if not isinstance(servers, dict):
                continue
            for server, data in servers.items():
                if not isinstance(data, dict):
                    continue
                plist = data.get("processList")
                raw = plist if isinstance(plist, list) else []
                entries = [e for e in map(_clean_entry, raw) if e is not None]
                dropped += len(raw) - len(entries)
                undated += sum(e["date"] == 0.0 for e in entries)
                raw_details = data.get("processDetails")
                details = (
                    {str(k): v for k, v in (raw_details or {}).items() if isinstance(v, dict)}
                    if isinstance(raw_details, dict)
                    else {}
                )
                out.append(
                    AccountData(
                        AccountKey(email, str(username), str(world), str(server)), entries, details
                    )
                )
    if dropped and warnings is not None:
        warnings.append(
            ngettext(
                "skipped {n} processList entry of {account} with no usable pid or date",
                "skipped {n} processList entries of {account} with no usable pid or date",
                dropped,
            ).format(n=dropped, account=email or _("an account"))
        )
    if undated and warnings is not None:
        # ikabot's menu always records a date; without one an ikabot process that got the
        # pid later cannot be told from the task
        warnings.append(
            ngettext(
                "{n} processList entry of {account} without a date: a live "
                "ikabot process with that pid is taken for the task",
                "{n} processList entries of {account} without a date: a live "
                "ikabot process with that pid is taken for the task",
                undated,
            ).format(n=undated, account=email or _("an account"))
        )
    return out


def telegram_from(shared: Any) -> TelegramConfig:
    tg = shared.get("telegram") if isinstance(shared, dict) else None
    if not isinstance(tg, dict):
        return TelegramConfig()
    token, chat = tg.get("botToken"), tg.get("chatId")
    return TelegramConfig(
        bot_token=str(token).strip() if token else None,
        chat_id=str(chat).strip() if chat not in (None, "") else None,
    )


class _KeyCache:
    """Derived legacy keys, one per (e-mail, password): the stretching is the slow part."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], bytes] = {}

    def get(self, email: str, password: str) -> bytes:
        k = (email, password)
        if k not in self._keys:
            self._keys[k] = legacy.derive_key(email, password)
        return self._keys[k]


def _legacy_text(path: Path, owner: int) -> str:
    """A legacy-format file's text (`safeio`: never hangs, only ikabot's user's file)."""
    return read_bytes_capped(path, DEFAULT_CAP, owner).decode("utf-8", "replace")


def _read_legacy_account(path: Path, email: str, key: bytes, owner: int) -> dict[str, Any]:
    """Decrypt one e-mail's line; TornRead when it is missing or broken this time;
    UnsafeFile when the file is not one telebot may trust."""
    try:
        text = _legacy_text(path, owner)
    except FileNotFoundError:
        raise TornRead("file missing") from None
    lines, _bad = legacy.parse_lines(text)
    wanted = legacy.entry_key(email)
    mine = [ln for ln in lines if ln.key == wanted]
    if not mine:
        raise TornRead("no line for this e-mail")
    last_error: Exception | None = None
    for line in reversed(mine):  # the newest line wins if ikabot ever appended one
        try:
            account = legacy.decrypt(key, line.ciphertext)
            return {clean(k): clean(v) for k, v in account.items()}
        except legacy.DecryptError as e:
            last_error = e
    raise TornRead(str(last_error))


def _retry(read: Any) -> Any:
    delay = BACKOFF
    for attempt in range(RETRIES):
        try:
            return read()
        except TornRead:
            if attempt == RETRIES - 1:
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- the stores


@dataclass(frozen=True)
class IkabotData:
    """What a store reads: where ikabot's data is, and the e-mail and password ikabot logs in
    with (needed for ikabot ≤ 7.5's encrypted file; the e-mail keeps one account of a
    directory). Nothing else of telebot's settings."""

    path: Path
    email: str | None = None
    password: str | None = field(default=None, repr=False)


class GivesIkabotData(Protocol):
    """Anything that says where ikabot's data is (telebot's `config.Settings` does)."""

    @property
    def ikabot_path(self) -> Path: ...

    @property
    def email(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...


def ikabot_data(given: IkabotData | GivesIkabotData) -> IkabotData:
    if isinstance(given, IkabotData):
        return given
    return IkabotData(given.ikabot_path, given.email, given.password)


@dataclass
class Store:
    """Base: `read()` returns a Snapshot; subclasses know one layout."""

    source: IkabotData
    layout: Layout = "directory"

    def __post_init__(self) -> None:
        self.owner = owner_of(self.path)  # ikabot's user: the only one whose files are read

    @property
    def path(self) -> Path:
        return self.source.path

    def read(self) -> Snapshot:  # pragma: no cover - abstract
        raise NotImplementedError


class LegacyStore(Store):
    """ikabot ≤ 7.5: `~/.ikabot` is one encrypted file; needs e-mail and password."""

    def __init__(self, source: IkabotData) -> None:
        super().__init__(source, "legacy")
        if not source.email or not source.password:
            raise DataError(
                _(
                    "{path} is ikabot's encrypted file (ikabot ≤ 7.5): set "
                    "IKABOT_EMAIL and IKABOT_PASSWORD to the account ikabot logs in "
                    "with"
                ).format(path=source.path)
            )
        self._keys = _KeyCache()
        self._last: Snapshot | None = None
        self._check_at_open()

    def _check_at_open(self) -> None:
        """Turn the first read's failures into the one line that says what to fix."""
        path, email = self.path, self.source.email or ""
        try:
            text = _retry(lambda: _nonempty(path, self.owner))
        except UnsafeFile as e:
            raise DataError(
                _("{path} is not read: {why}; check IKABOT_PATH").format(path=path, why=e)
            ) from None
        except TornRead:
            raise DataError(
                _(
                    "{path} is empty: it is not ikabot data, or ikabot never saved a "
                    "session there; check IKABOT_PATH"
                ).format(path=path)
            ) from None
        lines, _bad = legacy.parse_lines(text)
        if not lines:
            raise DataError(
                _("{path} is not an ikabot data file (no valid lines); check IKABOT_PATH").format(
                    path=path
                )
            ) from None
        if legacy.entry_key(email) not in {ln.key for ln in lines}:
            raise DataError(
                _(
                    "no account for IKABOT_EMAIL={email} in {path}; use the e-mail "
                    "you log in to ikabot with"
                ).format(email=email, path=path)
            )
        key = self._keys.get(email, self.source.password or "")
        try:
            self._last = self._snapshot(
                _retry(lambda: _read_legacy_account(path, email, key, self.owner))
            )
        except TornRead:
            raise DataError(
                _(
                    "cannot decrypt the account of {email} in {path}: "
                    "IKABOT_PASSWORD does not match (or the file is corrupt)"
                ).format(email=email, path=path)
            ) from None

    def _snapshot(self, data: dict[str, Any]) -> Snapshot:
        email = self.source.email
        said: list[str] = []
        accounts = accounts_from(email, {k: v for k, v in data.items() if k != "shared"}, said)
        warnings = said + _merge_sidecar(self.path, email or "", accounts, self.owner)
        return Snapshot(
            "legacy",
            self.path,
            telegram_from(data.get("shared")),
            accounts,
            [email] if email else [],
            time.time(),
            warnings,
        )

    def read(self) -> Snapshot:
        email = self.source.email or ""
        key = self._keys.get(email, self.source.password or "")
        try:
            data = _retry(lambda: _read_legacy_account(self.path, email, key, self.owner))
        except (TornRead, UnsafeFile) as e:
            if self._last is None:
                raise DataError(
                    _("cannot read {file}: {why}").format(file=self.path, why=e)
                ) from None
            last = self._last
            why = (
                _("skipped: {why}").format(why=e)
                if isinstance(e, UnsafeFile)
                else _("it was being rewritten")
            )
            return Snapshot(
                last.layout,
                last.path,
                last.telegram,
                last.accounts,
                last.emails,
                last.read_at,
                [_("kept the last good read of {path}: {why}").format(path=self.path, why=why)],
            )
        self._last = self._snapshot(data)
        return self._last


def _merge_sidecar(path: Path, email: str, accounts: list[AccountData], owner: int) -> list[str]:
    """Details the producer API keeps beside the legacy file (it never writes ikabot's).

    An unreadable sidecar costs only the details (a warning names it); the tasks still show.
    """
    try:
        mine = clean(sidecar.details_of(sidecar.load(path, owner), email))
    except (OSError, ValueError) as e:
        return [f"skipped {sidecar.path_for(path).name}: {_why(e)}"]
    for a in accounts:
        try:
            extra = mine[a.key.username][a.key.world][a.key.server]["processDetails"]
        except (KeyError, TypeError):
            continue
        if isinstance(extra, dict):
            a.process_details.update({str(k): v for k, v in extra.items() if isinstance(v, dict)})
    return []


def _why(e: BaseException) -> str:
    """A short reason for a skipped file, without a path (the warning names the file)."""
    if isinstance(e, OSError):
        return (e.strerror or type(e).__name__).lower()
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(e) or type(e).__name__


def _nonempty(path: Path, owner: int) -> str:
    try:
        text = _legacy_text(path, owner)
    except FileNotFoundError:
        raise TornRead("missing") from None
    if not text.strip():
        raise TornRead("empty")
    return text


@contextmanager
def shared_lock(directory: Path, wait: float = LOCK_WAIT) -> Iterator[bool]:
    """Hold ikabot 7.7's `session.lock` shared while reading, if it exists.

    Never created here (a reader must not write ikabot's directory); a writer that holds it
    longer than `wait` is not waited for, since atomic replaces keep each file whole anyway.
    """
    lock = directory / "session.lock"
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield False
            return
        deadline = time.monotonic() + wait
        held = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.005)
        yield held
    finally:
        os.close(fd)  # closing releases the lock


@dataclass
class _Cached:
    stamp: tuple[int, int, int]
    data: dict[str, Any]
    # (e-mail, rows, warnings) built from `data`
    accounts: tuple[str, list[AccountData], list[str]] | None = None


class DirectoryStore(Store):
    """ikabot ≥ 7.6: `~/.ikabot/` with global.json and users/<e-mail>.json."""

    def __init__(self, source: IkabotData) -> None:
        super().__init__(source, "directory")
        self._cache: dict[Path, _Cached] = {}
        self._keys = _KeyCache()
        self._legacy_last: dict[str, dict[str, Any]] = {}
        refuse_not_ikabots(self.path)
        refuse_unknown_email(self.read(), source.email)

    def _json(self, file: Path, warnings: list[str]) -> dict[str, Any] | None:
        """A JSON file's content, parsed again only when it changed; last good if broken."""
        try:
            st = file.stat()
        except FileNotFoundError:
            self._cache.pop(file, None)
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._cache.get(file)
        if cached and cached.stamp == stamp:
            return cached.data
        try:  # a FIFO, /dev/zero, another user's file: refused at once
            data = loads_clean(read_text_capped(file, owner=self.owner))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except UnsafeFile as e:
            warnings.append(_("{why}: skipped").format(why=e))
            self._cache.pop(file, None)  # what it said before is not trusted either
            return None
        except (OSError, ValueError, RecursionError):  # RecursionError: nested 100,000 deep
            warnings.append(
                _("{file} is unreadable or not JSON; kept its last good read").format(
                    file=file.name
                )
                if cached
                else _("{file} is unreadable or not JSON; skipped").format(file=file.name)
            )
            return cached.data if cached else None
        self._cache[file] = _Cached(stamp, data)
        return data

    def _accounts(
        self, file: Path, email: str, data: dict[str, Any], warnings: list[str]
    ) -> list[AccountData]:
        """The rows of one users file, built again only when the file changed: months of
        ikabot leave thousands of entries, and most reads find every file as it was. The rows
        are shared between reads, so nothing downstream may change them."""
        cached = self._cache.get(file)
        if cached is None or cached.data is not data:
            return accounts_from(email, data.get("players"), warnings)
        if cached.accounts is None or cached.accounts[0] != email:
            said: list[str] = []
            cached.accounts = (email, accounts_from(email, data.get("players"), said), said)
        warnings.extend(cached.accounts[2])
        return cached.accounts[1]

    def read(self) -> Snapshot:
        warnings: list[str] = []
        path = self.path
        want = (self.source.email or "").lower()
        with shared_lock(path):
            global_cfg = self._json(path / "global.json", warnings) or {}
            accounts: list[AccountData] = []
            emails: list[str] = []
            users = path / "users"
            files = sorted(users.glob("*.json")) if users.is_dir() else []
            for file in files:
                if file.name == "default_user.json":
                    continue
                data = self._json(file, warnings)
                if data is None:
                    continue
                given = data.get("email")
                email = (
                    given if isinstance(given, str) else clean_text(file.stem)
                )  # a file name may hold any bytes
                if want and email.lower() != want:
                    continue
                emails.append(email)
                accounts.extend(self._accounts(file, email, data, warnings))
            accounts.extend(self._migration(path, emails, warnings))
        for a in accounts:
            if a.key.email and a.key.email not in emails:
                emails.append(a.key.email)
        return Snapshot(
            "directory",
            path,
            telegram_from(global_cfg),
            accounts,
            emails,
            time.time(),
            [clean_text(w) for w in warnings],
        )  # file names in them

    def _migration(self, path: Path, known: list[str], warnings: list[str]) -> list[AccountData]:
        """Accounts still waiting in `.legacy_migration.enc` (not yet moved to users/)."""
        file = path / ".legacy_migration.enc"
        if not file.exists():
            return []
        email, password = self.source.email, self.source.password
        if not email or not password:
            warnings.append(
                _(
                    ".legacy_migration.enc holds accounts not migrated yet; set "
                    "IKABOT_EMAIL and IKABOT_PASSWORD to include them"
                )
            )
            return []
        if email.lower() in {e.lower() for e in known}:
            return []
        key = self._keys.get(email, password)
        try:  # under ikabot's shared lock: a FIFO here must not make both of them wait
            data = _retry(lambda: _read_legacy_account(file, email, key, self.owner))
            self._legacy_last[email] = data
        except UnsafeFile as e:
            warnings.append(_("{why}: its accounts were skipped").format(why=e))
            return []
        except OSError as e:
            warnings.append(
                _(".legacy_migration.enc is unreadable ({why}); its accounts were skipped").format(
                    why=e.strerror or e
                )
            )
            return []
        except TornRead:
            data = self._legacy_last.get(email)
            if data is None:
                warnings.append(
                    _(
                        ".legacy_migration.enc could not be read with IKABOT_EMAIL "
                        "and IKABOT_PASSWORD; its accounts were skipped"
                    )
                )
                return []
        return accounts_from(email, {k: v for k, v in data.items() if k != "shared"}, warnings)


def refuse_not_ikabots(path: Path) -> None:
    """A directory that is not ikabot's (yet) is said at start, with what to check."""
    if not (path / "global.json").exists() and not (path / "users").is_dir():
        if is_empty_dir(path):
            raise DataError(
                _(
                    "{path} is empty: ikabot has saved nothing there yet (log "
                    "in to ikabot once), or IKABOT_PATH points elsewhere"
                ).format(path=path)
            )
        raise DataError(
            _(
                "{path} is a directory but not ikabot's (no global.json, no "
                "users/); check IKABOT_PATH"
            ).format(path=path)
        )


def refuse_unknown_email(first: Snapshot, email: str | None) -> None:
    """IKABOT_EMAIL names an account ikabot's data does not have: said at start."""
    if email and email.lower() not in {e.lower() for e in first.emails}:
        skipped = "".join(f" ({w})" for w in first.warnings)  # e.g. a file not trusted
        raise DataError(
            _(
                "no account for IKABOT_EMAIL={email} in {path}{skipped}; use the "
                "e-mail you log in to ikabot with, or unset IKABOT_EMAIL for "
                "all"
            ).format(email=email, path=f"{first.path}/users", skipped=skipped)
        )


def is_empty_dir(path: Path) -> bool:
    """An empty directory: a fresh Docker volume before ikabot's first login."""
    try:
        return path.is_dir() and next(path.iterdir(), None) is None
    except OSError:
        return False


def open_store(given: IkabotData | GivesIkabotData) -> Store:
    """The store for ikabot's data at `given`'s path, or DataError with what to fix."""
    source = ikabot_data(given)
    path = source.path
    if not path.exists():
        raise DataError(
            _(
                "{path} does not exist: set IKABOT_PATH to ikabot's data, the "
                "~/.ikabot file (ikabot ≤ 7.5) or directory (ikabot ≥ 7.6)"
            ).format(path=path)
        )
    if path.is_dir():
        return DirectoryStore(source)
    if not os.access(path, os.R_OK):
        raise DataError(
            _("{path} is not readable by this user; run telebot as ikabot's user").format(path=path)
        )
    return LegacyStore(source)
