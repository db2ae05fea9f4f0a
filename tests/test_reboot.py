"""After a reboot, for real (issue 24, item 4): tasks started from ikabot 7.7.2's own menu
(the offline ikabot) through the running bot, the machine "goes down" (telebot stopped, every
task SIGKILLed), and a second telebot starts on a machine that booted a minute ago.

The reboot is made, not pretended: the second telebot is a real `telebot run` in a new time
namespace (`unshare --boottime`: CLOCK_BOOTTIME and every start tick it reads restart near 0)
and a new mount namespace in which a file of the test's is bind-mounted over
/proc/sys/kernel/random/boot_id. Nothing in telebot is patched. The owner is the same loopback
Bot API for both telebots."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE, BOB, clean_env
from ikabotdata import IkabotDir
from menuharness import buttons, no_leftovers, offline_command
from test_keepalive import pirate_from_menu
from util import DEADLINE

from telebot.processes import liveness
from telebot.state import StateDB

JUST_BOOTED = 60.0  # seconds: the second telebot's machine booted this long ago


def rebooted_prefix(tmp_path: Path) -> tuple[list[str], str]:
    """The command prefix of a machine that has just booted: a new boot id, an uptime of
    about a minute. Skips where namespaces are not allowed."""
    boot = str(uuid.uuid4())
    (tmp_path / "boot_id").write_text(boot + "\n")
    offset = -int(time.clock_gettime(time.CLOCK_BOOTTIME) - JUST_BOOTED)
    prefix = [
        "unshare",
        "-rmT",
        "--boottime",
        str(offset),
        "sh",
        "-c",
        'mount --bind "$0" /proc/sys/kernel/random/boot_id && exec "$@"',
        str(tmp_path / "boot_id"),
    ]
    try:
        probe = subprocess.run(
            [*prefix, "cat", "/proc/sys/kernel/random/boot_id", "/proc/uptime"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"no unshare here: {e}")
    if probe.returncode != 0:
        pytest.skip(f"no time and mount namespaces here: {probe.stderr.strip()}")
    said_boot, uptime = probe.stdout.split("\n", 1)
    assert said_boot == boot and float(uptime.split()[0]) < JUST_BOOTED + 60, probe.stdout
    return prefix, boot


def tracked(tmp_path: Path, pid: int) -> bool:
    state = StateDB.open_readonly(tmp_path / "state")
    if state is None:
        return False
    try:
        return any(r.pid == pid for r in state.tracking.tracked())
    finally:
        state.close()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def press(api, label: str, message: dict) -> str:
    """Press the button whose label starts with `label`; its callback data."""
    data = next(d for text, d in buttons(message).items() if text.startswith(label))
    api.add_callback(data, message["message_id"], chat_id=OWNER, user_id=OWNER)
    return data


def answered(api, text: str) -> bool:
    return any(
        c.method == "answerCallbackQuery" and text in str(c.params.get("text", ""))
        for c in api.calls
    )


def newest_with(api, text: str, since: int = 0) -> dict | None:
    found = [m for m in api.sent(OWNER)[since:] if text in m["text"]]
    return found[-1] if found else None


def menu_sessions(log: str) -> list[str]:
    """'started' / 'ended' for each of the second telebot's menu sessions, in log order."""
    return [m.group(1) for m in re.finditer(r"menu session \S+ (started|ended)", log)]


