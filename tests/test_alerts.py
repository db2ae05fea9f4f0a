"""Death alerts: real processes killed, the Bot API failing, telebot itself killed."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from botharness import OWNER, fast_settings, running_bot
from conftest import ALICE, BOB, TOKEN, clean_env
from ikabotdata import IkabotDir, ikabot_task
from util import DEADLINE

from telebot.alerts import delivery as alerts_module
from telebot.alerts import storms
from telebot.alerts.texts import MARKS
from telebot.demo.fakeapi import FakeBotAPI
from telebot.details import save_process_details
from telebot.state import StateDB


def alerts(api: FakeBotAPI, word: str = "") -> list[str]:
    return [m["text"] for m in api.sent(OWNER) if m["text"].startswith(MARKS) and word in m["text"]]


def tracked_progress(state_dir: Path, pid: int) -> dict | None:
    """The progress telebot's last scan kept for `pid` (None: not tracked, or none)."""
    state = StateDB.open_readonly(state_dir)
    if state is None:
        return None
    try:
        rows = [r for r in state.tracking.tracked() if r.pid == pid]
        return rows[0].progress if rows else None
    finally:
        state.close()


def pirate(d: IkabotDir, spawn, done: int = 5, total: int = 10, account=ALICE, code=None):
    """An autoPirate as ikabot writes it (`Pirating for N more runs`), with its missions
    published through the producer API."""
    p = spawn(code) if code else spawn()
    d.add_pirate(account, p.pid, done, total)
    return p


