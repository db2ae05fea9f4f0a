"""ikabot 7.7.2's own menu, offline: `python offline_ikabot.py --home H --log L --gates G`.

What runs is ikabot's `command_line.main`: its menu, its banners and clears, its configurators
(their `read`, `getpass` and `enter()`), its `multiprocessing` tasks and its process list. Only
the internet's edge is stubbed:
- the login's network part: ikabot's own `Session.__login` asks its questions ("Mail:", and
  "Password:" with echo off for an account it has no session for), then stops where it would
  open its first HTTP session; the account's identity comes from `--account` instead of the
  lobby (any password is taken, as a game that accepted it);
- the game's HTTP, Telegram's HTTP and the fortress lookup (`ikabotdata.stub_game`; a task's
  mission waits for the gate `G/<pid>-run-k`);
- the update check (`pip search`).
With the gate `G/slow-menu` there, the menu, back from a task's configurator, waits for the gate
`G/menu-back` before it shows its main menu again (a slow redraw, made certain).
ikabot's log goes to `--log` (never /tmp/ikabot.log): set before ikabot's logging is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path


class _PromptsDone(Exception):
    """ikabot's login asked what it asks; the next step would be the network."""


def _no_network(*args: object, **kwargs: object) -> None:
    raise _PromptsDone


def stub_login(identity: dict[str, tuple[str, str, str]]) -> None:
    """ikabot's login with its prompts, without the lobby: `identity` maps e-mail (lower case)
    to (username, world, server); an unknown mail logs in as the first one."""
    import ikabot.config as config
    from ikabot.helpers.logging import setLoggedInPlayer
    from ikabot.web import session as ws

    real = ws.Session._Session__login  # type: ignore[attr-defined]

    def login(self: ws.Session, retries: int = 0) -> None:
        ws.requests.Session = _no_network  # type: ignore[assignment,misc]
        with contextlib.suppress(_PromptsDone):
            real(self, retries)
        username, world, server = identity.get((self.mail or "").lower(),
                                               next(iter(identity.values())))
        self.username, self.mundo, self.servidor, self.word = username, world, server, "Alpha"
        config.infoUser = f"Server:{server}, World:Alpha, Player:{username}"
        setLoggedInPlayer(username)
        self.host = f"s{world}-{server}.ikariam.gameforge.com"
        self.urlBase = f"https://{self.host}/index.php?"
        self.logged = True

    ws.Session._Session__login = login  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--gates", required=True)
    parser.add_argument("--account", action="append", default=[],
                        help="email,username,world,server")
    parser.add_argument("--no-fortress", action="store_true")
    args = parser.parse_args()

    import ikabot.config as config

    config.LOGS_DIRECTORY_FILE = args.log
    import ikabot.helpers.logging  # noqa: F401  ikabot's own log, into the test's file

    sys.path.insert(0, str(Path(__file__).parent))
    from ikabotdata import stub_game, until

    stub_game(args.gates, fortress=not args.no_fortress, per_pid=True)
    import ikabot.command_line as command_line

    command_line.checkForUpdate = lambda: None  # `pip search`: the internet
    shown = command_line.show_proxy  # called as each main menu starts to be drawn
    visits = iter(range(10**6))

    def show_proxy(session: object) -> None:
        if next(visits) and os.path.exists(os.path.join(args.gates, "slow-menu")):
            until(args.gates, "menu-back")
        shown(session)

    command_line.show_proxy = show_proxy
    identity = {}
    for spec in args.account:
        email, username, world, server = spec.split(",")
        identity[email.lower()] = (username, world, server)
    stub_login(identity or {"": ("offline", "59", "en")})
    os.environ["HOME"] = args.home
    sys.argv = [sys.argv[0]]  # ikabot reads its arguments as answers
    command_line.main()


if __name__ == "__main__":
    main()
