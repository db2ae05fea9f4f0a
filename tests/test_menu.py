"""/menu: ikabot 7.7.2's own menu (the offline ikabot: only the network stubbed), driven from
Telegram through the running bot and the loopback Bot API."""

from __future__ import annotations

import gc
import itertools
import logging
import re
from pathlib import Path

import psutil
import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE
from ikabotdata import IkabotDir
from menuharness import Player, buttons, no_leftovers, offline_command, open_gate, screen

from telebot.menu.session import MenuSession
from telebot.processes import liveness


@pytest.fixture
def menu_settings(ikabot_dir: IkabotDir, api, tmp_path: Path):
    def make(**kw):
        home = kw.pop("home", ikabot_dir.home)  # where the offline ikabot looks for its data
        command = offline_command(
            home,
            tmp_path / "ikabot.log",
            tmp_path / "gates",
            ALICE,
            fortress=kw.pop("fortress", True),
        )
        return fast_settings(ikabot_dir.path, api, tmp_path / "state", ikabot_command=command, **kw)

    with no_leftovers(tmp_path):
        yield make


def ours(tmp_path: Path) -> set[int]:
    """Live processes started from the offline ikabot of this test."""
    found = set()
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info["status"] != psutil.STATUS_ZOMBIE and any(
            str(tmp_path) in part for part in p.info["cmdline"] or []
        ):
            found.add(p.pid)
    return found


def started_pid(text: str) -> int:
    m = re.search(r"started from /menu: pid (\d+)", text)
    assert m, text
    return int(m.group(1))


async def test_an_autopirate_started_from_menu_outlives_the_session_and_telebot(
    menu_settings, api, tmp_path
):
    s = menu_settings()
    async with running_bot(s, api) as bot:
        me = Player(bot)
        await bot.ask("/menu")
        await me.answers("Mail:", ALICE.email)
        await me.configures_autopirate(runs="1")
        pid = started_pid(await me.said("started from /menu"))
        ticks = liveness.read_stat(pid).start_ticks
        (status,) = await bot.ask("/status")
        assert str(pid) in status["text"] and "autoPirate" in status["text"]
        # the screen message was edited at most once a second (Telegram's limit in a chat)
        edits = [
            c.time
            for c in api.calls
            if c.method == "editMessageText"
            and str(c.params.get("message_id")) == str(screen(api)["message_id"])
        ]
        assert len(edits) >= 5 and min(b - a for a, b in itertools.pairwise(edits)) >= 0.95
        menu_pid = psutil.Process(pid).ppid()
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")
        assert not psutil.pid_exists(menu_pid) or psutil.Process(menu_pid).status() == "zombie"
        assert liveness.same_process(pid, ticks), "the task died with the session"
        # nothing else of the menu's is left (ikabot's multiprocessing manager is ended)
        assert await bot.wait(lambda: ours(tmp_path) == {pid}), ours(tmp_path)
    assert liveness.same_process(pid, ticks), "the task died with telebot"
    async with running_bot(s, api) as bot:
        (status,) = await bot.ask("/status")
        assert str(pid) in status["text"]
        open_gate(tmp_path / "gates", f"{pid}-run-1")  # its one mission ends
        me = Player(bot)
        alert = await me.said("autoPirate finished")
        assert str(pid) in alert


async def start_pirate_from_menu(bot, runs: str = "1") -> tuple[Player, int]:
    me = Player(bot)
    await bot.ask("/menu")
    await me.answers("Mail:", ALICE.email)
    await me.configures_autopirate(runs=runs)
    return me, started_pid(await me.said("started from /menu"))


async def test_a_task_outlives_the_menus_own_exit(menu_settings, api, tmp_path):
    async with running_bot(menu_settings(), api) as bot:
        me, pid = await start_pirate_from_menu(bot)
        ticks = liveness.read_stat(pid).start_ticks
        await me.sees("(24) Reorganize city buildings")
        me.presses("(0)")
        message = await me.sees("⏹")
        assert "ikabot's menu exited" in message["text"]
        assert liveness.same_process(pid, ticks)
        (status,) = await bot.ask("/status")
        assert str(pid) in status["text"]


