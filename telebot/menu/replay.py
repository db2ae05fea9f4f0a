"""🔁 Run again: the recorded answers typed into a fresh menu, each only when the screen asks
the very question it answered (same prompt, same choices). At the first difference the replay
stops and says where; the live session stays with the owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telebot.i18n import N_, _
from telebot.menu.recorded import Step, StepKind
from telebot.menu.screen import Question
from telebot.menu.session import MenuSession, View
from telebot.menu.spotter import ReadTasks
from telebot.tasks import twin_guard
from telebot.tasks.model import AccountKey

PATIENCE = 5.0  # seconds a different screen must stay unchanged to count as a difference
FIRST_SCREEN = 30.0  # seconds the menu may take to ask its first question


@dataclass(frozen=True)
class Outcome:
    done: bool
    step: int = 0  # 1-based: the step that differed
    expected: Question | None = None
    found: Question | None = None
    echo_off: bool = False
    secret: bool = False  # the recorded step was a secret: telebot never kept its text
    refused: str = ""  # the guard's reason to type nothing more (`twin_guard`)

    def explain(self, total: int) -> str:
        step = {"step": self.step, "total": total}
        if self.done:
            return _("all {total} recorded answers given").format(total=total)
        if self.refused:
            return _("refused before step {step} of {total}: {why}").format(
                why=_(self.refused), **step
            )
        if self.secret:
            return _(
                "stopped at step {step} of {total}: its answer was a secret (a token), "
                "which telebot never keeps: type it yourself"
            ).format(**step)
        if self.expected is None or self.found is None:
            return _("stopped at step {step} of {total}: the menu ended or went quiet").format(
                **step
            )
        what = (
            _("a question with echo off (a password?)") if self.echo_off else self.found.describe()
        )
        return _(
            "stopped at step {step} of {total}: recorded {recorded}, the screen asks {what}"
        ).format(recorded=self.expected.describe(), what=what, **step)


async def _asked(
    session: MenuSession, expected: Question, after: int, first: bool
) -> tuple[bool, Question | None, bool]:
    """Wait for the screen to ask `expected`; (matched, what it asks, echo off)."""
    generation = after
    patience = FIRST_SCREEN if first else PATIENCE
    while True:
        if not await session.next_settle(generation, patience) or session.ended.is_set():
            if session.ended.is_set():
                return False, None, False
            view = session.view()
            return False, view.question, view.echo_off
        generation = session.generation
        view = session.view()
        if view.question == expected:
            return True, view.question, view.echo_off
        patience = PATIENCE


# an echo-off question the recording has no answer for (ikabot's password prompt): answered
# by keep-alive (True: the replay goes on), or not (False: it stops there)
AtEchoOff = Callable[[View], Awaitable[bool]]


Guard = Callable[[], Awaitable[str | None]]  # None: go on; else why nothing more is typed


def no_twin(
    session: MenuSession,
    read_tasks: ReadTasks,
    action: str,
    account: AccountKey,
    acknowledged: tuple[str, ...] = (),
) -> Guard:
    """The guard 🔁 Run again types behind: a fresh read of ikabot's data before each answer,
    refused when a copy of `action` runs on `account` that the owner did not see when
    confirming (`tasks.twin_guard`). The session's own children are left out: ikabot forks
    the task when its menu's choice is answered and asks the task's questions in it."""

    async def guard() -> str | None:
        forked = session.spotter.forked(session.pid)
        tasks = [t for t in await read_tasks() if forked.get(t.pid) != t.start_ticks]
        refusal = twin_guard.guard(tasks, action, account, acknowledged)
        return refusal.line() if refusal is not None else None

    return guard


async def replay(
    session: MenuSession,
    steps: list[Step] | tuple[Step, ...],
    guard: Guard | None = None,
    at_echo_off: AtEchoOff | None = None,
) -> Outcome:
    """Type `steps`, each when its question is on the screen. `guard` is asked right before
    each answer is typed (a fresh look at what runs: `tasks.twin_guard`); a reason from it
    stops the replay there."""
    generation = 0
    for i, step in enumerate(steps, 1):
        matched, found, echo_off = await _asked(session, step.question, generation, i == 1)
        while (
            not matched
            and echo_off
            and at_echo_off is not None
            and step.kind is not StepKind.ENTER
            and not session.ended.is_set()
            and await at_echo_off(session.view())
        ):
            generation = session.generation
            matched, found, echo_off = await _asked(session, step.question, generation, True)
        if not matched and session.view().question == step.question and not session.ended.is_set():
            matched = True  # asked already, before the wait began
        if not matched:
            return Outcome(
                False, i, step.question, found, echo_off and step.kind is not StepKind.ENTER
            )
        if step.kind is StepKind.SECRET:  # the owner types it: telebot never kept it
            return Outcome(False, i, step.question, found, False, secret=True)
        if guard is not None and (reason := await guard()):
            return Outcome(False, i, refused=reason)
        generation = session.generation
        if not session.answer(step.answer, step.kind).typed:
            return Outcome(False, i, refused=N_("ikabot's menu did not read what was typed"))
    return Outcome(True)
