"""ikabot's own menu, offline: what `/menu` opens in `telebot demo`, and what the tests drive.

What runs is ikabot's `command_line.main`: its menu, its banners and clears, its configurators
(their `read`, `getpass` and `enter()`), its `multiprocessing` tasks and its process list. Only
the internet's edge is stubbed:
- the login's network part: ikabot's own `Session.__login` asks its questions ("Mail:", and
  "Password:" with echo off for an account it has no session for), then stops where it would
  open its first HTTP session; the account's identity comes from `--account` instead of the
  lobby (any password is taken, as a game that accepted it);
- the game's HTTP, Telegram's HTTP and the fortress lookup (`stub_game`); a pirate mission
  lasts `--mission-seconds`, or until the gate `G/<pid>-run-k` exists (`--gates`, for tests);
- the update check (`pip search`).
And in case an entry of ikabot's menu reaches the internet some other way, every connection
and name lookup that would leave the machine is refused (`refuse_the_internet`): an e-mail and
password typed into the demo never reach the game.

ikabot is no dependency of telebot: nothing here imports it until `main` runs, in the menu's
own process (`available` says whether it can). ikabot's log goes to `--log`, set before
ikabot's logging is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import ipaddress
import os
import sys
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

# the code a launcher named `ikabot` runs (`demo.sample_tasks.launcher`): its command line is
# ikabot's console script's, so telebot takes the menu and its tasks for ikabot's
MAIN = (
    "import sys; from telebot.demo.offline_ikabot import main; raise SystemExit(main(sys.argv[1:]))"
)


def not_installed() -> str:
    """What /menu shows in a demo where ikabot is not installed: a stand-in that says so (in
    the demo's language: these are telebot's words, not ikabot's)."""
    from telebot.i18n import _

    said = _(
        "ikabot is not installed beside telebot, so its menu is not part of this demo.\n"
        "With ikabot installed in the same environment (pip install ikabot), /menu in the\n"
        "demo opens ikabot's own menu, offline: nothing you type there leaves the machine."
    )
    prompt = _("[Enter] or /cancel closes this.")
    return f"print({said!r})\nprint()\ninput({prompt!r})\n"


def available() -> bool:
    """Whether ikabot can be imported by this Python (the offline menu can run)."""
    return importlib.util.find_spec("ikabot") is not None


class _PromptsDone(Exception):
    """ikabot's login asked what it asks; the next step would be the network."""


def _no_network(*args: object, **kwargs: object) -> None:
    raise _PromptsDone


def _loopback(host: object) -> bool:
    if not isinstance(host, str):
        return host is None  # getaddrinfo(None, port): this machine
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def refuse_the_internet() -> None:
    """Refuse, in this process and every task it forks, a connection, datagram or name lookup
    that would leave the machine (Unix sockets and loopback stay: ikabot's multiprocessing
    manager, a web server on 127.0.0.1). An audit hook cannot be removed again."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if not event.startswith("socket."):
            return
        if event in ("socket.connect", "socket.sendto"):
            address = args[1]
            if isinstance(address, tuple) and not _loopback(address[0]):
                raise ConnectionRefusedError(f"offline ikabot: no connection to {address[0]}")
        elif event in (
            "socket.getaddrinfo",
            "socket.gethostbyname",
            "socket.gethostbyname_ex",
            "socket.gethostbyaddr",
        ) and not _loopback(args[0]):
            raise ConnectionRefusedError(f"offline ikabot: no name lookup of {args[0]}")

    sys.addaudithook(hook)


def stub_login(identity: dict[str, tuple[str, str, str]]) -> None:
    """ikabot's login with its prompts, without the lobby: `identity` maps e-mail (lower case)
    to (username, world, server); an unknown mail logs in as the first one."""
    import ikabot.config as config
    from ikabot.helpers.logging import setLoggedInPlayer
    from ikabot.web import session as ws

    real = ws.Session._Session__login

    def login(self: Any, retries: int = 0) -> None:
        ws.requests.Session = _no_network
        with contextlib.suppress(_PromptsDone):
            real(self, retries)
        username, world, server = identity.get(
            (self.mail or "").lower(), next(iter(identity.values()))
        )
        self.username, self.mundo, self.servidor, self.word = username, world, server, "Alpha"
        config.infoUser = f"Server:{server}, World:Alpha, Player:{username}"
        setLoggedInPlayer(username)
        self.host = f"s{world}-{server}.ikariam.gameforge.com"
        self.urlBase = f"https://{self.host}/index.php?"
        self.logged = True

    ws.Session._Session__login = login


def until(gates: str, name: str) -> None:
    """Block until the gate `gates/name` exists (a test opens it)."""
    while not os.path.exists(os.path.join(gates, name)):
        time.sleep(0.01)


def stub_game(
    gates: str | None, fortress: bool = True, per_pid: bool = False, mission_seconds: float = 3.0
) -> None:
    """Inside an ikabot process: stub the internet's edge and nothing else. Telegram's HTTP
    (`botComm.get`), the game's HTTP (`Session.get`/`post` answer nothing: no captcha, the
    crew left), the fortress lookup (one city with a fortress, or none), and autoPirate's
    `wait`: a mission's 150 s last `mission_seconds`, or, with `gates`, until `gates/run-k`
    exists (`gates/<pid>-run-k` with `per_pid`, for tasks forked from one menu that must end
    one by one)."""
    import ikabot.function.autoPirate as ap
    from ikabot.helpers import botComm
    from ikabot.web.session import Session

    botComm.get = lambda *a, **k: None
    runs = iter(range(1, 10**6))

    def wait(seconds: float, maxrandom: float = 0) -> None:
        if gates is None:
            time.sleep(mission_seconds)
            return
        name = f"run-{next(runs)}"
        until(gates, f"{os.getpid()}-{name}" if per_pid else name)

    ap.wait = wait
    city = {"id": 1}
    ap.getPiracyCityById = lambda session, city_id, choice: city if fortress else None
    ap.getPiracyCities = lambda session, choice: [city] if fortress else []
    Session.get = lambda self, *a, **k: ""
    Session.post = lambda self, *a, **k: ""


def prepare(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, ModuleType]:
    """Everything up to ikabot's `command_line.main`, which is returned (still to be run):
    a test may wrap more of it."""
    parser = argparse.ArgumentParser(prog="offline ikabot")
    parser.add_argument("--home", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--gates")
    parser.add_argument("--mission-seconds", type=float, default=3.0)
    parser.add_argument(
        "--account", action="append", default=[], help="email,username,world,server"
    )
    parser.add_argument("--no-fortress", action="store_true")
    args = parser.parse_args(argv)
    refuse_the_internet()

    import ikabot.config as config

    config.LOGS_DIRECTORY_FILE = args.log
    import ikabot.helpers.logging  # noqa: F401  ikabot's own log, into --log

    stub_game(
        args.gates,
        fortress=not args.no_fortress,
        per_pid=True,
        mission_seconds=args.mission_seconds,
    )
    import ikabot.command_line as command_line

    command_line.checkForUpdate = lambda: None  # `pip search`: the internet
    identity = {}
    for spec in args.account:
        email, username, world, server = spec.split(",")
        identity[email.lower()] = (username, world, server)
    stub_login(identity or {"": ("offline", "59", "en")})
    os.environ["HOME"] = args.home
    sys.argv = [sys.argv[0]]  # ikabot reads its arguments as answers
    return args, command_line


def main(argv: Sequence[str] | None = None) -> int:
    _, command_line = prepare(argv)
    command_line.main()
    return 0