async def run_again(me: Player, old_pid: int) -> str:
    """Press 🔁 under the end alert, then confirm; returns the confirmation's text."""
    alert = next(
        m
        for m in reversed(me.api.sent(OWNER))
        if str(old_pid) in m["text"] and "finished" in m["text"]
    )
    me.presses("🔁", alert)
    confirm = await me.said("Run autoPirate again")
    message = next(m for m in reversed(me.api.sent(OWNER)) if m["text"] == confirm)
    me.presses("🔁 Run it", message)
    return confirm


async def test_run_again_starts_an_identical_task_through_the_same_prompts(
    menu_settings, api, tmp_path, ikabot_dir
):
    async with running_bot(menu_settings(), api) as bot:
        me, old = await start_pirate_from_menu(bot, runs="3")
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")
        for k in (1, 2, 3):
            open_gate(tmp_path / "gates", f"{old}-run-{k}")
        await me.said("autoPirate finished")
        alert = next(m for m in reversed(api.sent(OWNER)) if f"· pid {old} ·" in m["text"])
        assert list(buttons(alert)) == [f"🔁 Run again: autoPirate {old}", "♻️ Keep alive"]
        confirm = await run_again(me, old)
        assert "“3”" in confirm and "(17) Auto-Pirate" in confirm and ALICE.email in confirm
        assert "already runs" not in confirm
        await me.said("Replayed all 8 recorded answers, and the task runs")
        new = started_pid(await me.said("Run again of pid"))
        assert "Run again done" in (await me.sees("⏹"))["text"]  # the menu's work is done
        assert new != old
        (status,) = await bot.ask("/status")
        assert str(new) in status["text"] and "run 1 of 3" in status["text"], status["text"]
        (details,) = await bot.ask(f"/details {new}")
        assert f"Run again of pid {old}" in details["text"]
        (details,) = await bot.ask(f"/details {old}")
        assert f"Run again as pid {new}" in details["text"]
        assert "🔁 Run again" in str(details["reply_markup"])
        me.presses("🔁", details)  # once more, while the new one runs: a warning
        warning = await me.said(f"already runs on that account (pid {new})")
        assert "Run autoPirate again" in warning


async def a_pirate_that_ran(settings, api, tmp_path: Path) -> int:
    """An autoPirate started from /menu with one run, then finished: its pid."""
    async with running_bot(settings, api) as bot:
        me, old = await start_pirate_from_menu(bot)
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")
        open_gate(tmp_path / "gates", f"{old}-run-1")
        await me.said("autoPirate finished")
    return old


async def test_a_changed_prompt_stops_the_replay_at_that_step(menu_settings, api, tmp_path):
    old = await a_pirate_that_ran(menu_settings(), api, tmp_path)
    # the fortress is gone since: ikabot says so instead of YAAAAAR! before its [Enter]
    async with running_bot(menu_settings(fortress=False), api) as bot:
        me = Player(bot)
        await run_again(me, old)
        stopped = await me.said("Run again stopped at step 8 of 8")
        assert "YAAAAAR!" in stopped and "pirate fortress" in stopped, stopped
        screen_now = await me.sees("You do not have any city with a pirate fortress")
        assert "⏹" not in screen_now["text"]  # the live session is the owner's now
        await bot.settled()
        assert " ".join(bot.texts()).count("started from /menu") == 1  # the first run's only


