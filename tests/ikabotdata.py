"""Write ikabot data with ikabot's own code, for tests.

Directory layout (ikabot ≥ 7.6): `sessionStorage.init_storage`, `set_session_data`,
`process.updateProcessList` and the Session's status path (`updateProcessEntry`, which is what
`Session.setStatus` calls). Legacy layout (≤ 7.5): ikabot's `AESCipher` and entry key; ikabot
7.7 has no legacy writer left, so the JSON is assembled here.

ikabot finds its data through $HOME at call time, so every call runs inside `home(...)`.
`updateProcessList` keeps only live pids whose process name equals the caller's: tasks are
children started with `sys.executable`, like the test process itself. Their command line is
that of ikabot's console script (`python …/ikabot …`), as telebot checks.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ikabotlog  # noqa: F401  (before ikabot's: its log into a temp dir, not /tmp/ikabot.log)
from ikabot.function.constructionList import _formatRemainingTime
from ikabot.helpers import process as ika_process
from ikabot.helpers import sessionStorage
from ikabot.helpers.aesCipher import AESCipher
from ikabot.web.session import Session
from sessionguard import die_with_parent

from telebot.demo.offline_ikabot import stub_game, until  # noqa: F401  (tasks import them here)
from telebot.demo.sample_tasks import launcher
from telebot.details import Target, save_process_details


def building_status(city: str, building: str, level: int, current_s: int, total_s: int) -> str:
    """constructionList's status while a level is built, as ikabot 7.7.2 formats it (its own
    `_formatRemainingTime`: `1H 2M`, `3H`, `0S`)."""
    current, total = _formatRemainingTime(current_s), _formatRemainingTime(total_s)
    return f"{city}: {building} -> level {level} , current {current} , total {total}"


def queue_status(city: str, upgrades: int, total_s: int) -> str:
    """constructionList's first status, as ikabot 7.7.2's `do_it` writes it."""
    return f"{city}: queued {upgrades} upgrades | total {_formatRemainingTime(total_s)}"


BIN_ENV = "TEST_IKABOT_BIN_DIR"  # not TELEBOT_/IKABOT_: clean_env keeps it for children


def _launcher_dir() -> tuple[Path, bool]:
    """One directory for the whole test session: the task processes that import this module
    take their parent's (they are killed, so an atexit of theirs would never remove one).
    True: this process made it (and removes it, even when killed: tests/sessionguard.py)."""
    inherited = os.environ.get(BIN_ENV)
    if inherited and Path(inherited, "ikabot").is_file():
        return Path(inherited), False
    made = Path(tempfile.mkdtemp(prefix="ikabot-bin-"))
    os.environ[BIN_ENV] = str(made)
    atexit.register(shutil.rmtree, made, True)
    return made, True


_BIN, _MADE = _launcher_dir()
LAUNCHER = launcher(_BIN)
MADE = _BIN if _MADE else None


@contextmanager
def home(path: Path) -> Iterator[None]:
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old


IKABOT_TASK = """
import os, sys, time
sys.path.insert(0, {tests!r})
import ikabot.config as config
config.LOGS_DIRECTORY_FILE = {log!r}
import ikabot.helpers.logging  # ikabot's own rotating log, into the test's file
from ikabot.helpers import botComm
botComm.get = lambda *a, **k: None  # the only stub: Telegram's HTTP (the internet)
from ikabot.helpers.decorators import task
from ikabotdata import Account, home

@task("test")
def {action}(session):
    while not os.path.exists({trigger!r}):
        time.sleep(0.01)
    {body}

os.environ["HOME"] = {home!r}
{action}(Account({email!r}, {username!r}, {world!r}, {server!r}, password="pw").session())
"""


def ikabot_task(
    home_dir: Path,
    account: Account,
    log: Path,
    trigger: Path,
    body: str,
    action: str = "autoPirate",
) -> subprocess.Popen[bytes]:
    """A task run through ikabot's own `@task` wrapper: on an exception it sends (and so logs,
    with ikabot's logging) `Error in:…Cause:…`, then `session.logout()` = `os._exit(0)`."""
    return spawn_task(
        _child(IKABOT_TASK, home_dir, account, log, trigger=str(trigger), body=body, action=action)
    )


