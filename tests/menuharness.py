"""Driving /menu as the player: the offline ikabot as IKABOT_COMMAND, the screen message read
back from the loopback Bot API, buttons pressed and replies typed like a phone would."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from botharness import OWNER, Harness
from ikabotdata import Account
from util import DEADLINE

from telebot.bot.hostlabel import untagged
from telebot.demo.fakeapi import FakeBotAPI

OFFLINE_IKABOT = Path(__file__).with_name("offline_ikabot.py")
SCREEN_HEADS = ("📟", "🔒", "⏹")


def offline_command(
    home: Path, log: Path, gates: Path, *accounts: Account, fortress: bool = True
) -> tuple[str, ...]:
    """`python <gates>/../bin/ikabot …`: the command line of ikabot's console script (telebot
    takes a process for ikabot's by it, `liveness.is_ikabot`), running the offline ikabot."""
    script = gates.parent / "bin" / "ikabot"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(OFFLINE_IKABOT.parent)!r})\n"
        "from offline_ikabot import main\nmain()\n",
        encoding="utf-8",
    )
    argv = [
        sys.executable,
        str(script),
        "--home",
        str(home),
        "--log",
        str(log),
        "--gates",
        str(gates),
    ]
    for a in accounts:
        argv += ["--account", f"{a.email},{a.username},{a.world},{a.server}"]
    if not fortress:
        argv.append("--no-fortress")
    return tuple(argv)


def screens(api: FakeBotAPI, chat_id: int = OWNER) -> list[dict[str, Any]]:
    return [m for m in api.sent(chat_id) if untagged(m["text"]).startswith(SCREEN_HEADS)]


def screen(api: FakeBotAPI, chat_id: int = OWNER) -> dict[str, Any]:
    shown = screens(api, chat_id)
    return shown[-1] if shown else {"text": "", "reply_markup": None, "message_id": 0}


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Button text → callback data."""
    markup = message.get("reply_markup") or {}
    return {
        b["text"]: b["callback_data"]
        for row in markup.get("inline_keyboard", [])
        for b in row
        if "callback_data" in b
    }


class Player:
    """The owner at the phone, on one running bot."""

    def __init__(
        self, bot: Harness, chat_id: int = OWNER, user_id: int = OWNER, token: str | None = None
    ) -> None:
        self.bot, self.api, self.chat_id, self.user_id = bot, bot.api, chat_id, user_id
        self.token = token  # a dedicated bot's (TELEBOT_TOKEN); None: ikabot's

    async def sees(self, text: str, timeout: float = DEADLINE) -> dict[str, Any]:
        ok = await self.bot.wait(lambda: text in screen(self.api, self.chat_id)["text"], timeout)
        assert ok, f"the screen never showed {text!r}:\n{screen(self.api, self.chat_id)['text']}"
        return screen(self.api, self.chat_id)

    async def said(self, text: str, timeout: float = DEADLINE) -> str:
        """The bot's message (not the screen) containing `text`."""

        def found() -> list[str]:
            return [
                m["text"]
                for m in self.api.sent(self.chat_id)
                if text in m["text"] and not untagged(m["text"]).startswith(SCREEN_HEADS)
            ]

        assert await self.bot.wait(found, timeout), f"never said {text!r}"
        return found()[-1]

    def types(self, text: str) -> int:
        """Reply with text; returns the message id."""
        self.api.add_message(
            text,
            chat_id=self.chat_id,
            user_id=self.user_id,
            chat_type="private" if self.chat_id > 0 else "group",
            token=self.token,
        )
        return max(k[1] for k in self._user_keys())

    def _user_keys(self) -> list[tuple[int, int]]:
        with self.api._lock:
            return [k for k in self.api._state.user_messages if k[0] == self.chat_id]

    def presses(self, label_start: str, message: dict[str, Any] | None = None) -> None:
        message = message or screen(self.api, self.chat_id)
        for label, data in buttons(message).items():
            if label.startswith(label_start):
                self.api.add_callback(
                    data, message["message_id"], chat_id=self.chat_id, user_id=self.user_id
                )
                return
        raise AssertionError(f"no button {label_start!r} in {list(buttons(message))}")

    async def answers(self, asked: str, reply: str, button: bool = False) -> None:
        await self.sees(asked)
        if button:
            self.presses(reply)
        else:
            self.types(reply)

    async def configures_autopirate(self, runs: str = "1", mission: str = "(1)") -> None:
        """ikabot 7.7.2's autoPirate questions (function/autoPirate.py), answered."""
        await self.answers("(17) Auto-Pirate", "(17)", button=True)
        await self.answers("How many pirate missions", runs)
        await self.answers("(y/N)", "n")
        await self.answers("Which pirate mission", mission, button=True)
        await self.answers("capture points", "n")
        await self.answers("random waiting time", "0")
        await self.sees("YAAAAAR!")
        await self.sees("[Enter]")
        message = await self.sees("🔒")
        self.presses("⏎", message)


def open_gate(gates: Path, name: str) -> None:
    gates.mkdir(parents=True, exist_ok=True)
    (gates / name).touch()


@contextlib.contextmanager
def no_leftovers(marker: Path) -> Iterator[None]:
    """Kill every process whose command line names `marker` (the test's own directory):
    ikabot's menu, its tasks and its multiprocessing manager, whatever outlived the test."""
    try:
        yield
    finally:
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(str(marker) in part for part in p.info["cmdline"] or []):
                    p.kill()