async def test_an_echo_off_reply_is_typed_then_deleted_and_never_kept(
    menu_settings, api, tmp_path, caplog
):
    secret = "s3cret-Pw-771"
    caplog.set_level(logging.DEBUG, logger="telebot")
    s = menu_settings()
    async with running_bot(s, api) as bot:
        me = Player(bot)
        await bot.ask("/menu")
        await me.answers("Mail:", "new@example.org")  # no saved session: ikabot asks
        await me.sees("Password:")
        await me.sees("🔒")
        message_id = me.types(secret)
        assert await bot.wait(lambda: (OWNER, message_id) in api.deleted())
        assert api.user_message(OWNER, message_id) is None
        await me.configures_autopirate()
        await me.said("started from /menu")
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")
    for f in s.state_dir.iterdir():
        assert secret.encode() not in f.read_bytes(), f
    assert secret not in caplog.text
    assert all(secret not in m["text"] for m in api.sent())


async def test_strangers_and_group_members_cannot_open_see_or_type(menu_settings, api, tmp_path):
    group, member = -100555, 7
    s = menu_settings(chat_id=str(group), owner_ids=frozenset({OWNER}))
    async with running_bot(s, api) as bot:
        api.add_message("/menu", chat_id=99, user_id=99)  # a stranger's private chat
        api.add_message("/menu", chat_id=group, user_id=member, chat_type="supergroup")
        await bot.wait(lambda: any("Only an owner" in t for t in bot.texts(group)))
        await bot.ask("/help", chat_id=group, user_id=OWNER, chat_type="supergroup")
        assert not [m for m in api.sent() if "ikabot's menu" in m["text"]]
        owner = Player(bot, chat_id=group, user_id=OWNER)
        api.add_message("/menu", chat_id=group, user_id=OWNER, chat_type="supergroup")
        await owner.sees("Mail:")
        owner.types(ALICE.email)
        await owner.sees("(17) Auto-Pirate")
        member_ = Player(bot, chat_id=group, user_id=member)
        member_.types("17")  # a member's text is not typed in
        member_.presses("(17)")  # nor is a member's press
        api.add_message("17", chat_id=99, user_id=99)  # nor a stranger's
        await bot.ask("/help", chat_id=group, user_id=OWNER, chat_type="supergroup")
        owner.presses("(21)")  # had any of them been typed, this would answer autoPirate
        await owner.sees("Kill tasks")  # ikabot's Options menu: the owner's (21), first
        assert not api.sent(99) or all("menu" not in m["text"] for m in api.sent(99))
        await bot.ask("/cancel", chat_id=group, user_id=OWNER, chat_type="supergroup", replies=0)
        await owner.sees("⏹")


async def test_ikabots_own_setup_command_is_left_to_ikabot(menu_settings, api):
    async with running_bot(menu_settings(), api) as bot:
        api.add_message("/ikabot 4711")
        await bot.settled()
        assert not [t for t in bot.texts() if "ikabot" in t.lower() and "4711" in t]
        assert not [t for t in bot.texts() if "don't know" in t]
        assert any(
            u["message"]["text"] == "/ikabot 4711" for u in api.unconfirmed() if "message" in u
        )


async def test_menu_can_be_turned_off(menu_settings, api):
    async with running_bot(menu_settings(allow_menu=False), api) as bot:
        (answer,) = await bot.ask("/menu")
        assert "TELEBOT_ALLOW_MENU=0" in answer["text"]
        (helped,) = await bot.ask("/help")
        assert "/kill" in helped["text"] and "/menu" not in helped["text"]
        assert "/cancel" not in helped["text"]


async def test_menu_on_a_dedicated_token(menu_settings, api, tmp_path):
    """With TELEBOT_TOKEN python-telegram-bot's own long polling brings the replies."""
    own = "777:OWN"
    api.add_bot(own, "own_telebot")
    async with running_bot(menu_settings(token=own, chat_id=str(OWNER)), api) as bot:
        me = Player(bot, token=own)
        me.types("/menu")
        await me.answers("Mail:", ALICE.email)
        first = await me.sees("(17) Auto-Pirate")
        me.types("/menu")  # one session at a time: its screen again, as a new message
        await me.said("A /menu session is open already")
        assert await bot.wait(lambda: screen(api)["message_id"] != first["message_id"])
        assert "(17) Auto-Pirate" in screen(api)["text"]
        me.types("/cancel")
        await me.sees("⏹")