def _child(template: str, home_dir: Path, account: Account, log: Path, **more: Any) -> str:
    """A child task's code: ikabot's logging into `log`, $HOME and the account filled in."""
    return template.format(
        tests=str(Path(__file__).parent),
        log=str(log),
        home=str(home_dir),
        email=account.email,
        username=account.username,
        world=account.world,
        server=account.server,
        **more,
    )


REAL_AUTOPIRATE = """
import os, sys
sys.path.insert(0, {tests!r})
import ikabot.config as config
config.LOGS_DIRECTORY_FILE = {log!r}
import ikabot.helpers.logging  # ikabot's own rotating log, into the test's file
import ikabot.function.autoPirate as ap
from ikabotdata import Account, stub_game, until

stub_game({gates!r}, fortress={fortress!r})
os.environ["HOME"] = {home!r}
session = Account({email!r}, {username!r}, {world!r}, {server!r}, password="pw").session()
until({gates!r}, "start")  # the menu has recorded the task
ap.do_pirate_missions(session, pirateCount={runs!r}, pirateSchedule=False,
                      pirateMissionChoice=1, pirateMissionDayChoice=1,
                      pirateMissionNightChoice=1, dayStart=0, dayEnd=0, nightStart=0,
                      nightEnd=0, autoConvert="n", convertPerMission=0,
                      maxRandomWaitingTime=0, piracyCities=[])
"""


def real_autopirate(
    home_dir: Path, account: Account, log: Path, gates: Path, runs: int, fortress: bool = True
) -> subprocess.Popen[bytes]:
    """ikabot's own autoPirate task (`do_pirate_missions` through its `@task` wrapper, its
    `setStatus`, its logging, its `logout()`), with only the game stubbed: the fortress
    lookup, `session.post`, and `wait`, which holds run k until `gates/run-k` exists. The task
    starts once `gates/start` exists (after the test recorded it as ikabot's menu would)."""
    gates.mkdir(parents=True, exist_ok=True)
    return spawn_task(
        _child(
            REAL_AUTOPIRATE, home_dir, account, log, gates=str(gates), fortress=fortress, runs=runs
        )
    )


def exec_done(p: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """`p` once the kernel shows its new command line.

    Popen returns when the exec closed its close-on-exec pipe, which the kernel does before it
    sets up the new program's arguments: for a moment `/proc/<pid>/cmdline` is empty, and the
    process is no one's yet (seen 3 times in 300 spawns on a loaded machine).
    """
    deadline = time.monotonic() + 30  # as util.DEADLINE
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if Path(f"/proc/{p.pid}/cmdline").read_bytes():
                break
        except OSError:
            break
        time.sleep(0.001)
    return p


def spawn_task(code: str = "import time; time.sleep(600)") -> subprocess.Popen[bytes]:
    """A real task process, named like the test process (ikabot checks process names), with
    ikabot's command line (telebot checks it)."""
    return exec_done(
        subprocess.Popen(
            [sys.executable, str(LAUNCHER), code],
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),
        )
    )


def other_program(code: str = "import time; time.sleep(600)") -> subprocess.Popen[bytes]:
    """A process that is not ikabot's (a pid reused by another program)."""
    return exec_done(
        subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.DEVNULL, preexec_fn=die_with_parent()
        )
    )


@dataclass(frozen=True)
class Account:
    email: str
    username: str
    world: str = "59"
    server: str = "en"
    password: str = field(default="pw", repr=False)

    def session(self) -> Session:
        """An ikabot Session that never logged in: enough for its storage code."""
        s = Session.__new__(Session)
        s.mail, s.password = self.email, self.password
        s.username, s.mundo, s.servidor = self.username, self.world, self.server
        s.padre = False
        s.logger = logging.getLogger("ikabot-test")
        return s