async def test_a_reboot_is_one_message_run_all_works_once_kept_ones_restart_one_by_one(
    ikabot_dir: IkabotDir, api, tmp_path, spawn
):
    prefix, boot = rebooted_prefix(tmp_path)
    command = offline_command(ikabot_dir.home, tmp_path / "ikabot.log", tmp_path / "gates", ALICE)
    settings = fast_settings(
        ikabot_dir.path, api, tmp_path / "state", ikabot_command=command, keepalive_backoff=0.3
    )
    with no_leftovers(tmp_path):
        # ---- before: three tasks from /menu (two kept alive), one of Bob's without answers
        async with running_bot(settings, api) as bot:
            _, kept1 = await pirate_from_menu(bot, runs="2")
            _, kept2 = await pirate_from_menu(bot, runs="3")
            _, other = await pirate_from_menu(bot, runs="4")
            for pid in (kept1, kept2):
                (said,) = await bot.ask(f"/keepalive {pid} on")
                assert "is kept alive" in said["text"], said["text"]
            builder = spawn()
            ikabot_dir.add_task(BOB, builder.pid, "constructionList", "building")
            assert await bot.wait(lambda: tracked(tmp_path, builder.pid))
        # ---- the machine goes down: telebot first, then every task with it
        for pid in (kept1, kept2, other, builder.pid):
            os.kill(pid, signal.SIGKILL)
        builder.wait()
        assert api.wait_for(lambda: all(gone(p) for p in (kept1, kept2, other)), DEADLINE)
        before = len(api.sent(OWNER))
        # ---- it comes back: a new boot id, booted a minute ago
        env = clean_env(
            tmp_path,
            IKABOT_PATH=str(ikabot_dir.path),
            TELEGRAM_API_BASE_URL=api.base_url,
            TELEBOT_POLL_SECONDS="0.05",
            TELEBOT_SCAN_SECONDS="0.2",
            IKABOT_COMMAND=shlex.join(command),
            TELEBOT_KEEPALIVE_BACKOFF_SECONDS="0.3",
        )
        log_path = tmp_path / "telebot-after-reboot.log"
        with log_path.open("wb") as log_file:
            after = subprocess.Popen(
                [*prefix, sys.executable, "-m", "telebot", "run"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
        try:
            await rebooted_telebot(
                api, tmp_path, before, boot, kept1, kept2, other, builder.pid, log_path
            )
        finally:
            after.send_signal(signal.SIGTERM)
            try:
                after.wait(30)
            except subprocess.TimeoutExpired:
                after.kill()
                after.wait()


async def rebooted_telebot(
    api,
    tmp_path: Path,
    before: int,
    boot: str,
    kept1: int,
    kept2: int,
    other: int,
    builder: int,
    log_path: Path,
) -> None:
    def log() -> str:
        return log_path.read_text(errors="replace")

    # one message for the four tasks, per account, and no alert of its own for any
    assert api.wait_for(lambda: newest_with(api, "ended with it", before), 60), log()[-3000:]
    reboot = newest_with(api, "ended with it", before)
    text = reboot["text"]
    assert "The machine restarted: 4 ikabot tasks ended with it" in text, text
    assert "alice (s59-en): 3 tasks" in text and "bob (s12-de): 1 task" in text, text
    for pid in (kept1, kept2, other, builder):
        assert f" {pid} " in text, (pid, text)
    assert "2 tasks kept alive restart by themselves, one after another" in text, text
    assert "Run all again starts the 1 other task" in text, text
    assert "1 task is not restarted" in text, text
    assert list(buttons(reboot)) == ["🔁 Run all again (1 task)"], buttons(reboot)
    # 🔁 Run all again → its confirmation lists the one not kept alive
    press(api, "🔁 Run all again", reboot)
    assert api.wait_for(lambda: newest_with(api, "again, as it was configured?", before), 30)
    confirm = newest_with(api, "again, as it was configured?", before)
    assert f"was pid {other})" in confirm["text"] and str(kept1) not in confirm["text"]
    run_them = press(api, "🔁 Run them", confirm)
    assert api.wait_for(lambda: newest_with(api, f"Run again of pid {other}", before), 90), log()[
        -3000:
    ]
    # the kept ones restarted by themselves: their lines in the one message edited
    restarted = re.compile(r"(\d+) .*♻️ restarted as pid (\d+)")

    def both_restarted() -> dict[int, int]:
        m = newest_with(api, "ended with it", before) or {"text": ""}
        pairs = {int(a): int(b) for a, b in restarted.findall(m["text"])}
        return pairs if {kept1, kept2} <= set(pairs) else {}

    if not api.wait_for(both_restarted, 120):
        print(newest_with(api, "ended with it")["text"], log(), sep="\n----\n")
        raise AssertionError("the kept tasks were not restarted (printed above)")
    new = both_restarted()
    # 🔁 Run them a second time (a second phone, a retry): refused, nothing replayed again
    api.add_callback(run_them, confirm["message_id"], chat_id=OWNER, user_id=OWNER)
    assert api.wait_for(lambda: answered(api, "expired or was used already"), 30)
    # … and 🔁 Run all again once more: nothing left
    press(api, "🔁 Run all again", newest_with(api, "ended with it", before))
    assert api.wait_for(lambda: answered(api, "Nothing left to run again"), 30)
    # one after another: each menu session ended before the next started (the log's order),
    # the kept ones in the order they were due; and nothing ran twice
    assert menu_sessions(log()) == ["started", "ended"] * 3, menu_sessions(log())
    replays = [int(p) for p in re.findall(r"keep-alive: replaying \w+ of pid (\d+)", log())]
    assert replays == [kept1, kept2], replays
    assert (
        len([m for m in api.sent(OWNER)[before:] if f"Run again of pid {other}" in m["text"]]) == 1
    )
    assert len([m for m in api.sent(OWNER)[before:] if "ended with it" in m["text"]]) == 1
    # the new tasks live on the rebooted machine's clock: started a minute or two after boot
    state = StateDB.open_readonly(tmp_path / "state")
    try:
        assert state.settings.boot_id() == boot
        olds = {
            r.pid: r for r in state.tracking.tracked(open_only=False) if r.pid in (kept1, kept2)
        }
        ticks = [
            state.keepalive.successor(p, olds[p].start_ticks).start_ticks for p in (kept1, kept2)
        ]
        assert all(t / liveness.clock_ticks() < JUST_BOOTED + 600 for t in ticks), ticks
        assert ticks == sorted(ticks)
        assert all(psutil.pid_exists(p) for p in new.values())
    finally:
        state.close()