async def test_a_password_asked_on_replay_stops_it_and_is_the_owners(menu_settings, api, tmp_path):
    """The saved session is gone (cookies expired): ikabot asks for the password where the
    recorded answers went straight to its menu. The replay stops there; the owner answers."""
    old = await a_pirate_that_ran(menu_settings(), api, tmp_path)
    (tmp_path / "elsewhere").mkdir()  # a home where ikabot has no saved session
    async with running_bot(menu_settings(home=tmp_path / "elsewhere"), api) as bot:
        me = Player(bot)
        await run_again(me, old)
        stopped = await me.said("Run again stopped at step 2 of 8")
        assert "echo off (a password?)" in stopped, stopped
        await me.sees("🔒")
        message_id = me.types("the-Password-9")
        assert await bot.wait(lambda: (OWNER, message_id) in api.deleted())
        await me.sees("(17) Auto-Pirate")  # logged in: the session is the owner's


async def test_two_tasks_from_one_session_each_keep_their_own_answers(menu_settings, api, tmp_path):
    async with running_bot(menu_settings(), api) as bot:
        me, first = await start_pirate_from_menu(bot, runs="1")
        await me.sees("(24) Reorganize city buildings")
        await me.configures_autopirate(runs="2")
        assert await bot.wait(lambda: " ".join(bot.texts()).count("started from /menu") == 2)
        second = max(
            int(p) for p in re.findall(r"started from /menu: pid (\d+)", " ".join(bot.texts()))
        )
        assert second != first
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")
        for k in (1, 2):
            open_gate(tmp_path / "gates", f"{second}-run-{k}")
        await me.said("finished: 2 of 2 runs done")
        alert = next(m for m in api.sent(OWNER) if "2 of 2 runs done" in m["text"])
        me.presses("🔁", alert)
        confirm = await me.said("Run autoPirate again")
        # the login's answer, then the second task's own: not the first task's
        assert "1. Mail: → “alice@example.org”" in confirm and "“2”" in confirm
        assert "\n8. " in confirm and "\n9. " not in confirm and "“1”" not in confirm, confirm


async def test_cancel_without_a_session_and_a_command_that_is_not_there(ikabot_dir, api, tmp_path):
    """/cancel with nothing open, and IKABOT_COMMAND naming a file that is gone: one clear
    line in the chat each, no session left open."""
    s = fast_settings(
        ikabot_dir.path,
        api,
        tmp_path / "state",
        ikabot_command=(str(tmp_path / "gone" / "ikabot"),),
    )
    async with running_bot(s, api) as bot:
        (answer,) = await bot.ask("/cancel")
        assert answer["text"] == "No /menu session is open."
        (answer,) = await bot.ask("/menu")
        assert "Could not start ikabot's menu" in answer["text"], answer
        assert str(tmp_path / "gone" / "ikabot") in answer["text"]
        (answer,) = await bot.ask("/cancel")  # the failed start left no session behind
        assert answer["text"] == "No /menu session is open."


async def toast(bot, data: str, message: dict, user_id: int = OWNER, chat_id: int = OWNER) -> str:
    """Press a button's data on `message`; the bot's answer to the press."""
    n = len(bot.api.calls)
    bot.api.add_callback(data, message["message_id"], chat_id=chat_id, user_id=user_id)
    assert await bot.wait(lambda: any(c.method == "answerCallbackQuery" for c in bot.api.calls[n:]))
    return str(
        next(c for c in bot.api.calls[n:] if c.method == "answerCallbackQuery").params.get(
            "text", ""
        )
    )


