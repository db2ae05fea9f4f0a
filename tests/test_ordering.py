"""Updates: side by side across chats, in order within one chat (telebot.bot.ordering)."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User
from util import DEADLINE

from telebot.bot.ordering import MemberLimit, PerChatUpdateProcessor, Verdict


def update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, "private")
    return Update(update_id, message=Message(update_id, None, chat, text="/status"))  # type: ignore[arg-type]


class Steps:
    """Handlers that note their name when they run; the slow ones wait for `release`."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.done: list[str] = []

    async def slow(self, name: str) -> None:
        await self.release.wait()
        self.done.append(name)

    async def quick(self, name: str) -> None:
        self.done.append(name)


async def test_one_chat_in_order_other_chats_and_events_meanwhile():
    proc = PerChatUpdateProcessor()
    steps = Steps()
    slow, quick, release, done = steps.slow, steps.quick, steps.release, steps.done

    owner_first = asyncio.create_task(proc.process_update(update(1, 42), slow("owner /status")))
    owner_second = asyncio.create_task(proc.process_update(update(2, 42), quick("owner /help")))
    stranger = asyncio.create_task(proc.process_update(update(3, 7), quick("stranger")))
    event = asyncio.create_task(proc.process_update(object(), quick("process exited")))
    await asyncio.wait_for(asyncio.gather(stranger, event), DEADLINE)
    assert done == ["stranger", "process exited"]  # not held up by the owner's slow /status
    assert not owner_second.done()  # but the owner's next command waits its turn
    release.set()
    await asyncio.wait_for(asyncio.gather(owner_first, owner_second), DEADLINE)
    assert done[2:] == ["owner /status", "owner /help"]
    assert proc._lanes == {}  # lanes of chats with nothing queued are gone


async def test_a_chat_with_a_thousand_updates_queued_holds_one_slot():
    """1,000 presses queued in the owner's chat (more than the processor's slots, 256): a
    process event and another chat still go at once, not after the queue (issue 23)."""
    proc = PerChatUpdateProcessor()
    steps = Steps()
    queued = [
        asyncio.create_task(proc.process_update(update(i, 42), steps.slow(f"press {i}")))
        for i in range(1000)
    ]
    await asyncio.sleep(0)  # every one of them has asked for its turn
    event = asyncio.create_task(proc.process_update(object(), steps.quick("process exited")))
    other = asyncio.create_task(proc.process_update(update(2000, 7), steps.quick("stranger")))
    await asyncio.wait_for(asyncio.gather(event, other), 5)
    assert steps.done == ["process exited", "stranger"]
    steps.release.set()
    await asyncio.wait_for(asyncio.gather(*queued), 10)
    assert steps.done[2:] == [f"press {i}" for i in range(1000)]  # in order


def group_update(update_id: int, chat_id: int, user_id: int) -> Update:
    chat = Chat(chat_id, "supergroup")
    return Update(
        update_id,
        message=Message(
            update_id,
            None,
            chat,  # type: ignore[arg-type]
            from_user=User(user_id, "u", False),
            text="/status",
        ),
    )


async def test_in_a_group_each_member_is_in_order_and_none_waits_for_another():
    """A member's slow /status (or thirty of them) must not hold up the owner's command in the
    same group chat; each person's own commands stay in order."""
    proc = PerChatUpdateProcessor()
    steps = Steps()
    slow, quick, release, done = steps.slow, steps.quick, steps.release, steps.done

    member = [
        asyncio.create_task(proc.process_update(group_update(i, -100, 7), slow(f"member {i}")))
        for i in range(30)
    ]
    owner = asyncio.create_task(
        proc.process_update(group_update(99, -100, 42), quick("owner /help"))
    )
    await asyncio.wait_for(owner, DEADLINE)
    assert done == ["owner /help"]
    release.set()
    await asyncio.wait_for(asyncio.gather(*member), DEADLINE)
    assert done[1:] == [f"member {i}" for i in range(30)]


def test_a_member_gets_so_many_answers_a_minute_and_one_notice():
    limit = MemberLimit(per_minute=3)
    verdicts = [limit.check(7, now=1000.0 + i) for i in range(10)]
    assert verdicts == [Verdict.ANSWER] * 3 + [Verdict.NOTICE] + [Verdict.DROP] * 6
    assert limit.check(8, now=1010.0) is Verdict.ANSWER  # another member: their own count
    assert limit.check(7, now=1060.0) is Verdict.ANSWER  # a minute after the first
