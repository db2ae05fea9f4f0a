"""What starts ikabot's menu, and with which environment.

Under systemd (a user unit, `deploy/telebot.service`) everything telebot starts lives in the
service's control group, and `systemctl --user stop/restart telebot` kills that whole group:
ikabot's tasks with it. So when telebot runs as a systemd service and `systemd-run` can reach
the user manager, the menu is started in a transient scope of its own
(`systemd-run --user --scope`, which execs the command: the pid stays the menu's), and its
tasks, forked into that scope, outlive the service.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from telebot.config import Settings

# never handed to ikabot: telebot's own settings and secrets
_KEPT_OUT = ("TELEBOT_", "IKABOT_PASSWORD", "IKABOT_EMAIL", "TELEGRAM_API_BASE_URL")


def menu_command(settings: Settings, env: dict[str, str] | None = None) -> list[str] | None:
    """IKABOT_COMMAND, else the `ikabot` script beside this Python (ikabot installed in the
    same environment as telebot), else `ikabot` on PATH; None when there is none. Wrapped in
    a scope of its own under systemd (`own_scope`)."""
    env = dict(os.environ) if env is None else env
    if settings.ikabot_command:
        argv = list(settings.ikabot_command)
    else:
        beside = Path(sys.executable).parent / "ikabot"
        found = (
            str(beside)
            if beside.is_file() and os.access(beside, os.X_OK)
            else shutil.which("ikabot", path=env.get("PATH"))
        )
        if found is None:
            return None
        argv = [found]
    return own_scope(env) + argv


def own_scope(env: dict[str, str]) -> list[str]:
    """`systemd-run --user --scope …` when telebot is a systemd service (INVOCATION_ID) and the
    user manager's bus is there; nothing otherwise (a shell, Docker, a plain process)."""
    runtime_dir = env.get("XDG_RUNTIME_DIR", "")
    tool = shutil.which("systemd-run", path=env.get("PATH"))
    if (
        not env.get("INVOCATION_ID")
        or tool is None
        or not runtime_dir
        or not Path(runtime_dir, "bus").exists()
    ):
        return []
    return [
        tool,
        "--user",
        "--scope",
        "--quiet",
        "--collect",
        "--description=ikabot menu started from Telegram by telebot",
    ]


def menu_env(settings: Settings) -> dict[str, str]:
    """telebot's environment without its own settings, HOME set so that ikabot finds the
    data telebot reads (ikabot always uses `$HOME/.ikabot`), and a terminal type."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_KEPT_OUT)}
    if settings.ikabot_path.name == ".ikabot":
        env["HOME"] = str(settings.ikabot_path.parent)
    env["TERM"] = "xterm"
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env