async def test_turned_off_means_no_run_again_either(menu_settings, api, tmp_path):
    """TELEBOT_ALLOW_MENU=0: /details offers no 🔁, and the 🔁 already in the chat (and its
    🔁 Run it, forged) open no menu."""
    old = await a_pirate_that_ran(menu_settings(), api, tmp_path)
    alert = next(
        m for m in reversed(api.sent(OWNER)) if str(old) in m["text"] and "finished" in m["text"]
    )
    ask = next(d for label, d in buttons(alert).items() if label.startswith("🔁"))
    async with running_bot(menu_settings(allow_menu=False), api) as bot:
        (details,) = await bot.ask(f"/details {old}")
        assert "🔁" not in str(details.get("reply_markup")), details
        before = len(api.sent(OWNER))
        assert "TELEBOT_ALLOW_MENU=0" in await toast(bot, ask, alert)
        run = ask.replace("tb:ra:", "tb:rr:")
        assert "TELEBOT_ALLOW_MENU=0" in await toast(bot, run, alert)
        await bot.settled()
        assert not any(m["text"].startswith(("📟", "🔁 Run")) for m in api.sent(OWNER)[before:])


async def test_a_key_of_an_ended_session_does_nothing_in_the_next(menu_settings, api):
    async with running_bot(menu_settings(), api) as bot:
        me = Player(bot)
        await bot.ask("/menu", replies=0)
        first = await me.sees("Mail:")
        end_first = buttons(first)["✖ End session"]
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")
        await bot.ask("/menu", replies=0)
        assert await bot.wait(lambda: screen(api)["message_id"] != first["message_id"])
        second = await me.sees("Mail:")
        assert "has ended" in await toast(bot, end_first, second)  # forged onto the new one
        assert "has ended" in await toast(bot, end_first.replace(".x", ".1"), second)
        me.types(ALICE.email)
        await me.sees("(17) Auto-Pirate")  # the new session is still open, and the owner's
        await bot.ask("/cancel", replies=0)
        await me.sees("⏹")


async def test_telebot_stopped_during_a_session_ends_the_menu_and_keeps_its_task(
    menu_settings, api, tmp_path
):
    async with running_bot(menu_settings(), api) as bot:
        me, pid = await start_pirate_from_menu(bot)
        ticks = liveness.read_stat(pid).start_ticks
        menu_pid = psutil.Process(pid).ppid()
        await me.sees("(24) Reorganize city buildings")  # the session is still open
    # telebot has stopped: the menu is gone (or a zombie nobody reaps yet), its task runs
    assert not psutil.pid_exists(menu_pid) or psutil.Process(menu_pid).status() == "zombie"
    assert liveness.same_process(pid, ticks), "the task died with telebot"
    assert ours(tmp_path) == {pid}  # nothing else of the menu's (its manager ended too)
    assert "telebot stopped" in screen(api)["text"]


async def test_a_password_in_a_group_is_warned_of_before_and_after(menu_settings, api):
    """In a group the loopback's bot (like Telegram's, unless an admin with that right) cannot
    delete a member's message: the 🔒 screen says so before the owner answers, and telebot
    asks the owner to delete it after; it is still never stored."""
    group, secret = -100777, "gr0up-Pw-913"
    s = menu_settings(chat_id=str(group), owner_ids=frozenset({OWNER}))
    async with running_bot(s, api) as bot:
        owner = Player(bot, chat_id=group, user_id=OWNER)
        api.add_message("/menu", chat_id=group, user_id=OWNER, chat_type="supergroup")
        await owner.answers("Mail:", "new@example.org")  # no saved session: ikabot asks
        locked = await owner.sees("🔒")
        assert "Password:" in locked["text"] and "admin allowed to delete" in locked["text"]
        owner.types(secret)
        await owner.said("Delete your last message yourself")
        await bot.ask("/cancel", chat_id=group, user_id=OWNER, chat_type="supergroup", replies=0)
        await owner.sees("⏹")
    for f in s.state_dir.iterdir():
        assert secret.encode() not in f.read_bytes(), f


