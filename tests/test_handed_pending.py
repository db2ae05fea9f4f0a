"""What an end's writer step hands the deliverer (`Pending`, issue 28): it saves the alert a
trip to the writer thread, but it is read before the deliverer's own marks may land, so a list
that a send made stale must never send that item again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from botharness import OWNER
from conftest import TOKEN
from telegram import Bot
from util import DEADLINE, until

from telebot.alerts.delivery import Deliverer
from telebot.alerts.sending import Send
from telebot.bot.alert_out import BotOut
from telebot.demo.fakeapi import FakeBotAPI
from telebot.state import StateDB


class GatedOut(BotOut):
    """The real way out, held at the door for the first send until the test opens it."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(bot)
        self.entered, self.gate = asyncio.Event(), asyncio.Event()

    async def send(self, message: Send) -> int | None:
        if not self.entered.is_set():
            self.entered.set()
            await asyncio.wait_for(self.gate.wait(), DEADLINE)
        return await super().send(message)


def texts(api: FakeBotAPI) -> list[Any]:
    return [m["text"] for m in api.sent(OWNER)]


async def test_a_list_handed_while_its_first_item_was_on_its_way_does_not_send_it_twice(
    api: FakeBotAPI, tmp_path: Path
):
    state = StateDB(tmp_path / "state")
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        out = GatedOut(bot)
        d = Deliverer(state, out)
        d.start()
        try:
            await state.run(state.outbox.enqueue, "a", str(OWNER), "died", "💀 first")
            d.wake()
            await asyncio.wait_for(out.entered.wait(), DEADLINE)  # "first" is on its way

            def second_end() -> Any:  # as an end's step does: its alert, then what is pending
                state.outbox.enqueue("b", str(OWNER), "died", "💀 second")
                return state.outbox.pending_now()

            handed = await state.run(second_end)
            assert [i.text for i in handed.items] == ["💀 first", "💀 second"]
            d.wake(handed)
            out.gate.set()
            assert await until(lambda: len(texts(api)) >= 2, DEADLINE)
            await state.run(lambda: None)  # the writer's queue drained: marks are in
            assert await until(lambda: not state.outbox.pending(), DEADLINE)
        finally:
            await d.stop()
    assert texts(api) == ["💀 first", "💀 second"]
    state.close()


async def test_a_list_handed_with_nothing_written_since_is_sent_without_reading_again(
    api: FakeBotAPI, tmp_path: Path
):
    state = StateDB(tmp_path / "state")
    reads: list[float] = []
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        d = Deliverer(state, BotOut(bot))
        real = d.courier.pending

        async def counted(now: float) -> Any:
            reads.append(now)
            return await real(now)

        d.courier.pending = counted  # type: ignore[method-assign]
        d.start()
        try:
            await until(lambda: bool(reads), DEADLINE)  # the first round, before anything
            first = len(reads)

            def an_end() -> Any:
                state.outbox.enqueue("a", str(OWNER), "died", "💀 alone")
                return state.outbox.pending_now()

            d.wake(await state.run(an_end))
            assert await until(lambda: texts(api) == ["💀 alone"], DEADLINE)
        finally:
            await d.stop()
    assert len(reads) == first  # the handed list was the table's: no second read
    state.close()


async def test_a_list_handed_then_retexted_by_a_storm_is_sent_as_handed_then_edited(
    api: FakeBotAPI, tmp_path: Path
):
    """A storm's next death retexts the first's unsent alert after its list was handed: only
    an item taken out spoils a hand, so the first alert still leaves without another read
    (behind the storm's steps on the writer thread), and the edit brings it up to date."""
    state = StateDB(tmp_path / "state")
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        d = Deliverer(state, BotOut(bot))

        def first_end() -> Any:
            state.outbox.enqueue("a", str(OWNER), "died", "💀 alone")
            return state.outbox.pending_now()

        def next_death(item_id: int) -> bool:  # as `Storms.place` does for the storm's second
            return state.outbox.retext_pending(item_id, "💀 2 at once")

        handed = await state.run(first_end)
        assert await state.run(next_death, handed.items[0].id)
        d.start()
        try:
            d.wake(handed)
            assert await until(lambda: texts(api) == ["💀 2 at once"], DEADLINE)
            assert await until(lambda: not state.outbox.pending(), DEADLINE)
        finally:
            await d.stop()
    sends = [c for c in api.calls if c.method == "sendMessage"]
    assert [c.params["text"] for c in sends] == ["💀 alone"]  # as handed, then edited
    assert api.sent(OWNER)[0]["edits"] == 1
    state.close()
