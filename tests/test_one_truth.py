"""One truth per task (issue 18): task views built from ikabot 7.7.2's real statuses (written
by ikabot's own code) and processDetails (the producer API), over real task processes that end
for real, tracked by telebot's real tracker and database; every surface states the same
figures: the alert, the /status line, /details, the report, `telebot status` and `--json`.

The scans run in the test with an injected clock (`Alerter.observe(tasks, now)`), so "telebot
first saw it an hour after it started" needs no hour.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE
from ikabotdata import IkabotDir, building_status, queue_status
from util import until

from telebot.alerts.alerter import Alerter
from telebot.alerts.texts import MARKS
from telebot.config import Settings
from telebot.details import save_process_details
from telebot.ikabot.log import IkabotLog
from telebot.ikabot.store import open_store
from telebot.state import StateDB
from telebot.tasks.merge import annotate, build_tasks
from telebot.views import render
from telebot.views.page import details_html


def pirating(n: int) -> str:
    return f"Pirating for {n} more runs"  # ikabot 7.7.2's autoPirate, verbatim


def building(level: int, left_h: int) -> str:  # ikabot 7.7.2's constructionList
    return building_status("Athens", "Academy", level, 3600, left_h * 3600)


def queue(done: int, total: int = 3) -> dict[str, Any]:
    """constructionList's processDetails (the seed's shape, plus the generic progress)."""
    return {
        "action": "constructionList",
        "city": {"id": "1", "name": "Athens"},
        "buildings": [
            {
                "name": "Academy",
                "current_level": 3 + done,
                "target_level": 3 + total,
                "status": "building" if done < total else "done",
            }
        ],
        "progress": {"done": done, "total": total, "unit": "levels"},
    }


@dataclass
class Case:
    name: str
    action: str
    steps: list[tuple[str, dict[str, Any] | None]]  # (status, processDetails) as written
    end: str | None  # None: still running; "exit": os._exit(0) by itself; "kill": SIGKILL
    words: str  # what every surface says of its figures
    progress: dict[str, Any] | None  # `status --json`'s progress
    state: str = "running"
    seen_after: float = 0.0  # telebot first saw it this long after it started
    last_details: dict[str, Any] | None = None  # written after the last scan, before the end
    ended: dict[str, Any] | None = field(default=None)


CASES = [
    Case(
        "autoPirate seen from its start",
        "autoPirate",
        [("started", None), (pirating(5), None), (pirating(4), None)],
        None,
        "run 2 of 5 (1 done)",
        {"done": 1, "total": 5, "unit": "runs", "current": 2},
    ),
    Case(
        "autoPirate seen midway",
        "autoPirate",
        [(pirating(6), None), (pirating(6), None)],
        None,
        "6 runs left, this one included",
        None,
        seen_after=3600,
    ),
    Case(
        "autoPirate finished",
        "autoPirate",
        [("started", None), (pirating(3), None), (pirating(2), None), (pirating(1), None)],
        "exit",
        "finished: 3 of 3 runs done",
        {"done": 3, "total": 3, "unit": "runs"},
        state="finished",
        ended={"how": "finished", "exit_status": 0, "signal": None},
    ),
    Case(
        "autoPirate killed mid-run",
        "autoPirate",
        [("started", None)] + [(pirating(n), None) for n in (10, 9, 8, 7, 6)],
        "kill",
        "killed (SIGKILL) during run 5 of 10 (4 done)",
        {"done": 4, "total": 10, "unit": "runs", "current": 5},
        state="dead",
        ended={"how": "killed", "exit_status": None, "signal": "SIGKILL"},
    ),
    Case(
        "constructionList finishing its queue",
        "constructionList",
        [
            (queue_status("Athens", 3, 3 * 3600), queue(0)),
            (building(4, 3), queue(0)),
            (building(5, 2), queue(1)),
            (building(6, 1), queue(2)),
        ],
        "exit",
        "finished: 3 of 3 levels done",
        {"done": 3, "total": 3, "unit": "levels"},
        state="finished",
        last_details=queue(3),
        ended={"how": "finished", "exit_status": 0, "signal": None},
    ),
    Case(
        "constructionList midway: the queue's time left, not the building's",
        "constructionList",
        [
            (queue_status("Athens", 3, 3 * 3600), queue(0)),
            (building(4, 3), queue(0)),
            (building(5, 2), queue(1)),
        ],
        None,
        "1 of 3 levels done · 2 h 0 m left",
        {"done": 1, "total": 3, "unit": "levels"},
    ),
    Case(
        "webServer gone",
        "webServer",
        [("running on http://127.0.0.1:43527 ", None)],
        "kill",
        "killed (SIGKILL)",
        None,
        state="dead",
        ended={"how": "killed", "exit_status": None, "signal": "SIGKILL"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_every_surface_states_the_same_figures(
    case: Case, ikabot_dir: IkabotDir, spawn, tmp_path: Path, run_cli
):
    trigger = tmp_path / "go"
    proc = spawn(
        f"import os, time\nwhile not os.path.exists({str(trigger)!r}): "
        "time.sleep(0.01)\nos._exit(0)"
    )
    status, details = case.steps[0]
    ikabot_dir.add_task(ALICE, proc.pid, case.action, status)
    target = ikabot_dir.target(ALICE)
    state = StateDB(tmp_path / "state")
    log = tmp_path / "ikabot.log"
    log.write_text("")
    alerter = Alerter(state, str(OWNER), ikabot_log=IkabotLog(log))
    store = open_store(Settings(ikabot_path=ikabot_dir.path))

    async def scan(now: float | None = None) -> list[Any]:
        tasks = build_tasks(store.read())
        annotate(tasks, state.tracking)
        await alerter.observe(tasks, now)
        return tasks

    try:
        clock = time.time() + case.seen_after  # the injected clock of telebot's scans
        for i, (status, details) in enumerate(case.steps):
            if i:
                ikabot_dir.set_status(ALICE, proc.pid, status)
            if details is not None:
                save_process_details(target, proc.pid, details)
            await scan(clock)
            clock += 300  # a run's minutes between two statuses
        if case.last_details is not None:  # the queue's last level, after the last scan
            save_process_details(target, proc.pid, case.last_details)
        if case.end == "kill":
            proc.kill()
        elif case.end == "exit":
            trigger.touch()

        def ended() -> bool:
            return any(
                r.pid == proc.pid and r.ended_at for r in state.tracking.tracked(open_only=False)
            )

        if case.end:
            assert await until(ended), "telebot did not see it end"
        tasks = await scan()
        (task,) = [t for t in tasks if t.pid == proc.pid]
        now = time.time()
        surfaces: dict[str, str] = {}
        if case.end:
            (alert,) = [i.text for i in state.outbox.pending()]
            surfaces["alert"] = alert.split("\n")[0]
            surfaces["/status line"] = render.stopped_page(tasks, 0, now).text
        else:
            surfaces["/status line"] = render.status_view(tasks, now)[0].text
            surfaces["report"] = render.report_html(tasks, now)
        surfaces["/details"] = details_html(task, now)
        env = {
            "IKABOT_PATH": str(ikabot_dir.path),
            "TELEBOT_STATE_DIR": str(tmp_path / "state"),
            "IKABOT_LOG": str(log),
        }
        table = await asyncio.to_thread(run_cli, "status", **env)
        out = await asyncio.to_thread(run_cli, "status", "--json", **env)
        assert table.code == 0 and out.code == 0, table.err + out.err
        surfaces["telebot status"] = table.out
        for where, text in surfaces.items():
            plain = render.html_to_text(text)
            assert case.words in plain, f"{where}: {plain!r}"
            if case.state == "finished":  # the completed figure, never time left
                assert not re.search(r"\d+ [hms] left|ETA|next run", plain), f"{where}: {plain}"
        (j,) = [p for p in json.loads(out.out)["processes"] if p["pid"] == proc.pid]
        assert j["state"] == case.state and j["progress"] == case.progress, j
        if case.state == "finished":
            assert j["time_left"] is None and j["next_at"] is None and j["remaining"] == 0
        if case.ended is None:
            assert j["ended"] is None
        else:
            assert {k: j["ended"][k] for k in case.ended} == case.ended, j["ended"]
        if case.action == "webServer":
            assert "1 web server recorded but gone" in render.webserver_html(tasks, now)
            assert "http://127.0.0.1:43527 no longer works" in alert
    finally:
        alerter.watcher.close()
        state.close()


async def _alert_and_details(bot: Any, api: Any, pid: int) -> tuple[str, str]:
    """The one alert, once it came, and /details of that task after it."""

    def alerts() -> list[str]:
        return [m["text"] for m in api.sent(OWNER) if m["text"].startswith(MARKS)]

    assert await bot.wait(alerts)
    (alert,) = alerts()
    (details,) = await bot.ask(f"/details {pid}")
    return alert, details["text"]


async def _pirate_at_run_4(ikabot_dir: IkabotDir, spawn: Any, bot: Any) -> Any:
    p = spawn()
    ikabot_dir.add_pirate(ALICE, p.pid, done=3, total=10)
    (status,) = await bot.ask("/status")
    assert "run 4 of 10 (3 done)" in status["text"]
    return p


async def test_the_alert_states_what_ikabot_wrote_after_the_last_scan(
    ikabot_dir, spawn, api, tmp_path: Path
):
    """A run begins, then the task is killed before any scan saw it: the alert reads the
    entry once the process is gone, so it states the run /status states afterwards."""
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", scan_seconds=3600)  # no scans
    async with running_bot(s, api) as bot:
        p = await _pirate_at_run_4(ikabot_dir, spawn, bot)
        ikabot_dir.add_pirate(ALICE, p.pid, done=4, total=10)  # run 5 begins …
        p.kill()  # … and the task is killed before telebot looked again
        alert, details = await _alert_and_details(bot, api, p.pid)
    words = "killed (SIGKILL) during run 5 of 10 (4 done)"
    assert alert.startswith(f"💀 autoPirate {words}"), alert
    assert words in details, details


async def test_an_end_while_telebot_was_down_states_what_ikabot_wrote_last(
    ikabot_dir, spawn, api, tmp_path: Path
):
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s")
    async with running_bot(s, api) as bot:
        p = await _pirate_at_run_4(ikabot_dir, spawn, bot)
    ikabot_dir.add_pirate(ALICE, p.pid, done=4, total=10)  # telebot is down meanwhile
    p.kill()
    p.wait()
    async with running_bot(s, api) as bot:
        alert, details = await _alert_and_details(bot, api, p.pid)
    words = "died during run 5 of 10 (4 done)"
    assert alert.startswith(f"💀 autoPirate {words} while telebot was offline"), alert
    assert words in details, details


async def test_a_pid_in_two_accounts_stays_with_its_own_entry(
    ikabot_dir: IkabotDir, spawn, tmp_path: Path
):
    """The same live pid under alice (dated, the process's own entry) and under bob (undated,
    another status): one process is one running task, alice's, with alice's statuses only;
    `/kill` alone offers one 🛑 for it."""
    from conftest import BOB

    from telebot.bot.kill import pick_markup

    proc = spawn()
    ikabot_dir.add_task(ALICE, proc.pid, "autoPirate", "started")
    ikabot_dir.add_task(BOB, proc.pid, "autoPirate", pirating(2), date=0)
    state = StateDB(tmp_path / "state")
    log = tmp_path / "ikabot.log"
    log.write_text("")
    alerter = Alerter(state, str(OWNER), ikabot_log=IkabotLog(log))
    store = open_store(Settings(ikabot_path=ikabot_dir.path))
    try:
        clock = time.time()
        for alice, bob in ((pirating(5), pirating(2)), (pirating(4), pirating(1))):
            ikabot_dir.set_status(ALICE, proc.pid, alice)
            ikabot_dir.set_status(BOB, proc.pid, bob)
            tasks = build_tasks(store.read())
            annotate(tasks, state.tracking)
            await alerter.observe(tasks, clock)
            clock += 300
        tasks = build_tasks(store.read())
        annotate(tasks, state.tracking)
        (running,) = [t for t in tasks if t.pid == proc.pid and t.state == "running"]
        assert running.account.username == "alice"
        assert {s for _, s in running.history} <= {"started", pirating(5), pirating(4)}
        assert "run 2 of 5 (1 done)" in render.said(running, time.time())
        markup = pick_markup(tasks, "a1b2c3")
        assert markup is not None
        assert [b.text for row in markup.inline_keyboard for b in row] == [
            f"🛑 autoPirate {proc.pid}"
        ]
    finally:
        alerter.watcher.close()
        state.close()
