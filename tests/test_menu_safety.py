"""Nothing /menu does can start a task twice, freeze telebot or leave a process behind (issue
23): the real offline ikabot in a real terminal, the running bot, the loopback Bot API."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import test_menu as menu_tests
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE, BOB, clean_env
from ikabotdata import IkabotDir
from menuharness import Player, buttons, no_leftovers, offline_command
from util import until, wait_until

from telebot.bot import menu_handlers
from telebot.ikabot.records import AccountKey
from telebot.menu.terminal import INPUT_LIMIT, Terminal
from telebot.processes import liveness
from telebot.state import AgainButton, MenuProcess, StateDB
from telebot.tasks import twin_guard
from telebot.tasks.model import Task


@pytest.fixture
def menu_settings(ikabot_dir: IkabotDir, api, tmp_path: Path):
    def make(**kw):
        command = offline_command(
            ikabot_dir.home,
            tmp_path / "ikabot.log",
            tmp_path / "gates",
            ALICE,
            fortress=kw.pop("fortress", True),
        )
        return fast_settings(ikabot_dir.path, api, tmp_path / "state", ikabot_command=command, **kw)

    with no_leftovers(tmp_path):
        yield make


# ---- the guard (`tasks.twin_guard`), on task views built directly

KEY = AccountKey("alice@example.org", "alice", "59", "en")


def task(
    pid: int,
    action: str = "autoPirate",
    account: AccountKey = KEY,
    ticks: int = 7,
    state: str = "running",
) -> Task:
    return Task(
        pid,
        action,
        account,
        "started",
        1000.0 + pid,
        {},
        None,
        None,
        [],
        state == "running",
        state,
        start_ticks=ticks,
    )  # type: ignore[arg-type]


def test_the_guard_refuses_a_copy_that_was_not_acknowledged():
    seen = task(10)
    other_mail = AccountKey("other@example.org", "alice", "59", "en")  # the same player
    tasks = [
        seen,
        task(11, account=other_mail),
        task(12, action="autoBarbarians"),
        task(13, account=AccountKey(None, "alice", "60", "en")),  # another world
        task(14, state="dead"),
        task(15, state="finished"),
    ]
    refusal = twin_guard.guard(tasks, "autoPirate", KEY, [twin_guard.identity_of(seen)])
    assert refusal is not None and refusal.pids == (11,)
    assert refusal.line().startswith("autoPirate already runs on alice s59-en (pid 11)")
    assert twin_guard.guard(tasks[2:], "autoPirate", KEY) is None
    # the same pid, another process since (other start ticks): not what was acknowledged
    assert (
        twin_guard.guard([task(10, ticks=8)], "autoPirate", KEY, [twin_guard.identity_of(seen)])
        is not None
    )
    # an unattended restart acknowledges nothing: any live copy refuses
    assert twin_guard.guard([seen], "autoPirate", KEY) is not None


def test_a_run_it_is_spent_once_and_expires_on_the_clock(tmp_path: Path):
    state = StateDB(tmp_path)
    now = time.time()
    state.control.add_again_button(AgainButton("n1", 10, 70, "9.1", now + 300, None))
    state.control.add_again_button(AgainButton("n2", 10, 70, "", now + 300, None))
    assert state.control.use_again_button("n1", now + 300.001) is None  # just too late
    used = state.control.use_again_button("n2", now + 300)  # at the edge: still valid
    assert used is not None and used.seen == () and used.used_at == now + 300
    assert state.control.use_again_button("n2", now + 1) is None  # once only
    assert state.control.use_again_button("nope", now) is None
    assert state.control.again_button("n1").seen == ("9.1",)  # type: ignore[union-attr]
    state.close()


# ---- 🔁 Run it, through the running bot


def confirmation_of(api, old: int) -> dict:
    return next(
        m
        for m in reversed(api.sent(OWNER))
        if m["text"].startswith(f"🔁 Run autoPirate again (was pid {old})")
    )


async def ask_again(me: Player, old: int) -> dict:
    alert = next(
        m for m in reversed(me.api.sent(OWNER)) if str(old) in m["text"] and "finished" in m["text"]
    )
    n = len(me.api.sent(OWNER))
    me.presses("🔁", alert)
    assert await me.bot.wait(
        lambda: any(m["text"].startswith("🔁 Run autoPirate again") for m in me.api.sent(OWNER)[n:])
    )
    return confirmation_of(me.api, old)


async def test_a_run_it_works_once_and_not_after_it_expired(
    menu_settings, api, tmp_path, monkeypatch
):
    old = await menu_tests.a_pirate_that_ran(menu_settings(), api, tmp_path)
    async with running_bot(menu_settings(), api) as bot:
        me = Player(bot)
        confirm = await ask_again(me, old)
        assert "works once, for 5 minutes" in confirm["text"]
        run_it = buttons(confirm)["🔁 Run it"]
        me.presses("🔁 Run it", confirm)
        await me.said("Replayed all 8 recorded answers, and the task runs")
        await me.sees("⏹")
        # the same confirmation again (forged back under its message): spent
        assert "expired or was used" in await menu_tests.toast(bot, run_it, confirm)
        # an older telebot's form, pid.ticks without a nonce: never replays
        forged = "tb:rr:" + buttons(confirm)["Cancel"].rsplit(":", 1)[1] + ".1"
        assert "expired or was used" in await menu_tests.toast(bot, forged, confirm)
        # a fresh one, pressed after its 5 minutes (the buttons' clock moved on)
        fresh = await ask_again(me, old)
        monkeypatch.setattr(menu_handlers, "clock", lambda: time.time() + 301)
        assert "expired or was used" in await menu_tests.toast(
            bot, buttons(fresh)["🔁 Run it"], fresh
        )
        await bot.settled()
        assert " ".join(bot.texts()).count("Run again of pid") == 1


async def test_a_copy_started_after_the_confirmation_stops_the_replay_before_it_types(
    menu_settings, api, tmp_path, ikabot_dir, spawn
):
    old = await menu_tests.a_pirate_that_ran(menu_settings(), api, tmp_path)
    async with running_bot(menu_settings(), api) as bot:
        me = Player(bot)
        confirm = await ask_again(me, old)
        assert "already runs" not in confirm["text"]
        # meanwhile autoPirate starts on that account (another terminal); and on Bob's: no
        twin = spawn()
        ikabot_dir.add_pirate(ALICE, twin.pid, done=0, total=3)
        ikabot_dir.add_pirate(BOB, spawn().pid, done=0, total=3)
        me.presses("🔁 Run it", confirm)
        said = await me.said("Run again refused before step 1 of 8")
        assert f"autoPirate already runs on alice s59-en (pid {twin.pid})" in said, said
        ended = await me.sees("⏹")
        assert "Run again refused" in ended["text"] and "Mail:" in ended["text"]
        assert ALICE.email not in ended["text"]  # nothing was typed
        await bot.settled()
        assert " ".join(bot.texts()).count("started from /menu") == 1  # the first run's only


# ---- a menu that does not read: typing never blocks telebot

BUSY_MENU = """import os, sys, time
print("(0) Exit\\n(1) Busy for a while\\n >> ", end="", flush=True)
gate = sys.argv[1]
while not os.path.exists(gate):  # busy: reads nothing until the gate opens
    time.sleep(0.05)
