"""Shared fixtures: real task processes, ikabot data written by ikabot, the CLI as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ikabotdata
import ikabotlog  # ikabot's log into a temp dir, not /tmp/ikabot.log (ikabotdata's first)
import pytest
import sessionguard
from ikabotdata import Account, IkabotDir, LegacyFile, building_status, other_program, spawn_task

from telebot.demo.fakeapi import FakeBotAPI

# nothing of the session outlives it, even a pytest killed mid-test: its processes, its dirs
sessionguard.start([d for d in (ikabotlog.MADE, ikabotdata.MADE) if d is not None])

TOKEN = "123:TEST"
CHAT = "42"
ALICE = Account("alice@example.org", "alice", "59", "en", password="alice-pw")
BOB = Account("bob@example.org", "bob", "12", "de", password="bob-pw")


TEST_TZ = "Asia/Kolkata"  # +05:30 all year: a test that assumes the host's zone or UTC fails


@pytest.fixture(autouse=True)
def _zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every time shown is in TELEBOT_TZ; tests never depend on the host's zone."""
    monkeypatch.setenv("TELEBOT_TZ", TEST_TZ)


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    """A bot run in another language (TELEBOT_LANG) sets the process's language: every test
    starts in English, whatever the one before it spoke."""
    from telebot import i18n

    i18n.use("en")
    yield
    i18n.use("en")


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real task processes (`ikabot=False`: another program's process); every one is
    killed and reaped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        code: str = "import time; time.sleep(600)", ikabot: bool = True
    ) -> subprocess.Popen[bytes]:
        p = spawn_task(code) if ikabot else other_program(code)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    """The loopback Bot API, knowing ikabot's bot token of the test data."""
    with FakeBotAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
def ikabot_dir(tmp_path: Path) -> IkabotDir:
    d = IkabotDir(tmp_path / "home")
    d.set_telegram(TOKEN, CHAT, ALICE)
    return d


@pytest.fixture
def world(ikabot_dir: IkabotDir, spawn):
    """Alice pirating (5/10 via processDetails) and running a web server; Bob building."""
    pirate, web, builder = spawn(), spawn(), spawn()
    ikabot_dir.add_pirate(ALICE, pirate.pid)
    ikabot_dir.add_webserver(ALICE, web.pid)
    ikabot_dir.add_task(
        BOB, builder.pid, "constructionList", building_status("Athens", "Academy", 4, 3720, 11040)
    )
    return {"dir": ikabot_dir, "pirate": pirate, "web": web, "builder": builder}


@pytest.fixture
def legacy_file(tmp_path: Path) -> LegacyFile:
    f = LegacyFile(tmp_path / "ikabot-legacy")
    f.set_telegram(ALICE, TOKEN, CHAT)
    return f


@dataclass
class Result:
    code: int
    out: str
    err: str


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with no TELEBOT_/IKABOT_ leftovers from the developer's shell."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEBOT_", "IKABOT_", "TELEGRAM_"))
    }
    env["HOME"] = str(tmp_path / "clihome")
    env["TELEBOT_TZ"] = TEST_TZ
    env["TELEBOT_STATE_DIR"] = str(tmp_path / "state")
    env["IKABOT_LOG"] = str(tmp_path / "ikabot.log")  # never the host's real /tmp/ikabot.log
    env.update(extra)
    return env


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., Result]:
    """Run `python -m telebot ...` as a real process, in an empty working directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)

    def run(*args: str, timeout: float = 60, **env: str) -> Result:
        p = subprocess.run(
            [sys.executable, "-m", "telebot", *args],
            cwd=cwd,
            env=clean_env(tmp_path, **env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    return run
