"""`telebot status` as a process of its own knows what the bot saw (issue 18, item 2): how
ended tasks ended, in the alerts' words, read-only and never waiting on the bot's database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE
from ikabotdata import ikabot_task

from telebot.alerts.texts import MARKS


async def test_status_apart_from_the_bot_says_how_tasks_ended(
    ikabot_dir, spawn, api, tmp_path: Path, run_cli
):
    log, trigger = tmp_path / "ikabot.log", tmp_path / "go"
    done = ikabot_task(ikabot_dir.home, ALICE, log, trigger, "return None")  # ikabot's @task
    try:
        ikabot_dir.add_task(ALICE, done.pid, "autoPirate", "Pirating for 1 more runs")
        doomed = spawn()
        ikabot_dir.add_pirate(ALICE, doomed.pid, done=4, total=10)
        state_dir = tmp_path / "s"
        env = {
            "IKABOT_PATH": str(ikabot_dir.path),
            "TELEBOT_STATE_DIR": str(state_dir),
            "IKABOT_LOG": str(log),
        }
        s = fast_settings(ikabot_dir.path, api, state_dir, ikabot_log=log)
        async with running_bot(s, api) as bot:
            await bot.ask("/status")  # both seen alive
            trigger.touch()
            doomed.kill()
            assert await bot.wait(
                lambda: len([m for m in api.sent(OWNER) if m["text"].startswith(MARKS)]) == 2
            )
            await bot.settled()
            # a writer holds the bot's database meanwhile: a reader neither waits for it
            # nor makes it wait
            writer = sqlite3.connect(state_dir / "telebot.sqlite3", isolation_level=None)
            writer.execute("BEGIN IMMEDIATE")
            try:
                t0 = time.monotonic()
                r = await asyncio.to_thread(run_cli, "status", "--json", **env)
                took = time.monotonic() - t0
            finally:
                writer.execute("ROLLBACK")
                writer.close()
            table = await asyncio.to_thread(run_cli, "status", **env)
            alerts = [m["text"] for m in api.sent(OWNER) if m["text"].startswith(MARKS)]
        assert r.code == 0 and table.code == 0, r.err + table.err
        assert "warning" not in r.err, r.err
        procs = {p["pid"]: p for p in json.loads(r.out)["processes"]}
        finished, killed = procs[done.pid], procs[doomed.pid]
        assert finished["state"] == "finished" and finished["ended"]["how"] == "finished"
        assert finished["ended"]["exit_status"] == 0 and finished["ended"]["at"] > 0
        assert killed["state"] == "dead" and killed["ended"]["how"] == "killed"
        assert killed["ended"]["signal"] == "SIGKILL"
        assert killed["progress"] == {"done": 4, "total": 10, "unit": "runs", "current": 5}
        # the same words as the alerts
        words = "killed (SIGKILL) during run 5 of 10 (4 done)"
        assert any(a.startswith(f"💀 autoPirate {words}") for a in alerts), alerts
        assert words in table.out and "finished" in table.out, table.out
        assert any(a.startswith("✅ autoPirate finished") for a in alerts), alerts
        assert took < 20  # (a process start; what matters is that it did not fail or wait)
    finally:
        if done.poll() is None:
            done.kill()
        done.wait()
