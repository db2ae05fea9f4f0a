"""Keep-alive's decisions with an injected clock: the back-off, the hourly limit (give-up),
which ends restart; and the chain kept in telebot's real SQLite state across a reopen."""

from __future__ import annotations

from pathlib import Path

from telebot.keepalive.chain import LONGEST, backoff, decide, is_kept
from telebot.state import StateDB

HOUR = 3600.0


def test_backoff_is_ten_seconds_then_three_times_longer_up_to_half_an_hour():
    assert [backoff(n, 10.0) for n in range(7)] == [10, 30, 90, 270, 810, LONGEST, LONGEST]


def test_only_faults_restart_never_finished_or_stopped():
    for how in ("finished", "stopped"):
        assert decide(how, kept=True, recorded=True, restarts=[], now=0, limit=5, first=10) is None
    for how in ("failed", "killed", "died"):
        d = decide(how, kept=True, recorded=True, restarts=[], now=0, limit=5, first=10)
        assert d is not None and d.restart_in == 10 and d.note == "♻️ restarting in 10 s"
    assert decide("died", kept=False, recorded=True, restarts=[], now=0, limit=5, first=10) is None
    d = decide("died", kept=True, recorded=False, restarts=[], now=0, limit=5, first=10)
    assert d is not None and d.restart_in is None and "no recorded answers" in d.note


def test_gives_up_after_max_restarts_within_an_hour_and_forgets_older_ones():
    now = 100 * HOUR
    restarts = [now - 50 * 60, now - 30 * 60, now - 20 * 60, now - 10 * 60, now - 60]
    d = decide("killed", kept=True, recorded=True, restarts=restarts, now=now, limit=5, first=10)
    assert d is not None and d.gave_up and d.restart_in is None
    assert "restarted 5 times within an hour (TELEBOT_KEEPALIVE_MAX=5)" in d.note
    # an hour later the oldest count for nothing: the back-off of the ones left
    later = now + 50 * 60 + 1
    d = decide("killed", kept=True, recorded=True, restarts=restarts, now=later, limit=5, first=10)
    assert d is not None and not d.gave_up and d.restart_in == backoff(1, 10)


def test_the_owners_word_beats_the_setting():
    assert is_kept("autoPirate", None, frozenset({"autoPirate"}))
    assert is_kept("webServer", None, frozenset({"all"}))
    assert not is_kept("autoPirate", False, frozenset({"all"}))
    assert is_kept("autoPirate", True, frozenset())
    assert not is_kept("autoPirate", None, frozenset())


def test_a_chain_survives_a_restart_of_telebot(tmp_path: Path):
    state = StateDB(tmp_path)
    ks = state.keepalive
    ks.set_want(10, 1000, "autoPirate", True)
    ks.plan(10, 1000, "autoPirate", 123.0, None, "♻️ restarting in 10 s")
    first = ks.get(10, 1000)
    assert first is not None
    ks.restarted(first, 20, 2000, 50.0, "♻️ restarted as pid 20")
    state.close()
    state = StateDB(tmp_path)
    try:
        ks = state.keepalive
        new = ks.get(20, 2000)
        assert new is not None and new.want and new.of_pid == 10 and new.chain == "10:1000"
        assert ks.restarts_since("10:1000", 0) == [50.0]
        assert ks.due() == []  # tried: nothing due any more
        assert ks.successor(10, 1000) == new
    finally:
        state.close()


def test_a_chain_given_up_counts_for_the_metric_until_turned_off(tmp_path: Path):
    state = StateDB(tmp_path)
    try:
        ks = state.keepalive
        assert ks.gave_up_count() == 0
        ks.give_up(10, 1000, "autoPirate", "gave up: 5 restarts within an hour")
        ks.give_up(11, 1100, "autoPirate", "gave up: 5 restarts within an hour")
        assert ks.gave_up_count() == 2
        ks.set_want(10, 1000, "autoPirate", False)
        assert ks.gave_up_count() == 1
    finally:
        state.close()


