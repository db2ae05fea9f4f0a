"""What starts ikabot's menu, and with which environment."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from telebot.config import Settings

# never handed to ikabot: telebot's own settings and secrets
_KEPT_OUT = ("TELEBOT_", "IKABOT_PASSWORD", "IKABOT_EMAIL", "TELEGRAM_API_BASE_URL")


def menu_command(settings: Settings) -> list[str] | None:
    """IKABOT_COMMAND, else the `ikabot` script beside this Python (ikabot installed in the
    same environment as telebot), else `ikabot` on PATH; None when there is none."""
    if settings.ikabot_command:
        return list(settings.ikabot_command)
    beside = Path(sys.executable).parent / "ikabot"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("ikabot")
    return [found] if found else None


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
