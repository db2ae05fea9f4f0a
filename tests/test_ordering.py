"""Updates: side by side across chats, in order within one chat (telebot.bot.ordering)."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update

from telebot.bot.ordering import PerChatUpdateProcessor


def update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, "private")
    return Update(update_id, message=Message(update_id, None, chat, text="/status"))  # type: ignore[arg-type]


async def test_one_chat_in_order_other_chats_and_events_meanwhile():
    proc = PerChatUpdateProcessor()
    release = asyncio.Event()
    done: list[str] = []

    async def slow(name: str) -> None:
        await release.wait()
        done.append(name)

    async def quick(name: str) -> None:
        done.append(name)

    owner_first = asyncio.create_task(proc.process_update(update(1, 42), slow("owner /status")))
    owner_second = asyncio.create_task(proc.process_update(update(2, 42), quick("owner /help")))
    stranger = asyncio.create_task(proc.process_update(update(3, 7), quick("stranger")))
    event = asyncio.create_task(proc.process_update(object(), quick("process exited")))
    await asyncio.wait_for(asyncio.gather(stranger, event), 5)
    assert done == ["stranger", "process exited"]  # not held up by the owner's slow /status
    assert not owner_second.done()                # but the owner's next command waits its turn
    release.set()
    await asyncio.wait_for(asyncio.gather(owner_first, owner_second), 5)
    assert done[2:] == ["owner /status", "owner /help"]
    assert proc._lanes == {}  # lanes of chats with nothing queued are gone
