"""Who may do what (`bot/permissions.py`): the chat check (is this telebot's chat?) and the
user check (may this person change things?), in a private chat and in a group, through the
whole bot against the loopback Bot API."""

from __future__ import annotations

from botharness import OWNER, Harness, fast_settings, running_bot
from conftest import ALICE
from ikabotdata import IkabotDir
from test_control import press

from telebot.bot.fallbacks import OLD_BUTTON
from telebot.bot.permissions import NOT_AN_OWNER, NOT_AUTHORISED, Permissions
from telebot.demo.fakeapi import FakeBotAPI

STRANGER, MEMBER, GROUP = 666, 7, -100555


def test_the_two_checks():
    private = Permissions("42")
    assert private.is_bots_chat(42) and private.is_bots_chat("42")
    assert not private.is_bots_chat(666) and not private.is_bots_chat(None)
    assert private.may_act(42) and not private.may_act(666) and not private.may_act(None)
    group = Permissions("-100555")
    assert group.is_bots_chat(-100555) and not group.is_bots_chat(42)
    assert not group.may_act(42) and not group.may_act(-100555)  # nobody, without owner ids
    owners = Permissions("-100555", frozenset({42}))
    assert owners.may_act(42) and not owners.may_act(7)
    assert not Permissions("42", frozenset({7})).may_act(42)  # the ids decide when set


async def refused(bot: Harness, command: str, **kw) -> None:
    (reply,) = await bot.ask(command, **kw)
    assert reply["text"].endswith(NOT_AN_OWNER), command


async def test_private_chat(ikabot_dir: IkabotDir, spawn, api: FakeBotAPI, tmp_path):
    pirate = spawn()
    ikabot_dir.add_pirate(ALICE, pirate.pid)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        # the chat check: a stranger's own private chat gets the fixed line (once), no data
        (reply,) = await bot.ask("/status", chat_id=STRANGER)
        assert reply["text"] == NOT_AUTHORISED
        bot.api.add_message("/status", chat_id=STRANGER)
        (alerts,) = await bot.ask("/alerts")
        assert (
            await press(bot, "tb:a:died", alerts, user_id=STRANGER, chat_id=STRANGER)
            == NOT_AUTHORISED
        )
        await bot.settled()
        assert bot.texts(STRANGER) == [NOT_AUTHORISED]
        # the user check: the owner of the private chat may change things
        (reply,) = await bot.ask("/mute 5")
        assert "held for 5 minutes" in reply["text"]
        assert await press(bot, "tb:a:died", alerts) == ""
        (alerts,) = await bot.ask("/alerts")
        assert "⬜ died" in alerts["text"]
        # a button no telebot of this version makes: told, not ignored
        assert await press(bot, "tb:zz:1", alerts) == OLD_BUTTON
        assert await press(bot, "tb:r:x", alerts) == OLD_BUTTON
    # TELEBOT_OWNER_IDS naming someone else: the private chat reads, and may not change
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", owner_ids=frozenset({MEMBER}))
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/status")
        assert str(pirate.pid) in reply["text"]
        for command in ("/mute 5", "/report 5"):
            await refused(bot, command)
        (reply,) = await bot.ask(f"/kill {pirate.pid}")
        assert reply["text"].startswith("Only an owner can stop tasks")
        (alerts,) = await bot.ask("/alerts")
        assert await press(bot, "tb:a:died", alerts) == NOT_AN_OWNER


async def test_group_without_owner_ids(ikabot_dir: IkabotDir, spawn, tmp_path):
    """Everyone in the group reads; nobody changes anything, not even the group's creator."""
    pirate = spawn()
    ikabot_dir.add_pirate(ALICE, pirate.pid)
    with FakeBotAPI(token="111:ALPHA", bot_username="alpha_telebot") as api:
        s = fast_settings(
            ikabot_dir.path,
            api,
            tmp_path / "s",
            token="111:ALPHA",
            chat_id=str(GROUP),
            host_label="alpha",
        )
        group = {"chat_id": GROUP, "chat_type": "supergroup"}
        async with running_bot(s, api) as bot:
            for user in (MEMBER, OWNER):
                (reply,) = await bot.ask("/status", user_id=user, **group)
                assert str(pirate.pid) in reply["text"]
                for command in ("/mute 5", "/report 5"):
                    await refused(bot, command, user_id=user, **group)
                (reply,) = await bot.ask(f"/kill {pirate.pid}", user_id=user, **group)
                assert "Only an owner can stop tasks" in reply["text"]
                (alerts,) = await bot.ask("/alerts", user_id=user, **group)
                assert (
                    await press(bot, "tb:a:died", alerts, user_id=user, chat_id=GROUP)
                    == NOT_AN_OWNER
                )
            # another group is not telebot's chat, whoever writes there
            api.add_message("/status", user_id=OWNER, chat_id=-100999, chat_type="supergroup")
            await bot.settled()
            assert api.sent(-100999) == []


async def test_a_stranger_hears_the_line_again_after_an_hour_not_before(
    ikabot_dir: IkabotDir, api: FakeBotAPI, tmp_path, monkeypatch
):
    """The strangers' quiet hour on a driven clock: a second message 59 minutes after the
    first gets no answer, one 61 minutes after it does."""
    import time

    from telebot.bot import permissions

    now = [time.time()]
    monkeypatch.setattr(permissions, "clock", lambda: now[0])
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        (reply,) = await bot.ask("/status", chat_id=STRANGER)
        assert reply["text"] == NOT_AUTHORISED
        now[0] += 59 * 60
        api.add_message("/status", chat_id=STRANGER, user_id=STRANGER)
        await bot.settled()
        assert len(api.sent(STRANGER)) == 1
        now[0] += 2 * 60  # 61 minutes after the line
        (reply,) = await bot.ask("/help", chat_id=STRANGER)
        assert reply["text"] == NOT_AUTHORISED
        assert len(api.sent(STRANGER)) == 2