class IkabotDir:
    """An ikabot ≥ 7.6 data directory at `<home>/.ikabot`, written by ikabot's code."""

    def __init__(self, home_dir: Path) -> None:
        self.home = home_dir
        self.path = home_dir / ".ikabot"
        with home(self.home):
            sessionStorage.init_storage()

    def set_telegram(self, token: str, chat_id: str, account: Account | None = None) -> None:
        acc = account or Account("telegram@example.org", "nobody")
        with home(self.home):
            sessionStorage.set_session_data(
                acc.session(), {"telegram": {"botToken": token, "chatId": chat_id}}, shared=True
            )

    def add_task(
        self,
        account: Account,
        pid: int,
        action: str,
        status: str = "started",
        date: float | None = None,
    ) -> None:
        entry = {
            "pid": pid,
            "action": action,
            "date": time.time() if date is None else date,
            "status": status,
        }
        with home(self.home):
            ika_process.updateProcessList(account.session(), programprocesslist=[entry])

    def set_status(self, account: Account, pid: int, status: str) -> None:
        with home(self.home):
            account.session().updateProcessEntry(pid, status=status)

    def target(self, account: Account) -> Target:
        return Target(
            account.email,
            account.username,
            account.world,
            account.server,
            account.password,
            self.path,
        )

    def add_pirate(
        self, account: Account, pid: int, done: int = 5, total: int = 10, status: str | None = None
    ) -> None:
        """An autoPirate whose progress is in processDetails (the producer API)."""
        self.add_task(
            account, pid, "autoPirate", status or f"Pirating for {total - done} more runs"
        )
        save_process_details(
            self.target(account),
            pid,
            {
                "action": "autoPirate",
                "missions": {"total": total, "completed": done, "remaining": total - done},
            },
        )

    def add_webserver(
        self, account: Account, pid: int, port: int = 43527, lan: str | None = "192.168.1.100"
    ) -> None:
        """A webServer with ikabot's own status string (set through setStatus's path)."""
        self.add_task(account, pid, "webServer")
        also = f"and http://{lan}:{port}" if lan else ""
        self.set_status(account, pid, f"running on http://127.0.0.1:{port} {also}")

    def user_file(self, account: Account) -> Path:
        with home(self.home):
            return Path(sessionStorage.get_user_file_path(account.email))

    def session_data(self, account: Account) -> dict[str, Any]:
        """What ikabot itself reads back for this account."""
        with home(self.home):
            return sessionStorage.get_session_data(account.session())


def entry_key(email: str) -> str:
    """ikabot's AESCipher.getEntryKey formula."""
    return hashlib.sha256(b"ikabot" + email.encode("utf-8")).hexdigest()


class LegacyFile:
    """An ikabot ≤ 7.5 `~/.ikabot` file, encrypted with ikabot's AESCipher."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, Any]] = {}  # e-mail → plaintext JSON
        self.passwords: dict[str, str] = {}
        self.extra_lines: list[str] = []

    def set_telegram(self, account: Account, token: str, chat_id: str) -> None:
        self._data(account)["shared"]["telegram"] = {"botToken": token, "chatId": chat_id}
        self.write()

    def _data(self, account: Account) -> dict[str, Any]:
        self.passwords[account.email] = account.password
        return self.data.setdefault(account.email, {"shared": {}})

    def server(self, account: Account) -> dict[str, Any]:
        data = self._data(account)
        return (
            data.setdefault(account.username, {})
            .setdefault(account.world, {})
            .setdefault(account.server, {"processList": [], "cookies": {}})
        )

    def add_task(
        self,
        account: Account,
        pid: int,
        action: str,
        status: str = "started",
        date: float | None = None,
    ) -> None:
        self.server(account)["processList"].append(
            {
                "pid": pid,
                "action": action,
                "date": time.time() if date is None else date,
                "status": status,
            }
        )
        self.write()

    def set_status(self, account: Account, pid: int, status: str) -> None:
        for p in self.server(account)["processList"]:
            if p["pid"] == pid:
                p["status"] = status
        self.write()

    def lines(self) -> list[str]:
        return [
            f"{entry_key(email)} "
            f"{AESCipher(email, self.passwords[email]).encrypt(json.dumps(data))}"
            for email, data in self.data.items()
        ] + self.extra_lines

    def write(self) -> None:
        """In place, like ikabot ≤ 7.5: open("w") then write, no lock, not atomic."""
        with open(self.path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.lines()) + "\n")

    def target(self, account: Account) -> Target:
        return Target(
            account.email,
            account.username,
            account.world,
            account.server,
            account.password,
            self.path,
        )

    def decrypt(self, account: Account) -> dict[str, Any]:
        """Read the account back with ikabot's own cipher."""
        for line in self.path.read_text().splitlines():
            if line.startswith(entry_key(account.email)):
                return json.loads(
                    AESCipher(account.email, account.password).decrypt(line[64:].strip())
                )
        raise KeyError(account.email)