@pytest.mark.parametrize("ending", ["/cancel", "idle", "telebot stops"])
async def test_a_task_whose_configurator_finished_is_recorded_however_the_session_ends(
    menu_settings, api, tmp_path, ending
):
    """The race of issue 24 (seen: autoPirate answered, ⏎, /cancel a moment later): the
    session ends before ikabot's menu has shown its main menu again (here it never does: the
    offline menu waits at its redraw). The task runs, its configurator finished: it is
    recorded all the same, and its end alert gets 🔁."""
    gates = tmp_path / "gates"
    open_gate(gates, "slow-menu")
    s = menu_settings()
    async with running_bot(s, api) as bot:
        me = Player(bot)
        await bot.ask("/menu")
        await me.answers("Mail:", ALICE.email)
        await me.configures_autopirate(runs="1")  # ⏎ pressed

        async def configured() -> bool:  # the task itself runs: its configurator is done
            (status,) = await bot.ask("/status")
            return "Pirating for 1 more runs" in status["text"]

        for _ in range(100):
            if await configured():
                break
        else:
            raise AssertionError("the task never ran")
        assert "(24) Reorganize city buildings" not in screen(api)["text"]  # not redrawn
        if ending == "/cancel":
            await bot.ask("/cancel", replies=0)
        elif ending == "idle":
            (session,) = [o for o in gc.get_objects() if isinstance(o, MenuSession)]
            session.idle_limit = 0.2  # nobody answered for ten minutes, at once
        if ending != "telebot stops":
            await me.sees("⏹")
            await me.said("started from /menu")
    (said,) = [m["text"] for m in api.sent(OWNER) if "started from /menu" in m["text"]]
    pid = started_pid(said)
    async with running_bot(s, api) as bot:
        me = Player(bot)
        open_gate(gates, f"{pid}-run-1")
        alert = await me.said("autoPirate finished")
        message = next(m for m in reversed(api.sent(OWNER)) if m["text"] == alert)
        assert str(pid) in alert and "🔁" in str(message.get("reply_markup")), message


async def test_menu_speaks_the_language_around_ikabots_own_words(menu_settings, api, tmp_path):
    """TELEBOT_LANG=pt: telebot's words on and around the screen are Portuguese (its head,
    its keys, the start, the close); ikabot's own screen stays as ikabot wrote it."""
    async with running_bot(menu_settings(lang="pt"), api) as bot:
        me = Player(bot)
        await bot.ask("/menu")
        first = await me.sees("Mail:")
        assert first["text"].startswith("📟 Menu do ikabot · toque numa opção")
        assert "✖ Encerrar sessão" in buttons(first)
        me.types(ALICE.email)
        await me.sees("(17) Auto-Pirate")  # ikabot's words, as ikabot wrote them
        await me.answers("(17) Auto-Pirate", "(17)", button=True)
        await me.answers("How many pirate missions", "1")
        await me.answers("(y/N)", "n")
        await me.answers("Which pirate mission", "(1)", button=True)
        await me.answers("capture points", "n")
        await me.answers("random waiting time", "0")
        secret = await me.sees("🔒")
        assert "O ikabot lê isto sem eco" in secret["text"] and "⏎ Enter" in buttons(secret)
        me.presses("⏎", secret)
        started = await me.said("iniciada pelo /menu: pid")
        assert started.startswith("▶️ autoPirate iniciada pelo /menu")
        pid = int(re.search(r"pid (\d+)", started).group(1))
        await bot.ask("/menu", replies=0)
        assert (await me.said("Já há uma sessão do /menu aberta")).startswith("Já há")
        await bot.ask("/cancel", replies=0)
        closed = await me.sees("⏹")
        assert "⏹ Menu do ikabot fechado: encerrado com /cancel." in closed["text"]
        (none,) = await bot.ask("/cancel")
        assert none["text"] == "Não há nenhuma sessão do /menu aberta."
        (details,) = await bot.ask(f"/details {pid}")
        assert re.search(r"Iniciada pelo /menu com \d+ respostas gravadas\.", details["text"])
        assert liveness.same_process(pid, liveness.read_stat(pid).start_ticks)
