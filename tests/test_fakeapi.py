"""The loopback Bot API, exercised through python-telegram-bot as telebot uses it."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter
from util import DEADLINE

from telebot.demo.fakeapi import FakeBotAPI, parse_html


@pytest.fixture
def api():
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(api):
    async with Bot("123:TEST", base_url=api.base_url) as b:
        yield b


async def test_get_me(bot):
    me = await bot.get_me()
    assert me.is_bot and me.username == "telebot_test_bot"


async def test_offset_semantics(api, bot):
    ids = [api.add_message(f"m{i}") for i in range(3)]
    assert [u.update_id for u in await bot.get_updates()] == ids  # no offset: all
    assert [u.update_id for u in await bot.get_updates()] == ids  # ...again: none confirmed
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert [u["update_id"] for u in api.unconfirmed()] == ids[1:]  # ids[0] is forgotten
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[2:]
    assert await bot.get_updates(offset=ids[2] + 1) == ()


async def test_limit_is_at_most_100(api, bot):
    for i in range(150):
        api.add_message(f"m{i}")
    assert len(await bot.get_updates()) == 100


async def test_long_poll_returns_when_an_update_arrives(api, bot):
    timer = threading.Timer(0.1, lambda: api.add_message("late"))
    timer.start()
    updates = await bot.get_updates(timeout=10, read_timeout=10 + DEADLINE)
    assert [u.message.text for u in updates] == ["late"]


async def test_second_poll_terminates_the_first_with_409(api, bot):
    first = asyncio.create_task(bot.get_updates(timeout=10, read_timeout=10 + DEADLINE))
    assert await asyncio.to_thread(api.wait_for, lambda: api._state.poll_generation == 1)
    async with Bot("123:TEST", base_url=api.base_url) as other:
        second = asyncio.create_task(other.get_updates(timeout=1, read_timeout=DEADLINE))
        with pytest.raises(Conflict):
            await first
        assert await second == ()


def test_plain_get_without_offset_like_ikabot(api):
    api.add_message("captcha answer")
    url = f"{api.base_url}123:TEST/getUpdates"
    with urllib.request.urlopen(url, timeout=DEADLINE) as r:
        data = json.load(r)
    assert data["ok"] and data["result"][0]["message"]["text"] == "captcha answer"
    assert len(api.unconfirmed()) == 1


@pytest.mark.parametrize(
    "markup",
    [
        "<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <code>c</code> <pre>p</pre>",
        '<a href="http://127.0.0.1:1">link</a> &lt;tag&gt; &amp; &quot; &#65; &#x42;',
        "<b>nested <i>fine</i></b>",
        '<pre><code class="language-python">x</code></pre>',
    ],
)
async def test_html_accepted(bot, markup):
    await bot.send_message(42, markup, parse_mode="HTML")


@pytest.mark.parametrize(
    "markup",
    ["<script>x</script>", "<b>unclosed", "a & b", "1 < 2", "<b><i>crossed</b></i>", "</b>"],
)
async def test_html_rejected(bot, markup):
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(42, markup, parse_mode="HTML")


@pytest.mark.parametrize("text,mode", [("\r\r\r\r", None), (" \n\t", None), ("<b> </b>\r", "HTML")])
async def test_blank_text_is_refused_like_telegram(bot, text, mode):
    """Telegram trims a message and refuses it when nothing is left."""
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(42, text, parse_mode=mode)


async def test_limit_counts_visible_text(api, bot):
    ok = "<b>" + "x" * 4096 + "</b>"
    await bot.send_message(42, ok, parse_mode="HTML")
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(42, "<b>" + "x" * 4097 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(42, "😀" * 2049)  # UTF-16: two units each
    assert len(parse_html(ok)) == 4096


async def test_wrong_token(api):
    with pytest.raises(InvalidToken):
        async with Bot("123:WRONG", base_url=api.base_url):
            pass


async def test_injected_failures(api, bot):
    api.fail("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as e:
        await bot.send_message(42, "x")
    assert e.value.retry_after == 7
    api.fail("sendMessage", 502)
    with pytest.raises(NetworkError):
        await bot.send_message(42, "x")
    api.fail("sendMessage", drop=True)
    with pytest.raises(NetworkError):
        await bot.send_message(42, "x")
    await bot.send_message(42, "through")
    assert [m["text"] for m in api.sent()] == ["through"]
    assert [c.status for c in api.calls if c.method == "sendMessage"] == [429, 502, 0, 200]


async def test_edit_and_not_modified(api, bot):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Refresh", callback_data="tb:r")]])
    m = await bot.send_message(42, "<b>one</b>", parse_mode="HTML", reply_markup=markup)
    await bot.edit_message_text(
        "<b>two</b>", 42, m.message_id, parse_mode="HTML", reply_markup=markup
    )
    assert api.sent()[0]["text"] == "two" and api.sent()[0]["edits"] == 1
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text(
            "<b>two</b>", 42, m.message_id, parse_mode="HTML", reply_markup=markup
        )


async def test_callback_query_flow(api, bot):
    m = await bot.send_message(
        42,
        "x",
        reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Refresh", callback_data="tb:refresh")]]
        ),
    )
    api.add_callback("tb:refresh", m.message_id)
    (update,) = await bot.get_updates()
    q = update.callback_query
    assert q.data == "tb:refresh" and q.message.message_id == m.message_id
    assert await bot.answer_callback_query(q.id)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(q.id)


async def test_button_data_limit(bot):
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(
            42,
            "x",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("b", callback_data="x" * 65)]]
            ),
        )


async def test_at_most_100_buttons(bot):
    many = [
        [InlineKeyboardButton(f"b{r}{c}", callback_data=f"{r}:{c}") for c in range(8)]
        for r in range(13)
    ]
    with pytest.raises(BadRequest, match=r"(?i)reply markup is too long"):
        await bot.send_message(42, "x", reply_markup=InlineKeyboardMarkup(many))


async def test_commands(api, bot):
    from telegram import BotCommand

    await bot.set_my_commands([BotCommand("status", "every task")])
    assert [c.command for c in await bot.get_my_commands()] == ["status"]
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_chats_that_refuse_the_bot_answer_as_telegram_does(api, bot):
    """Worded as Telegram words them (checked against bot libraries' error tables and their
    users' reports): a chat Telegram does not know; a blocked or never started bot, where
    getChat still works but nothing can be sent; a group the bot was removed from."""
    from telegram.error import Forbidden

    with FakeBotAPI(strict_chats=True) as strict:
        async with Bot("123:TEST", base_url=strict.base_url) as b:
            with pytest.raises(BadRequest, match=r"(?i)chat not found"):
                await b.get_chat(7)  # never wrote to the bot
            strict.add_message("hi", chat_id=7)
            assert (await b.get_chat(7)).id == 7  # now it exists
    refusals = {
        "blocked": "Forbidden: bot was blocked by the user",
        "unstarted": "Forbidden: bot can't initiate conversation with a user",
    }
    for chat, (state, said) in enumerate(refusals.items(), start=100):
        api.set_chat(chat, state)
        assert (await bot.get_chat(chat)).id == chat
        for send in (bot.send_message(chat, "x"), bot.send_chat_action(chat, "typing")):
            with pytest.raises(Forbidden) as e:
                await send
            assert e.value.message == said
    api.set_chat(-5, "kicked")
    with pytest.raises(Forbidden, match="kicked from the group chat"):
        await bot.get_chat(-5)
    api.set_chat(100, "open")  # unblocked
    assert (await bot.send_message(100, "x")).text == "x"


async def test_forum_topics_are_strict_as_telegram(api, bot):
    """`message_thread_id` only in a forum supergroup, only for a topic that exists and is
    open (Telegram's 400s); without one, a forum's message lands in General; a message sent
    into a topic comes back with its thread, and so does a member's message typed there."""
    for chat in (42, -100):  # a private chat, a group without topics
        with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
            await bot.send_message(chat, "x", message_thread_id=5)
    assert (await bot.send_message(-100, "plain group")).message_thread_id is None
    api.make_forum(-200)
    chat = await bot.get_chat(-200)
    assert chat.type == "supergroup" and chat.is_forum
    one = api.add_topic(-200, "pi-home")
    two = (await bot.create_forum_topic(-200, "vps")).message_thread_id
    assert one != two
    sent = await bot.send_message(-200, "in topic", message_thread_id=two)
    assert sent.message_thread_id == two and sent.is_topic_message
    assert (await bot.send_message(-200, "general")).message_thread_id is None
    await bot.send_chat_action(-200, "typing", message_thread_id=one)
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(-200, "x", message_thread_id=two + 50)
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_chat_action(-200, "typing", message_thread_id=two + 50)
    api.close_topic(-200, one)
    with pytest.raises(BadRequest, match=r"(?i)topic_closed"):
        await bot.send_message(-200, "x", message_thread_id=one)
    api.close_topic(-200, two, delete=True)
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(-200, "x", message_thread_id=two)
    with pytest.raises(BadRequest, match=r"(?i)not a forum"):
        await bot.create_forum_topic(-100, "nope")
    three = api.add_topic(-200, "pi-2")
    api.add_message("/status", chat_id=-200, chat_type="supergroup", topic=three)
    update = (await bot.get_updates())[-1]
    assert update.message.message_thread_id == three and update.message.is_topic_message
    assert update.effective_chat.is_forum
    assert [m["message_thread_id"] for m in api.sent(-200)] == [two, None]
