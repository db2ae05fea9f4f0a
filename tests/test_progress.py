"""`Mission k/N` for the real autoPirate, from the statuses telebot saw it write."""

from __future__ import annotations

from telebot.tasks.progress import runs_progress

T0 = 1_800_000_000.0


def pirating(n: int) -> str:
    return f"Pirating for {n} more runs"  # ikabot 7.7.2's autoPirate, verbatim


def test_seen_from_the_start_gives_the_total():
    history = [
        (T0, "started"),
        (T0 + 1, pirating(10)),
        (T0 + 301, pirating(9)),
        (T0 + 601, pirating(8)),
        (T0 + 901, pirating(7)),
        (T0 + 1201, pirating(6)),
        (T0 + 1501, pirating(5)),
    ]
    p = runs_progress(history, started=T0)
    assert p is not None and (p.current, p.total, p.done) == (6, 10, 5)
    assert p.eta is not None and abs(p.eta - (T0 + 1501 + 5 * 300)) < 1


def test_first_seen_midway_invents_no_total():
    history = [(T0 + 3600, pirating(5)), (T0 + 3900, pirating(4))]
    assert runs_progress(history, started=T0) is None


def test_first_seen_within_the_first_run():
    p = runs_progress([(T0 + 20, pirating(3))], started=T0)
    assert p is not None and (p.current, p.total) == (1, 3) and p.eta is None


def test_one_run_is_no_pace():
    p = runs_progress([(T0, "started"), (T0 + 1, pirating(4)), (T0 + 300, pirating(3))], started=T0)
    assert p is not None and p.current == 2 and p.eta is None


def test_captcha_between_runs_changes_nothing():
    history = [
        (T0, "started"),
        (T0 + 1, pirating(4)),
        (T0 + 50, "Resolving captcha 3/20"),
        (T0 + 300, pirating(3)),
    ]
    p = runs_progress(history, started=T0)
    assert p is not None and (p.current, p.total) == (2, 4)