n = 0
for line in sys.stdin:
    n += 1
    print(f"read {n} lines", flush=True)
"""


def busy_menu(tmp_path: Path) -> tuple[list[str], Path]:
    script = tmp_path / "busy_menu.py"
    script.write_text(BUSY_MENU, encoding="utf-8")
    return [sys.executable, str(script), str(tmp_path / "gate")], tmp_path / "gate"


async def test_typing_into_a_menu_that_does_not_read_never_blocks_and_drains_later(tmp_path):
    argv, gate = busy_menu(tmp_path)
    with no_leftovers(tmp_path):
        t = Terminal(argv, dict(os.environ))
        try:
            assert await until(lambda: "Busy" in "".join(t.lines()), 20)
            line = "x" * 4000
            started = time.monotonic()
            typed = [t.type_line(line) for _ in range(60)]  # 240 KB at a menu reading nothing
            assert time.monotonic() - started < 5  # never waited for the menu
            assert typed[0] and not typed[-1]  # the first queued, the last refused
            accepted = typed.count(True)
            assert typed == [True] * accepted + [False] * (60 - accepted)
            assert 0 < t.waiting_input() <= INPUT_LIMIT
            gate.touch()  # the menu reads: the queue drains through the writer callback
            assert await until(lambda: t.waiting_input() == 0, 30), t.waiting_input()
            assert t.type_line("z")  # room again
            assert await until(
                lambda: (
                    f"read {accepted + 1} lines" in "".join(t.lines())
                    or f"read {accepted + 2} lines" in "".join(t.lines())
                ),
                30,
            ), t.lines()[-5:]
        finally:
            await t.close()


def start_telebot(
    ikabot_dir: IkabotDir, api, tmp_path: Path, command: list[str]
) -> subprocess.Popen[bytes]:
    env = clean_env(
        tmp_path,
        IKABOT_PATH=str(ikabot_dir.path),
        TELEGRAM_API_BASE_URL=api.base_url,
        TELEBOT_POLL_SECONDS="0.05",
        TELEBOT_SCAN_SECONDS="0.2",
        IKABOT_COMMAND=shlex.join(command),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "telebot", "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def said_after(api, n: int, text: str) -> bool:
    return any(text in m["text"] for m in api.sent(OWNER)[n:])


def test_thirty_long_replies_to_a_busy_menu_leave_telebot_answering(ikabot_dir, api, tmp_path):
    """Issue 23, item 1: the menu busy (not reading), 30 owner replies of 4,000 characters
    through the loopback Bot API; /status is still answered, what did not fit is refused
    with a line in the chat, and SIGTERM still stops telebot."""
    argv, _gate = busy_menu(tmp_path)
    with no_leftovers(tmp_path):
        bot = start_telebot(ikabot_dir, api, tmp_path, argv)
        try:
            assert api.wait_for(lambda: said_after(api, 0, "telebot is watching"), 30)
            api.add_message("/menu", chat_id=OWNER, user_id=OWNER)
            assert api.wait_for(lambda: said_after(api, 0, "Busy for a while"), 30)
            for _ in range(30):
                api.add_message("x" * 4000, chat_id=OWNER, user_id=OWNER)
            assert api.wait_for(
                lambda: said_after(api, 0, "Not typed: ikabot's menu has not read"), 30
            )
            n = len(api.sent(OWNER))
            api.add_message("/status", chat_id=OWNER, user_id=OWNER)
            assert api.wait_for(lambda: said_after(api, n, "ikabot tasks"), 30)
            menu = next(
                p
                for p in psutil.Process(bot.pid).children()
                if str(tmp_path) in " ".join(p.cmdline())
            )
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(30) == 0
            assert not psutil.pid_exists(menu.pid) or menu.status() == psutil.STATUS_ZOMBIE
            # the menu's record went with it: nothing for the next telebot to end
            state = StateDB.open_readonly(tmp_path / "state")
            assert state is not None
            try:
                assert state.menus.all() == []
            finally:
                state.close()
        finally:
            if bot.poll() is None:
                bot.kill()
            bot.wait()


# ---- no menu outlives telebot (issue 23, item 2)


def ticks_of(proc: psutil.Process | subprocess.Popen[bytes]) -> int:
    ticks = liveness.start_ticks(proc.pid)
    assert ticks is not None
    return ticks


def test_a_menu_ends_with_a_telebot_killed_by_sigkill(ikabot_dir, api, tmp_path):
    """The menu open (recorded in telebot's state with its identity), telebot gets SIGKILL:
    the kernel's parent-death signal ends the menu, which nobody else would."""
    argv, _gate = busy_menu(tmp_path)
    with no_leftovers(tmp_path):
        bot = start_telebot(ikabot_dir, api, tmp_path, argv)
        try:
            assert api.wait_for(lambda: said_after(api, 0, "telebot is watching"), 30)
            api.add_message("/menu", chat_id=OWNER, user_id=OWNER)
            assert api.wait_for(lambda: said_after(api, 0, "Busy for a while"), 30)
            menu = next(
                p
                for p in psutil.Process(bot.pid).children()
                if str(tmp_path) in " ".join(p.cmdline())
            )
            bot.kill()
            bot.wait()
            assert wait_until(
                lambda: not menu.is_running() or menu.status() == psutil.STATUS_ZOMBIE, 30
            ), "the menu outlived a SIGKILLed telebot"
            # it was recorded by pid and identity (what the next telebot would end it by)
            state = StateDB.open_readonly(tmp_path / "state")
            assert state is not None
            try:
                recorded = state.menus.all()
            finally:
                state.close()
            assert [(m.pid, m.start_ticks, m.boot_id) for m in recorded] == [
                (menu.pid, ticks_of(menu), liveness.boot_id())
            ]
        finally:
            if bot.poll() is None:
                bot.kill()
            bot.wait()


LEFTOVER_MENU = """import os, sys, time
task = os.fork()
if task == 0:  # a task the menu started: detached, in a session of its own
    os.setsid()
    time.sleep(600)
    os._exit(0)
print(task, flush=True)
time.sleep(600)
"""


async def test_leftover_menus_are_ended_by_pid_and_identity_only(ikabot_dir, api, tmp_path, spawn):
    """At start, telebot ends the menu an earlier telebot recorded, and only it: not the task
    that menu started, not a process that has the recorded pid with another identity (a
    reused pid), not a process recorded in another boot."""
    script = tmp_path / "leftover_menu.py"
    script.write_text(LEFTOVER_MENU, encoding="utf-8")
    with no_leftovers(tmp_path):
        left = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, start_new_session=True
        )
        try:
            assert left.stdout is not None
            its_task = psutil.Process(int(left.stdout.readline()))
            reused, old_boot = spawn(ikabot=False), spawn(ikabot=False)
            boot = liveness.boot_id()
            state = StateDB(tmp_path / "state")
            for proc in (
                MenuProcess(left.pid, ticks_of(left), boot, time.time() - 60),
                MenuProcess(reused.pid, ticks_of(reused) - 1, boot, time.time()),
                MenuProcess(old_boot.pid, ticks_of(old_boot), "another-boot", 1.0),
            ):
                state.menus.add(proc)
            state.close()
            async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "state"), api):
                assert await until(lambda: left.poll() is not None, 30), "the menu stayed"
                assert left.returncode == -signal.SIGTERM
                assert its_task.is_running() and its_task.status() != psutil.STATUS_ZOMBIE
                assert reused.poll() is None and old_boot.poll() is None
            state = StateDB(tmp_path / "state")
            assert state.menus.all() == []  # each looked at once, and forgotten
            state.close()
        finally:
            if left.poll() is None:
                left.kill()
            left.wait()
