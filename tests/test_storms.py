"""Which deaths make one storm message: driven by a clock, never by how fast a machine is.

`Storms.place` joins a death to the storm's message when it follows the storm's previous one
within `gap` and its first within `cap`; the clock is injected, so each case is exact (the
end-to-end storm in tests/test_alerts.py sets a wide window and kills 20 real processes)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from telebot.alerts.ending import Ending, end_key, of_end_key
from telebot.alerts.storms import Storms
from telebot.alerts.texts import Ended
from telebot.state import StateDB, Tracked
from telebot.tasks.facts import How

GAP, CAP = 0.25, 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ended(pid: int, how: str = How.KILLED) -> Ended:
    now = time.time()
    row = Tracked(
        pid,
        pid * 10,
        now - 3600,
        "a@b.c",
        "alice",
        "59",
        "en",
        "autoPirate",
        "Pirating for 3 more runs",
        {"done": 7, "total": 10, "unit": "runs"},
        3,
        [],
        now - 3600,
        now - 5,
        now - 900,
        None,
        None,
        None,
    )
    return Ended(row, Ending(how, None, "SIGKILL" if how == How.KILLED else None, None), now)


@pytest.fixture
def storms(tmp_path: Path):
    state = StateDB(tmp_path / "state")
    clock = Clock()
    s = Storms(state, "42", gap=GAP, cap=CAP, clock=clock)
    yield s, clock, state
    state.close()


def place(s: Storms, pid: int, how: str = How.KILLED) -> None:
    s.place(ended(pid, how), how, f"end:{pid}")


def messages(state: StateDB) -> list[str]:
    """The alerts that are messages of their own (not edits), by their text now."""
    return [i.text for i in state.outbox.pending() if i.edits is None]


def test_deaths_within_the_gap_are_one_message(storms):
    s, clock, state = storms
    for pid in range(1, 6):
        place(s, pid)
        clock.now += GAP - 0.01
    (text,) = messages(state)
    assert "5 ikabot tasks killed at once" in text


def test_a_death_after_the_gap_is_a_message_of_its_own(storms):
    s, clock, state = storms
    place(s, 1)
    clock.now += GAP - 0.01
    place(s, 2)
    clock.now += GAP + 0.01
    place(s, 3)
    first, second = messages(state)
    assert "2 ikabot tasks killed at once" in first and "pid <code>3</code>" in second


def test_a_storm_ends_at_its_cap_even_with_no_gap(storms):
    s, clock, state = storms
    steps = int(CAP / (GAP / 2)) + 3  # deaths every half gap, for longer than the cap
    for pid in range(1, steps + 1):
        place(s, pid)
        clock.now += GAP / 2
    assert len(messages(state)) == 2


def test_a_finished_task_is_never_part_of_a_storm(storms):
    s, _clock, state = storms
    place(s, 1)
    place(s, 2, How.FINISHED)
    place(s, 3)
    texts = messages(state)
    assert len(texts) == 2 and "finished" in texts[1]
    assert "2 ikabot tasks killed at once" in texts[0]


def test_an_end_key_names_one_process_and_nothing_else():
    """The end alert's outbox key is spelled once (`end_key`) and read back once
    (`of_end_key`): the 🔁/♻️ buttons, keep-alive's ♻️ edit and the metrics' latency find an
    end's alert by it, and no other kind of key passes for one."""
    assert of_end_key(end_key(4321, 98765)) == (4321, 98765)
    for other in (
        "edit:12:3",
        "stalled:4321:98765:1.5",
        "keepalive:4321:98765:note",
        "end:4321",
        "end:x:98765",
        "end:-1:5",
        "notice:start",
        "ended:1:2",
    ):
        assert of_end_key(other) is None, other