def exits_when(trigger: Path, status: int = 0) -> str:
    """Code for a task process that ends by itself (`os._exit`, as ikabot's tasks do) once
    `trigger` exists."""
    return (
        f"import os, time\nwhile not os.path.exists({str(trigger)!r}): time.sleep(0.01)\n"
        f"os._exit({status})"
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_death_alert_names_everything(ikabot_dir, spawn, api, tmp_path, sig):
    p = pirate(ikabot_dir, spawn)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        p.send_signal(sig)
        p.wait()
        assert await bot.wait(lambda: alerts(api))
        (text,) = alerts(api)
        assert text.startswith(f"💀 autoPirate killed ({sig.name}) during run 6 of 10 (5 done)")
        assert f"pid {p.pid}" in text and "alice (s59-en)" in text
        assert "last status: Pirating for 5 more runs" in text and "ran " in text


async def test_webserver_death_names_the_dead_url(ikabot_dir, spawn, api, tmp_path):
    web = spawn()
    ikabot_dir.add_task(BOB, web.pid, "webServer", "running on http://127.0.0.1:43527 ")
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        web.kill()
        assert await bot.wait(lambda: alerts(api))
        assert "http://127.0.0.1:43527 no longer works" in alerts(api)[0]


async def test_finished_is_not_died(ikabot_dir, spawn, api, tmp_path):
    """A task that ends by itself with status 0 and no error logged has finished."""
    trigger = tmp_path / "go"
    p = pirate(ikabot_dir, spawn, done=2, total=3, code=exits_when(trigger))
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        save_process_details(
            ikabot_dir.target(ALICE),
            p.pid,
            {"missions": {"total": 3, "completed": 3, "remaining": 0}},
        )
        # a scan saw the last progress (an event, not a pause: a loaded machine's scan is late)
        assert await bot.wait(
            lambda: (tracked_progress(tmp_path / "s", p.pid) or {}).get("done") == 3
        )
        trigger.touch()
        assert await bot.wait(lambda: alerts(api))
        (text,) = alerts(api)
        assert text.startswith("✅ autoPirate finished")
        assert "died" not in text and "killed" not in text


async def test_nonzero_exit_is_failed(ikabot_dir, spawn, api, tmp_path):
    trigger = tmp_path / "go"
    p = pirate(ikabot_dir, spawn, code=exits_when(trigger, 3))
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        trigger.touch()
        assert await bot.wait(lambda: alerts(api))
        (text,) = alerts(api)
        assert text.startswith("❌ autoPirate failed") and "exit status 3" in text
        assert f"pid {p.pid}" in text


async def test_storm_of_20_deaths_is_one_message(ikabot_dir, spawn, api, tmp_path, monkeypatch):
    """The first death is sent at once; the other 19 edit that message into one list.

    Which deaths are one storm is a matter of the gap between them (tests/test_storms.py
    drives that with a clock); here the deaths are 20 kills in a row, which a loaded machine
    may spread over seconds, so the window is set wide enough to hold them."""
    monkeypatch.setattr(storms, "STORM_GAP", 30.0)
    monkeypatch.setattr(storms, "STORM_CAP", 60.0)
    procs = [pirate(ikabot_dir, spawn, done=i % 10) for i in range(20)]
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        for p in procs:
            p.kill()

        def complete() -> bool:
            found = alerts(api)
            return len(found) == 1 and all(
                f"pid {p.pid}" in found[0] or f" {p.pid} " in found[0] for p in procs
            )

        assert await bot.wait(complete), alerts(api)
        await bot.settled()
        (text,) = alerts(api)
        assert text.startswith("💀 20 ikabot tasks killed at once")
        message = next(m for m in api.sent(OWNER) if m["text"].startswith(MARKS))
        assert all(f"<code>{p.pid}</code>" in message["html"] for p in procs)
        assert message["edits"] >= 1
        # one message sent, the rest were edits of it: nothing repeated
        assert (
            sum(
                c.method == "sendMessage" and str(c.params.get("text")).startswith(MARKS)
                for c in api.calls
            )
            == 1
        )


async def test_outage_then_delivered_exactly_once(ikabot_dir, spawn, api, tmp_path, monkeypatch):
    monkeypatch.setattr(alerts_module, "BACKOFF_START", 0.05)  # same backoff, shorter
    p = pirate(ikabot_dir, spawn)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        api.fail("sendMessage", 502, times=3)
        api.fail("sendMessage", drop=True, times=2)
        p.kill()
        assert await bot.wait(lambda: alerts(api))
        await bot.settled()
        assert len(alerts(api)) == 1
        statuses = [c.status for c in api.calls if c.method == "sendMessage"]
        assert statuses.count(502) == 3 and statuses.count(0) == 2


async def test_429_retry_after_is_honoured(ikabot_dir, spawn, api, tmp_path):
    """Telegram's 429 says how long to wait. python-telegram-bot's rate limiter retries twice
    as told, then hands the RetryAfter to the outbox: the outbox must wait that long too (its
    own backoff starts at BACKOFF_START, well under `retry_after` here), so no send comes
    sooner than `retry_after` after a 429."""
    retry_after = 2
    assert retry_after > alerts_module.BACKOFF_START
    p = pirate(ikabot_dir, spawn)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        api.fail("sendMessage", 429, times=4, retry_after=retry_after)
        p.kill()
        assert await bot.wait(lambda: alerts(api), timeout=30)
        sends = [c for c in api.calls if c.method == "sendMessage"]
        limited = [c for c in sends if c.status == 429]
        ok = [c for c in sends if c.status == 200 and "killed" in str(c.params.get("text"))]
        assert len(limited) == 4 and len(ok) == 1
        for before, after in itertools.pairwise(sends):
            if before.status == 429:
                assert after.time - before.time >= retry_after, "sent again too soon"


async def test_mute_holds_finished_but_not_deaths(ikabot_dir, spawn, api, tmp_path):
    doomed = pirate(ikabot_dir, spawn)
    trigger = tmp_path / "go"
    done = pirate(ikabot_dir, spawn, done=2, total=3, code=exits_when(trigger))
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        (reply,) = await bot.ask("/mute 60")
        assert "held for 60 minutes" in reply["text"]
        trigger.touch()
        done.wait()
        doomed.kill()
        assert await bot.wait(lambda: alerts(api, "killed"))
        assert alerts(api, "finished") == []
        (reply,) = await bot.ask("/mute 0")
        assert await bot.wait(lambda: alerts(api, "finished"))


async def test_alerts_toggle(ikabot_dir, spawn, api, tmp_path):
    p = pirate(ikabot_dir, spawn)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        (reply,) = await bot.ask("/alerts")
        # each switch says what it covers: *died* silences failed, killed and stopped too
        assert "✅ died: a task failed, was killed, died or was stopped" in reply["text"]
        # no TELEBOT_STALL_MINUTES here: *stalled* is off, whatever was chosen, and says why
        assert (
            "⬜ stalled: " in reply["text"] and "TELEBOT_STALL_MINUTES is not set" in reply["text"]
        )
        labels = [b["text"] for row in reply["reply_markup"]["inline_keyboard"] for b in row]
        assert "⬜ stalled" in labels and "✅ died" in labels
        api.add_callback("tb:a:died", reply["message_id"], chat_id=OWNER)
        assert await bot.wait(
            lambda: (
                "⬜ died" in api.sent(OWNER)[-1]["text"]
                or any("⬜ died" in m["text"] for m in api.sent(OWNER))
            )
        )
        p.kill()
        p.wait()

        def ended() -> bool:  # telebot decided about this end (and its alert) already
            state = StateDB.open_readonly(tmp_path / "s")
            if state is None:
                return False
            try:
                return any(
                    r.pid == p.pid and r.ended_at for r in state.tracking.tracked(open_only=False)
                )
            finally:
                state.close()

        assert await bot.wait(ended)
        await bot.settled()
        assert alerts(api) == []


async def test_stall_alert(ikabot_dir, spawn, api, tmp_path):
    pirate(ikabot_dir, spawn)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", stall_minutes=0.01)
    async with running_bot(s, api) as bot:
        assert await bot.wait(lambda: alerts(api, "stalled"))
        assert "autoPirate stalled" in alerts(api)[0]
        for _ in range(3):  # every read looks for stalls: three more looks
            await bot.ask("/status")
        await bot.settled()
        assert len(alerts(api, "stalled")) == 1  # once per stall, not every scan


# ---------------------------------------------------------------- telebot as a process


def start_telebot(d: IkabotDir, api: FakeBotAPI, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = clean_env(
        tmp_path,
        IKABOT_PATH=str(d.path),
        TELEGRAM_API_BASE_URL=api.base_url,
        TELEBOT_POLL_SECONDS="0.05",
        TELEBOT_SCAN_SECONDS="0.2",
        TELEBOT_STATE_DIR=str(tmp_path / "state"),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "telebot", "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def started(api: FakeBotAPI, count: int) -> bool:
    return sum("telebot is watching" in m["text"] for m in api.sent(OWNER)) >= count


def test_killed_during_outage_then_restarted_delivers_each_death_once(
    ikabot_dir, spawn, api, tmp_path
):
    procs = [pirate(ikabot_dir, spawn, done=i) for i in range(3)]
    bot = start_telebot(ikabot_dir, api, tmp_path)
    try:
        assert api.wait_for(lambda: started(api, 1), DEADLINE)
        api.fail("sendMessage", 502, times=10_000)  # Telegram is down
        procs[0].kill()
        procs[0].wait()
        state = StateDB(tmp_path / "state")
        assert api.wait_for(lambda: any(c.status == 502 for c in api.calls), DEADLINE)
        assert len(state.outbox.pending()) == 1  # stored before it was sent
        bot.send_signal(signal.SIGKILL)  # telebot dies too, mid-outage
        bot.wait()
        procs[1].kill()  # and another task dies while telebot is down
        procs[1].wait()
        api.clear_failures()
        bot = start_telebot(ikabot_dir, api, tmp_path)
        assert api.wait_for(lambda: len(alerts(api)) >= 2, DEADLINE), alerts(api)
        procs[2].kill()
        assert api.wait_for(lambda: len(alerts(api)) >= 3, DEADLINE)
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(DEADLINE) == 0  # a clean stop
        # once more: nothing is repeated
        bot = start_telebot(ikabot_dir, api, tmp_path)
        assert api.wait_for(lambda: started(api, 3), DEADLINE)
        # a positive event first: a /status answered after the start (so the start's look at
        # what ended meanwhile is done) and nothing left in the outbox
        api.add_message("/status", chat_id=OWNER)
        assert api.wait_for(lambda: any("ikabot tasks" in m["text"] for m in api.sent(OWNER)), 20)
        assert api.wait_for(lambda: not state.outbox.pending(), DEADLINE)
        texts = alerts(api)
        assert len(texts) == 3, "\n---\n".join(texts)
        assert sum(f"pid {procs[0].pid}" in t for t in texts) == 1
        offline = [t for t in texts if f"pid {procs[1].pid}" in t]
        assert len(offline) == 1 and "while telebot was offline" in offline[0]
        assert sum(f"pid {procs[2].pid}" in t for t in texts) == 1
        state.close()
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            bot.wait(DEADLINE)
        err = bot.stderr.read().decode() if bot.stderr else ""
        assert TOKEN not in err


def test_sigterm_and_sigint_exit_0(ikabot_dir, api, tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        n = len(api.calls)
        bot = start_telebot(ikabot_dir, api, tmp_path)
        assert api.wait_for(lambda n=n: any(c.method == "getUpdates" for c in api.calls[n:]), 20)
        os.kill(bot.pid, sig)
        assert bot.wait(DEADLINE) == 0


async def test_unchanged_tasks_are_not_rewritten_every_scan(ikabot_dir, spawn, tmp_path):
    """On a Raspberry Pi's SD card, a write per task per scan adds up over months."""
    from telebot.alerts.alerter import Alerter
    from telebot.config import Settings
    from telebot.ikabot.store import open_store
    from telebot.tasks.merge import collect

    for i in range(5):
        pirate(ikabot_dir, spawn, done=i)
    state = StateDB(tmp_path / "state")
    alerter = Alerter(state, str(OWNER))
    store = open_store(Settings(ikabot_path=ikabot_dir.path))
    await alerter.observe(collect(store))
    assert len(state.tracking.tracked()) == 5
    before = state.db.conn.total_changes
    for _ in range(10):
        await alerter.observe(collect(store))
    assert state.db.conn.total_changes == before
    p = pirate(ikabot_dir, spawn, done=1)  # a new task: written once
    save_process_details(
        ikabot_dir.target(ALICE), p.pid, {"missions": {"total": 10, "completed": 2, "remaining": 8}}
    )
    await alerter.observe(collect(store))
    assert state.db.conn.total_changes == before + 2  # its row, and its first status in history
    alerter.watcher.close()
    state.close()


async def test_raise_is_failed_with_the_cause_from_ikabots_log(ikabot_dir, api, tmp_path):
    """ikabot's `@task` wrapper exits with status 0 after an exception too: only its log
    (`MESSAGE TO TG BOT: Error in: … Cause: <traceback>`) tells the failure apart."""
    log, trigger = tmp_path / "ikabot.log", tmp_path / "go"
    cause = "Exception: No city with pirate fortress capable of executing selected mission"
    p = ikabot_task(
        ikabot_dir.home, ALICE, log, trigger, f"raise Exception({cause.split(': ', 1)[1]!r})"
    )
    try:
        ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 3 more runs")
        s = fast_settings(ikabot_dir.path, api, tmp_path / "s", ikabot_log=log)
        async with running_bot(s, api) as bot:
            trigger.touch()
            assert await bot.wait(lambda: alerts(api))
            (text,) = alerts(api)
        assert p.wait(DEADLINE) == 0  # ikabot's logout(): os._exit(0), as after a success
        # telebot saw it start with 3 runs to go, so it knows the total
        assert text.startswith(
            (
                "❌ autoPirate failed during run 1 of 3 (0 done)",
                "❌ autoPirate failed with 3 runs left",
            )
        ), text  # before a scan
        assert f"cause: {cause}" in text and "Traceback" not in text
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


async def test_ikabot_task_that_returns_is_finished(ikabot_dir, api, tmp_path):
    """The same wrapper after a normal return: one *finished* alert, nothing else."""
    log, trigger = tmp_path / "ikabot.log", tmp_path / "go"
    p = ikabot_task(ikabot_dir.home, ALICE, log, trigger, "return None")
    try:
        ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 1 more runs")
        s = fast_settings(ikabot_dir.path, api, tmp_path / "s", ikabot_log=log)
        async with running_bot(s, api) as bot:
            trigger.touch()
            assert await bot.wait(lambda: alerts(api))
            (reply,) = await bot.ask("/status")  # a later answer: no second alert came first
            assert "✅" in reply["text"]
            (text,) = alerts(api)
        assert text.startswith("✅ autoPirate finished") and "probably" not in text
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


async def test_status_shows_mission_k_of_n_for_a_pirate_seen_from_its_start(
    ikabot_dir, spawn, api, tmp_path
):
    """ikabot writes only `Pirating for N more runs`; telebot saw the first one, so N is the
    total and the run under way is shown as `run k of N (k-1 done)`."""
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "autoPirate")  # ikabot's menu writes "started"
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:

        async def status_says(text: str) -> bool:
            for _ in range(50):
                (reply,) = await bot.ask("/status")
                if text in reply["text"]:
                    return True
            return False

        def history_has(n: int) -> bool:
            state = StateDB.open_readonly(tmp_path / "s")
            if state is None:
                return False
            try:
                return any(
                    len(state.tracking.status_history(r.pid, r.start_ticks)) >= n
                    for r in state.tracking.tracked()
                )
            finally:
                state.close()

        assert await status_says("started")
        ikabot_dir.set_status(ALICE, p.pid, "Pirating for 5 more runs")
        assert await status_says("run 1 of 5 (0 done)")
        assert await bot.wait(lambda: history_has(2))  # a scan kept it in the history
        ikabot_dir.set_status(ALICE, p.pid, "Pirating for 4 more runs")
        assert await status_says("run 2 of 5 (1 done)")
        assert await bot.wait(lambda: history_has(3))  # the alert tells what a scan last saw
        p.kill()
        assert await bot.wait(lambda: alerts(api))
        assert alerts(api)[0].startswith(
            "💀 autoPirate killed (SIGKILL) during run 2 of 5 (1 done)"
        )


async def test_an_alert_for_a_task_with_a_5000_character_action_arrives(
    ikabot_dir, spawn, api, tmp_path
):
    """Telegram refuses a message over 4096 characters: every field is clipped, so the alert
    (and /status) still go out."""
    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "a" * 5000, "Pirating for 3 more runs " + "s" * 5000)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        (reply,) = await bot.ask("/status")
        assert "aaaa…" in reply["text"]
        p.kill()
        p.wait()
        assert await bot.wait(lambda: alerts(api, "killed"))
    assert all(c.status == 200 for c in api.calls if c.method == "sendMessage")


async def test_a_task_gone_while_telebot_was_down_after_its_last_run_is_probably_finished(
    ikabot_dir, spawn, api, tmp_path
):
    """No exit information for a death telebot did not see (it was down), no error in
    ikabot's log: an autoPirate whose last status said 1 more run is *probably* finished;
    one with runs left died."""
    last_run = pirate(ikabot_dir, spawn, done=9, total=10)
    midway = pirate(ikabot_dir, spawn, done=4, total=10, account=BOB)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s")
    async with running_bot(s, api) as bot:
        await bot.settled()  # both tracked
    for p in (last_run, midway):
        p.kill()
        p.wait()
    async with running_bot(s, api) as bot:
        assert await bot.wait(lambda: len(alerts(api)) >= 2)
        await bot.settled()
    (finished,) = alerts(api, f"pid {last_run.pid} ")
    (died,) = alerts(api, f"pid {midway.pid} ")
    assert "probably finished" in finished and "while telebot was offline" in finished
    assert "died" in died and "finished" not in died


async def test_a_runaway_status_is_kept_bounded_in_telebots_database(
    ikabot_dir, spawn, api, tmp_path
):
    """A task that writes megabytes into its status (and its action): telebot's database
    keeps STATUS_KEEP / ACTION_KEEP characters of them, once, not the whole text per change."""
    from telebot.tasks.merge import ACTION_KEEP, STATUS_KEEP

    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "a" * 100_000, "Pirating for 3 more runs " + "x" * 10**6)
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s")
    async with running_bot(s, api) as bot:
        await bot.ask("/status")
        await bot.settled()  # scanned again meanwhile: an unchanged status is not a change
        state = StateDB.open_readonly(s.state_dir)
        assert state is not None
        (row,) = state.tracking.tracked()
        assert len(row.status) == STATUS_KEEP and len(row.action) == ACTION_KEEP
        (entry,) = state.tracking.status_history(row.pid, row.start_ticks)
        assert len(entry[1]) == STATUS_KEEP
        state.close()


async def test_what_ikabot_wrote_after_the_last_scan_is_kept_bounded_too(
    ikabot_dir, spawn, api, tmp_path
):
    """The last words of a task read once its process is gone (`Tracker.last_words`): a
    runaway status and a page of URLs are kept as bounded as a scan keeps them."""
    from telebot.tasks.merge import STATUS_KEEP
    from telebot.views.render import URLS_SHOWN

    p = spawn()
    ikabot_dir.add_task(ALICE, p.pid, "webServer", "running on http://127.0.0.1:43527 ")
    s = fast_settings(ikabot_dir.path, api, tmp_path / "s", scan_seconds=3600)  # no scans
    async with running_bot(s, api) as bot:
        (reply,) = await bot.ask("/status")
        assert "webServer" in reply["text"]
        urls = " and ".join(f"http://10.0.0.{i}:43527" for i in range(1, 21))
        ikabot_dir.set_status(ALICE, p.pid, f"running on {urls} " + "x" * 10**6)
        p.kill()
        assert await bot.wait(lambda: alerts(api, "webServer"))
    state = StateDB.open_readonly(s.state_dir)
    assert state is not None
    try:
        (row,) = state.tracking.tracked(open_only=False)
        assert row.ended_at is not None and len(row.status) == STATUS_KEEP
        assert row.urls == [f"http://10.0.0.{i}:43527" for i in range(1, URLS_SHOWN + 1)]
        assert all(
            len(said) <= STATUS_KEEP
            for _, said in state.tracking.status_history(row.pid, row.start_ticks)
        )
    finally:
        state.close()


async def test_the_log_says_each_end_and_each_alert_delivered(
    ikabot_dir, spawn, api, tmp_path, caplog
):
    """One INFO line per task end (pid, how, where it stopped) and per alert sent."""
    caplog.set_level("INFO", logger="telebot")
    p = pirate(ikabot_dir, spawn)
    async with running_bot(fast_settings(ikabot_dir.path, api, tmp_path / "s"), api) as bot:
        p.kill()
        p.wait()
        assert await bot.wait(lambda: alerts(api))

        def lines() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.levelname == "INFO"]

        assert await bot.wait(lambda: any("delivered" in x for x in lines()))
    (end,) = [x for x in lines() if f"task {p.pid} " in x]
    assert "autoPirate" in end and "killed (signal SIGKILL)" in end
    assert "last status: Pirating for 5 more runs" in end
    assert TOKEN not in "\n".join(lines())
