"""The README's install block, run verbatim in an empty home directory, then `telebot --help`
and `telebot check` from that install (the block ends with them)."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from pathlib import Path

from conftest import ALICE, CHAT, TOKEN, clean_env
from ikabotdata import IkabotDir

from telebot.demo.fakeapi import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent


def install_block() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- install:begin -->", 1)[1].split("<!-- install:end -->", 1)[0]
    code = re.search(r"```bash\n(.*?)```", block, re.S)
    assert code, "no bash block between the install markers"
    return textwrap.dedent(code.group(1))


def test_the_install_block_has_no_placeholders():
    block = install_block()
    assert "<" not in block and "your" not in block.lower()
    assert "~/.config/telebot/.env" in block and "telebot check" in block


def test_readme_install_runs_verbatim_in_a_fresh_home(tmp_path: Path, api: FakeBotAPI):
    home = tmp_path / "home"
    home.mkdir()
    IkabotDir(home).set_telegram(TOKEN, CHAT, ALICE)  # ikabot set up with Telegram there
    env = clean_env(tmp_path)
    env.update(
        HOME=str(home),
        TELEGRAM_API_BASE_URL=api.base_url,
        # the machine's pip cache (this test's HOME is empty): PyPI only when it misses
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip"),
    )
    for name in (
        "TELEBOT_STATE_DIR",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
    ):
        env.pop(name, None)  # as on a fresh machine
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", install_block()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    env_file = home / ".config" / "telebot" / ".env"
    assert (env_file.stat().st_mode & 0o777) == 0o600
    assert (
        home / ".local" / "bin" / "telebot"
    ).resolve() == home / ".local" / "share" / "telebot" / "venv" / "bin" / "telebot"
    assert "usage: telebot" in r.stdout  # --help, from the installed command
    assert f"settings: {env_file}" in r.stdout and "all good" in r.stdout
    assert f"chat {CHAT}: private chat" in r.stdout
