"""Run the real bot in-process against the loopback Bot API, and talk to it as the player."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from util import DEADLINE

from telebot.alerts.texts import MARKS
from telebot.bot.app import serve
from telebot.bot.hostlabel import untagged
from telebot.config import Settings
from telebot.demo.fakeapi import FakeBotAPI

OWNER = 42
ALERT_MARKS = MARKS


@dataclasses.dataclass
class Harness:
    api: FakeBotAPI
    settings: Settings
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def wait(self, predicate: Any, timeout: float = DEADLINE) -> bool:
        return await asyncio.to_thread(self.api.wait_for, predicate, timeout)

    async def ask(
        self,
        text: str,
        chat_id: int = OWNER,
        replies: int = 1,
        timeout: float = DEADLINE,
        **kw: Any,
    ) -> list[dict[str, Any]]:
        """Send `text` as the player; return the bot's new answers to that chat.

        Push alerts that arrive meanwhile are not answers, and are left out.
        """
        before = len(self.api.sent(chat_id))

        def answers() -> list[dict[str, Any]]:
            return [
                m
                for m in self.api.sent(chat_id)[before:]
                if not untagged(m["text"]).startswith(ALERT_MARKS)
            ]

        kw.setdefault("user_id", chat_id)
        self.api.add_message(text, chat_id=chat_id, **kw)
        ok = await self.wait(lambda: len(answers()) >= replies, timeout)
        assert ok, f"no answer to {text!r}"
        return answers()

    async def settled(self) -> None:
        """A positive event after whatever must *not* happen: the owner's /help is answered
        (so every update before it was handled: the poller hands them over in order, and a
        stranger's or an ignored update needs no await) and telebot's outbox has nothing
        pending (so every alert decided so far was sent). A check that something did not
        happen comes after this, never after a mere wait."""
        from telebot.state import StateDB

        await self.ask("/help")

        def outbox_empty() -> bool:
            state = StateDB.open_readonly(self.settings.state_dir)
            if state is None:
                return True
            try:
                return not state.outbox.pending()
            finally:
                state.close()

        assert await self.wait(outbox_empty), "alerts still pending"

    def texts(self, chat_id: int = OWNER) -> list[str]:
        return [m["text"] for m in self.api.sent(chat_id)]


def fast_settings(ikabot_path: Path, api: FakeBotAPI, state_dir: Path, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "ikabot_path": ikabot_path,
        "api_base_url": api.base_url,
        "state_dir": state_dir,
        "poll_seconds": 0.05,
        "scan_seconds": 0.2,
        "report_minutes": 0,
        # never the host's real /tmp/ikabot.log
        "ikabot_log": state_dir.parent / "ikabot.log",
    }
    values.update(kw)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, api: FakeBotAPI) -> AsyncIterator[Harness]:
    def watching() -> int:  # the start-up message's tries (it goes through the outbox)
        return sum(
            c.method == "sendMessage" and "👀" in str(c.params)  # in any language
            for c in api.calls
        )

    started_before = watching()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait(
        {task, waiter}, timeout=DEADLINE, return_when=asyncio.FIRST_COMPLETED
    )
    if task in done:
        waiter.cancel()
        task.result()  # raises what serve raised
    assert waiter in done, "the bot did not start"
    h = Harness(api, settings, stop, task)
    # the start-up message was offered to the chat (sent, or refused and held): a test's
    # own messages and failures come after it, as they did when it was sent directly
    assert await h.wait(lambda: watching() > started_before), "no start-up message"
    try:
        yield h
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE)
