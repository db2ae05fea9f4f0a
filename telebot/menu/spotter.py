"""Which task a /menu session started, and with which answers.

ikabot forks a task when its menu's choice is answered and writes its processList entry right
after the fork; the child then asks the task's questions (its configurator) and, once answered,
releases the menu, which shows its choices again. So a task is the new child of the menu that
appears in ikabot's process list after an answer (*pending*), and it has *started* when the
screen shows the choices it was chosen from again while it still runs. Its answers are the
login's (before the first menu: every run of the menu asks them) and those since the last task
started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telebot.menu.recorded import Recording, Step
from telebot.menu.screen import Question
from telebot.processes import liveness
from telebot.tasks.model import Task

CANDIDATE_LOOKS = 20  # settles a new child of the menu may take to appear in the process list
HANGUP_GRACE = 1.5  # seconds a configurator still asking takes to die of its terminal's hangup

ReadTasks = Callable[[], Awaitable[list[Task]]]


@dataclass
class Started:
    """A task the session started: its identity, and the answers that started it."""

    pid: int
    start_ticks: int
    task: Task
    steps: list[Step]

    def recording(self, again_of: tuple[int, int] | None = None) -> Recording:
        """What telebot's state keeps of it (`state.recordings`), from /menu or the console."""
        return Recording(
            self.pid,
            self.start_ticks,
            self.task.action,
            self.task.account,
            tuple(self.steps),
            time.time(),
            again_of,
        )


@dataclass
class _Pending:
    pid: int
    start_ticks: int
    task: Task
    home: Question  # the menu it was chosen from: back there, the task has started
    upto: int  # answers given when it was forked


@dataclass
class Spotter:
    read_tasks: ReadTasks
    children: dict[int, int] = field(default_factory=dict)  # the menu's: pid → start ticks
    # children forked by an answer, not yet in ikabot's process list: (the question answered,
    # answers given then, looks so far)
    _candidates: dict[int, tuple[Question, int, int]] = field(default_factory=dict)
    _pending: _Pending | None = None
    _segment: int = 0  # index of the first answer after the last task started

    def _new_children(self, menu_pid: int) -> list[int]:
        import psutil  # a /menu's, not an idle telebot's

        try:
            kids = psutil.Process(menu_pid).children()
        except psutil.Error:
            return []
        new = [p.pid for p in kids if p.pid not in self.children]
        for pid in new:
            stat = liveness.read_stat(pid)
            if stat is not None:
                self.children[pid] = stat.start_ticks
        return new

    def forked(self, menu_pid: int) -> dict[int, int]:
        """Every child the menu forked so far (pid → start ticks): the tasks this session
        started itself, which are no copy of what it replays (`tasks.twin_guard`)."""
        self._new_children(menu_pid)
        return dict(self.children)

    async def observe(self, menu_pid: int, steps: list[Step], q: Question) -> Started | None:
        """After each settle of the screen: the task that has just started, if one has."""
        if self._pending is None:
            for pid in self._new_children(menu_pid):
                if steps:  # forked by an answer (not the manager ikabot starts first)
                    self._candidates[pid] = (steps[-1].question, len(steps), 0)
            if self._candidates:
                await self._match_candidates()
            return None
        p = self._pending
        if not liveness.same_process(p.pid, p.start_ticks):
            self._pending = None  # its configurator gave up (or had nothing to run)
            self._segment = len(steps)
            return None
        if not (q.choices and q.choices == p.home.choices and len(steps) >= p.upto):
            return None
        self._pending = None
        answers = self._login_steps(steps) + steps[self._segment :]
        self._segment = len(steps)
        return Started(p.pid, p.start_ticks, p.task, answers)

    async def _match_candidates(self) -> None:
        tasks = {t.pid: t for t in await self.read_tasks()}
        for pid, (home, upto, looks) in list(self._candidates.items()):
            task = tasks.get(pid)
            ticks = self.children.get(pid)
            alive = ticks is not None and liveness.same_process(pid, ticks)
            if task is not None and task.alive and alive and ticks is not None:
                self._pending = _Pending(pid, ticks, task, home, upto)
                self._candidates.clear()
                return
            if looks >= CANDIDATE_LOOKS or not alive:
                del self._candidates[pid]  # no task (it ended, or it is no task at all)
            else:
                self._candidates[pid] = (home, upto, looks + 1)

    def unresolved(self) -> bool:
        """A task (or a child that may be one) forked by an answer, not yet seen back at the
        menu it was chosen from: its configurator may still be asking, or may have finished
        a moment ago."""
        return self._pending is not None or bool(self._candidates)

    async def last_look(self, steps: list[Step]) -> Started | None:
        """After the session's terminal was closed (the menu ended, the terminal hung up),
        the task whose configurator finished but whose menu never showed its choices again.
        A configurator still asking dies of the hangup (its read fails: EOF); a task that
        outlives it by `HANGUP_GRACE` seconds had finished asking. Its answers are those
        since the last task started (they ended with the configurator's last)."""
        if self._pending is None and self._candidates:
            await self._match_candidates()
        p = self._pending
        if p is None:
            return None
        deadline = time.monotonic() + HANGUP_GRACE
        while time.monotonic() < deadline:
            if not liveness.same_process(p.pid, p.start_ticks):
                self._pending = None
                return None
            await asyncio.sleep(0.05)
        self._pending = None
        answers = self._login_steps(steps) + steps[self._segment :]
        self._segment = len(steps)
        return Started(p.pid, p.start_ticks, p.task, answers)

    def _login_steps(self, steps: list[Step]) -> list[Step]:
        if self._segment == 0:
            return []  # the first task's answers start with them anyway
        out = []
        for s in steps:
            if s.question.choices:
                break
            out.append(s)
        return out

    async def end_helpers(self, menu_pid: int) -> None:
        """The menu's children that are no task (ikabot's `multiprocessing.Manager` server,
        which its terminal's hangup would end, were SIGHUP not ignored): SIGTERM each, by pid
        and only while it is the very process seen as the menu's child. Tasks (every pid in
        ikabot's process lists) are left alone."""
        self._new_children(menu_pid)
        if not self.children:
            return
        try:
            tasks = {t.pid for t in await self.read_tasks()}
        except Exception:
            return  # unsure which are tasks: end nothing
        for pid, ticks in self.children.items():
            if pid not in tasks and liveness.same_process(pid, ticks):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