class _Replayer:
    """Counts the replays the keeper asks for (the real one is `KeptReplayer`, driven in
    tests/test_keepalive.py through ikabot's own menu)."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def busy(self) -> bool:
        return False

    async def replay_kept(self, rec):
        from telebot.keepalive.keeper import Restart

        self.asked.append(rec.pid)
        return Restart(reason="not in this test")


async def test_a_harmful_copy_alive_blocks_the_restart(tmp_path: Path, spawn, ikabot_dir):
    """alertLowWine (it sends wine: two copies send it twice) runs on the account: a kept
    alertLowWine that died is not restarted, and the alert says why."""
    from conftest import ALICE

    from telebot.config import Settings
    from telebot.ikabot.store import open_store
    from telebot.keepalive.keeper import Keeper
    from telebot.menu.recorded import Recording, to_row
    from telebot.tasks.merge import build_tasks

    live = spawn()
    ikabot_dir.add_task(ALICE, live.pid, "alertLowWine", status="running")
    settings = Settings(ikabot_path=ikabot_dir.path, state_dir=tmp_path / "s")
    tasks = build_tasks(open_store(settings).read())
    (running,) = [t for t in tasks if t.pid == live.pid]
    dead = 2**22 + 7  # above any pid_max default: no process has it
    state = StateDB(tmp_path / "s")
    try:
        state.recordings.add(
            to_row(Recording(dead, 1, "alertLowWine", running.account, (), 0.0, None))
        )
        state.keepalive.plan(dead, 1, "alertLowWine", 0.0, None, "♻️ restarting in 10 s")
        replayer = _Replayer()

        async def read() -> list:
            return tasks

        keeper = Keeper(state, settings, replayer, read, lambda *a: None, lambda: None, "42")
        await keeper.restart(dead, 1)
        assert replayer.asked == []
        kept = state.keepalive.get(dead, 1)
        assert kept is not None and kept.due_at is None
        assert f"alertLowWine already runs on that account (pid {live.pid})" in kept.note
        (told,) = [i for i in state.outbox.pending() if "already runs" in i.text]
        assert "both will send wine" in told.text
        # without the copy, the replay is asked for
        state.keepalive.plan(dead, 1, "alertLowWine", 0.0, None, "♻️ restarting in 10 s")
        tasks = [t for t in tasks if t.pid != live.pid]
        await keeper.restart(dead, 1)
        assert replayer.asked == [dead]
    finally:
        state.close()


def test_keepalives_notes_speak_the_language():
    """The notes under an end alert (restarting, gave up, not restarted), in es and pt, with
    the language's plural forms."""
    from telebot import i18n

    def note(lang: str, **kw) -> str:
        args = {
            "kept": True,
            "recorded": True,
            "restarts": [],
            "now": 0.0,
            "limit": 5,
            "first": 10.0,
            **kw,
        }
        with i18n.in_language(lang):
            d = decide("killed", **args)
        assert d is not None
        return d.note

    assert note("es") == "♻️ se reinicia en 10 s"
    assert note("pt") == "♻️ reinicia em 10 s"
    assert (
        note("es", restarts=[-60.0], limit=1)
        == "♻️ se rindió: reiniciada 1 vez en una hora (TELEBOT_KEEPALIVE_MAX=1)"
    )
    assert (
        note("pt", restarts=[-60.0, -30.0], limit=2)
        == "♻️ desistiu: reiniciada 2 vezes em uma hora (TELEBOT_KEEPALIVE_MAX=2)"
    )
    assert (
        note("en", restarts=[-60.0], limit=1)
        == "♻️ gave up: restarted 1 time within an hour (TELEBOT_KEEPALIVE_MAX=1)"
    )
    assert note("pt", recorded=False).startswith("♻️ não foi reiniciada: não tem respostas")


async def test_restarts_planned_together_are_staggered_one_back_off_apart(tmp_path: Path):
    """Four kept tasks end in the same second (a reboot, ikabot killed): their restarts are
    due one first back-off after another, in the order they ended, and each alert's note
    says its own delay; a later end, after a quiet spell, waits the plain back-off again."""
    from telebot.config import Settings
    from telebot.keepalive.keeper import Keeper
    from telebot.menu.recorded import Recording, to_row
    from telebot.state import Tracked
    from telebot.tasks.model import AccountKey

    now = [1000.0]
    settings = Settings(
        ikabot_path=tmp_path,
        state_dir=tmp_path / "s",
        keepalive_backoff=10.0,
        keepalive=frozenset({"autoPirate"}),
    )
    state = StateDB(tmp_path / "s")
    try:
        keeper = Keeper(
            state,
            settings,
            _Replayer(),
            _no_tasks,
            lambda *a: None,
            lambda: None,
            "42",
            clock=lambda: now[0],
        )
        account = AccountKey("a@b.c", "alice", "59", "en")

        def ended(pid: int) -> str | None:
            state.recordings.add(to_row(Recording(pid, pid, "autoPirate", account, (), 0.0, None)))
            row = Tracked(
                pid,
                pid,
                now[0] - 60,
                "a@b.c",
                "alice",
                "59",
                "en",
                "autoPirate",
                "s",
                None,
                None,
                [],
                now[0] - 60,
                now[0],
                now[0],
                None,
                None,
                None,
            )
            return keeper.end_note(row, "killed")

        notes = [ended(pid) for pid in (11, 12, 13, 14)]
        assert notes == [
            "♻️ restarting in 10 s",
            "♻️ restarting in 20 s",
            "♻️ restarting in 30 s",
            "♻️ restarting in 40 s",
        ]
        assert [state.keepalive.get(p, p).due_at for p in (11, 12, 13, 14)] == [
            1010.0,
            1020.0,
            1030.0,
            1040.0,
        ]
        now[0] += 600
        assert ended(15) == "♻️ restarting in 10 s"
    finally:
        state.close()


async def _no_tasks() -> list:
    return []
