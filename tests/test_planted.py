"""Files planted at the paths telebot reads (another local user, a swapped /tmp file): a FIFO
never hangs telebot, and another user's file (or one anyone may write) never fools it. Each
case has its trusted twin (ikabot's own user's file, read and believed), so the test shows
the planted content would have been taken if it were not checked.

Tests run as root (CI): the planted files belong to uid 65534 (nobody), like another user's."""

from __future__ import annotations

import grp
import json
import os
import time
from pathlib import Path

import pytest
from botharness import fast_settings, running_bot
from conftest import ALICE, BOB
from ikabotdata import IkabotDir, LegacyFile, entry_key
from test_alerts import alerts, exits_when

from telebot.ikabot import sidecar

OTHER_UID = 65534
PHISH = "http://phish.example:8080"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def plant(path: Path, text: str, how: str) -> None:
    """`trusted`: ikabot's user's own file; `private group`: the same, writable by its owner's
    own group (umask 002); `other`: another user's; `writable`: ikabot's user's but anyone may
    write it; `group`: writable by a group others are in; `fifo`: a named pipe nobody writes
    to."""
    if how == "fifo":
        os.mkfifo(path)
        return
    path.write_text(text)
    if how == "other":
        os.chown(path, OTHER_UID, OTHER_UID)
    elif how == "writable":
        path.chmod(0o666)
    elif how == "group":
        os.chown(path, -1, OTHER_UID)
        path.chmod(0o664)
    elif how == "private group":  # root's own group, gid 0, with no other member
        os.chown(path, -1, 0)
        path.chmod(0o664)


# ---------------------------------------------------------------- ikabot's log


def forged_log(pid: int) -> str:
    """A record in ikabot's format saying that `pid` failed, with a link of the attacker's."""
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    return (
        f"{at},000 - alice - pid={pid} - ikabot - WARNING - MESSAGE TO TG BOT: Error in:\n"
        f"autoPirate\nCause:\nException: log in again at {PHISH}\n"
        f"{at},001 - alice - pid=1 - ikabot - WARNING - next record\n"
    )


@pytest.mark.parametrize("how", ["trusted", "other", "writable", "fifo"])
async def test_a_planted_log_neither_hangs_nor_forges_a_failure(
    ikabot_dir, spawn, api, tmp_path, how
):
    trigger, log = tmp_path / "go", tmp_path / "ikabot.log"
    p = spawn(exits_when(trigger, 0))
    ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 3 more runs")
    plant(log, forged_log(p.pid), how)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", ikabot_log=log)
    async with running_bot(s, api) as bot:
        trigger.touch()
        assert await bot.wait(lambda: alerts(api))
        (reply,) = await bot.ask("/status")  # still answering
        assert "autoPirate" in reply["text"]
    (text,) = alerts(api)
    if how == "trusted":  # ikabot's own log is believed: the twin that proves the forgery
        assert "failed" in text.split("\n")[0] and PHISH in text
    else:
        assert text.startswith("✅ autoPirate finished") and PHISH not in text, text


# ---------------------------------------------------------------- the legacy sidecar


def legacy_webserver(f: LegacyFile, pid: int) -> None:
    f.add_task(ALICE, pid, "webServer", "running on http://127.0.0.1:43527 ")


def sidecar_text(pid: int) -> str:
    details = {str(pid): {"action": "webServer", "timestamp": time.time(), "urls": [PHISH]}}
    return json.dumps(
        {
            "version": 1,
            "accounts": {
                entry_key(ALICE.email): {
                    ALICE.username: {ALICE.world: {ALICE.server: {"processDetails": details}}}
                }
            },
        }
    )


@pytest.mark.parametrize("how", ["trusted", "other", "writable", "fifo", "symlink"])
async def test_a_planted_sidecar_is_not_shown(legacy_file, spawn, api, tmp_path, how):
    p = spawn()
    legacy_webserver(legacy_file, p.pid)
    path = sidecar.path_for(legacy_file.path)
    if how == "symlink":  # to another user's file elsewhere
        plant(tmp_path / "elsewhere.json", sidecar_text(p.pid), "other")
        path.symlink_to(tmp_path / "elsewhere.json")
    else:
        plant(path, sidecar_text(p.pid), how)
    s = fast_settings(
        legacy_file.path, api, tmp_path / "s", email=ALICE.email, password=ALICE.password
    )
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/webserver")
    assert "http://127.0.0.1:43527" in reply["text"] or how == "trusted"
    assert (PHISH in reply["text"]) is (how == "trusted"), reply["text"]


# ---------------------------------------------------------------- ikabot's data files


def migration_lines(tmp_path: Path, pid: int) -> str:
    """`.legacy_migration.enc`: an account of legacy lines (same format as ikabot ≤ 7.5)."""
    f = LegacyFile(tmp_path / "migration-source")
    f.add_task(BOB, pid, "webServer", f"running on {PHISH} ")
    return "\n".join(f.lines()) + "\n"


@pytest.mark.parametrize("how", ["trusted", "other", "writable", "fifo"])
def test_a_planted_migration_file(ikabot_dir: IkabotDir, spawn, run_cli, tmp_path, how):
    """A FIFO there would block telebot while it holds ikabot's shared lock (so ikabot too)."""
    p = spawn()
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    plant(ikabot_dir.path / ".legacy_migration.enc", migration_lines(tmp_path, p.pid), how)
    r = run_cli(
        "status",
        "--json",
        IKABOT_PATH=str(ikabot_dir.path),
        IKABOT_EMAIL=BOB.email,
        IKABOT_PASSWORD=BOB.password,
        timeout=30,
    )
    if how == "trusted":
        assert r.code == 0, r.err
        assert PHISH in [u for proc in json.loads(r.out)["processes"] for u in proc["urls"]]
    else:  # Bob's only account is in the file that is not read: said, exit 2, no hang
        assert r.code == 2 and PHISH not in r.out, r.err
        assert "legacy_migration.enc" in r.err and "Traceback" not in r.err


@pytest.mark.parametrize("how", ["trusted", "private group", "other", "writable", "group"])
def test_a_planted_users_file(ikabot_dir: IkabotDir, spawn, run_cli, how):
    if how == "private group" and grp.getgrgid(0).gr_mem:
        pytest.skip("root's group has members on this host")
    ikabot_dir.add_task(ALICE, spawn().pid, "autoPirate")
    p = spawn()
    plant(
        ikabot_dir.path / "users" / "mallory_example.org.json",
        json.dumps(
            {
                "email": "mallory@example.org",
                "players": {
                    "mallory": {
                        "1": {
                            "en": {
                                "processList": [
                                    {
                                        "pid": p.pid,
                                        "action": "webServer",
                                        "date": time.time(),
                                        "status": f"running on {PHISH} ",
                                    }
                                ]
                            }
                        }
                    }
                },
            }
        ),
        how,
    )
    r = run_cli("status", "--json", IKABOT_PATH=str(ikabot_dir.path), timeout=30)
    assert r.code == 0, r.err
    urls = [u for proc in json.loads(r.out)["processes"] for u in proc["urls"]]
    trusted = how in ("trusted", "private group")
    assert (PHISH in urls) is trusted, r.out
    if not trusted:
        assert "mallory_example.org.json" in r.err
