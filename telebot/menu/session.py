"""One /menu session: ikabot's menu in a terminal, its screen shown, answers typed, the tasks
it starts recognised and their answers recorded.

The screen is published (to one Telegram message, by the glue in `bot/menu_handlers`) when it
has been quiet for `QUIET` seconds, at most every `MIN_INTERVAL` seconds (Telegram allows about
one edit a second in a chat, 20 a minute in a group). A task is recognised as the new
processList entry whose process is a child of the menu; it has *started* once the menu shows
the choices it was chosen from again (ikabot's configurator released the menu). Its answers
are then recorded: the login's answers and the answers since the last task started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psutil

from telebot.menu.recorded import Step
from telebot.menu.screen import Question, question, text_for_chat
from telebot.menu.terminal import Terminal
from telebot.model import Task
from telebot.processes import liveness

log = logging.getLogger(__name__)

QUIET = 0.15  # seconds without output before the screen is shown
MIN_INTERVAL = 1.0  # seconds between two edits of the screen message (private chat)
GROUP_INTERVAL = 3.0  # in a group: Telegram allows 20 messages a minute there
IDLE_LIMIT = 600.0  # a session nobody answered for this long ends
CANDIDATE_LOOKS = 20  # settles a new child of the menu may take to appear in the process list


@dataclass(frozen=True)
class View:
    """What the glue shows: the screen's text, its question, whether echo is off."""

    text: str
    question: Question
    echo_off: bool
    ended: bool = False


@dataclass
class Started:
    """A task the session started: its identity, and the answers that started it."""

    pid: int
    start_ticks: int
    task: Task
    steps: list[Step]


@dataclass
class _Pending:
    pid: int
    start_ticks: int
    task: Task
    home: Question  # the menu it was chosen from: back there, the task has started
    upto: int = 0  # answers given when it was seen


Publish = Callable[[View], Awaitable[None]]
ReadTasks = Callable[[], Awaitable[list[Task]]]
OnStarted = Callable[["MenuSession", Started], Awaitable[None]]


@dataclass
class MenuSession:
    argv: list[str]
    env: dict[str, str]
    publish: Publish
    read_tasks: ReadTasks
    on_started: OnStarted
    min_interval: float = MIN_INTERVAL
    idle_limit: float = IDLE_LIMIT
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    steps: list[Step] = field(default_factory=list)
    started: list[Started] = field(default_factory=list)
    again_of: tuple[int, int] | None = None  # a replay: the task run again
    end_reason: str = ""
    terminal: Terminal | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _settled: asyncio.Event = field(default_factory=asyncio.Event)
    _last_output: float = 0.0
    _last_input: float = field(default_factory=time.monotonic)
    _last_publish: float = 0.0
    _published: View | None = None
    _generation: int = 0  # screens settled so far
    _shown_generation: int = 0
    _known_children: dict[int, int] = field(default_factory=dict)  # pid → start ticks
    _pending: _Pending | None = None
    # children forked by an answer, not yet in ikabot's process list: (the question answered,
    # answers given then, looks so far)
    _candidates: dict[int, tuple[Question, int, int]] = field(default_factory=dict)
    _segment: int = 0  # index of the first answer after the last task started
    _runner: asyncio.Task[None] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self.terminal = Terminal(self.argv, self.env, on_output=self._output)
        self._runner = asyncio.create_task(self._run(), name=f"menu-{self.token}")

    @property
    def pid(self) -> int:
        assert self.terminal is not None
        return self.terminal.pid

    def _output(self) -> None:
        self._last_output = time.monotonic()
        self._settled.clear()
        self._changed.set()

    # ---- what the screen shows

    def view(self) -> View:
        t = self.terminal
        assert t is not None
        lines = t.lines()
        return View(text_for_chat(lines), question(lines, t.cursor_row()), not t.echo(),
                    ended=self.ended.is_set())

    async def _run(self) -> None:
        """Settle after each burst of output (a task seen, the replay told), and publish the
        screen when it differs from the one shown, no more often than `min_interval`."""
        assert self.terminal is not None
        try:
            while not self.terminal.eof.is_set():
                due = self._last_publish + self.min_interval - time.monotonic()
                unshown = self._generation != self._shown_generation
                timeout = max(0.01, due) if unshown else min(5.0, self.idle_limit)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)
                if self._idle():
                    self.end_reason = "nobody answered for 10 minutes"
                    break
                if self._changed.is_set():
                    await self._quiet()
                    self._changed.clear()
                    if self.terminal.eof.is_set():
                        break
                    await self._detect(self.view().question)
                    self._generation += 1
                    self._settled.set()
                if self._generation != self._shown_generation and \
                        time.monotonic() >= self._last_publish + self.min_interval:
                    self._shown_generation = self._generation
                    view = self.view()
                    if view != self._published:
                        self._published = view
                        self._last_publish = time.monotonic()
                        await self.publish(view)
        except Exception:
            log.exception("menu session %s failed", self.token)
            self.end_reason = self.end_reason or "telebot's side of the session failed"
        finally:
            if not self.end_reason and self.terminal.eof.is_set():
                self.end_reason = "ikabot's menu exited"
            await self._finish()

    def _idle(self) -> bool:
        return time.monotonic() - self._last_input > self.idle_limit

    async def _quiet(self) -> None:
        """Until the menu has printed nothing for QUIET seconds (or at most a second)."""
        first = time.monotonic()
        while time.monotonic() - self._last_output < QUIET and time.monotonic() - first < 1:
            await asyncio.sleep(QUIET - (time.monotonic() - self._last_output) + 0.005)

    # ---- tasks

    def _new_children(self) -> list[int]:
        try:
            kids = psutil.Process(self.pid).children()
        except psutil.Error:
            return []
        new = [p.pid for p in kids if p.pid not in self._known_children]
        for pid in new:
            stat = liveness.read_stat(pid)
            if stat is not None:
                self._known_children[pid] = stat.start_ticks
        return new

    async def _detect(self, q: Question) -> None:
        if self._pending is None:
            for pid in self._new_children():
                if self.steps:  # forked by an answer (not the manager ikabot starts first)
                    self._candidates[pid] = (self.steps[-1].question, len(self.steps), 0)
            if self._candidates:
                await self._match_candidates()
            return
        p = self._pending
        if not liveness.same_process(p.pid, p.start_ticks):
            self._pending = None  # its configurator gave up (or had nothing to run)
            self._segment = len(self.steps)
            return
        if q.choices and q.choices == p.home.choices and len(self.steps) >= p.upto:
            self._pending = None
            steps = self._login_steps() + self.steps[self._segment:]
            self._segment = len(self.steps)
            started = Started(p.pid, p.start_ticks, p.task, steps)
            self.started.append(started)
            await self.on_started(self, started)

    async def _match_candidates(self) -> None:
        """A child of the menu becomes the pending task once ikabot's process list has it
        (ikabot writes the entry right after the fork: a settle or two later at most)."""
        tasks = {t.pid: t for t in await self.read_tasks()}
        for pid, (home, upto, looks) in list(self._candidates.items()):
            task = tasks.get(pid)
            ticks = self._known_children.get(pid)
            if task is not None and task.alive and ticks is not None and \
                    liveness.same_process(pid, ticks):
                self._pending = _Pending(pid, ticks, task, home, upto)
                self._candidates.clear()
                return
            if looks >= CANDIDATE_LOOKS or ticks is None or \
                    not liveness.same_process(pid, ticks):
                del self._candidates[pid]  # no task (it ended, or it is no task at all)
            else:
                self._candidates[pid] = (home, upto, looks + 1)

    def _login_steps(self) -> list[Step]:
        """The answers before the first menu (the mail): every run of the menu asks them."""
        if self._segment == 0:
            return []
        out = []
        for s in self.steps:
            if s.question.choices:
                break
            out.append(s)
        return out

    # ---- input

    def answer(self, text: str, kind: str) -> bool:
        """Type an answer and Enter. Recorded unless echo is off (a password); returns
        whether echo was off (the glue then deletes the message from the chat)."""
        t = self.terminal
        if t is None or not t.alive():
            return False
        echo_off = not t.echo()
        q = self.view().question
        t.type_line(text)
        self._last_input = time.monotonic()
        if not echo_off:
            self.steps.append(Step(q, text, kind))
        elif kind == "enter" or q.prompt.endswith("[Enter]"):
            # ikabot's enter(): whatever was typed is thrown away, so it is kept as ⏎ alone
            self.steps.append(Step(q, "", "enter"))
        return echo_off

    @property
    def generation(self) -> int:
        """How many times the screen settled (output, then QUIET seconds of none)."""
        return self._generation

    async def next_settle(self, after: int, timeout: float) -> bool:
        """Wait until the screen settled after generation `after`; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._generation <= after and not self.ended.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._settled.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._settled.wait(), left)
        return self._generation > after

    # ---- the end

    async def _end_helpers(self) -> None:
        """The menu's children that are no task (ikabot's `multiprocessing.Manager` server,
        which its terminal's hangup would end, were SIGHUP not ignored): SIGTERM each, by pid
        and only while it is the very process seen as the menu's child. Tasks (every pid in
        ikabot's process lists) are left alone."""
        self._new_children()
        if not self._known_children:
            return
        try:
            tasks = {t.pid for t in await self.read_tasks()}
        except Exception:
            return  # unsure which are tasks: end nothing
        for pid, ticks in self._known_children.items():
            if pid not in tasks and liveness.same_process(pid, ticks):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)

    async def close(self, reason: str) -> None:
        self.end_reason = self.end_reason or reason
        if self.terminal is not None:
            await self.terminal.close()
        if self._runner is not None:
            await asyncio.shield(self._runner)

    async def _finish(self) -> None:
        assert self.terminal is not None
        if self.ended.is_set():
            return
        await self.terminal.close()
        await self._end_helpers()
        self.ended.set()
        self._settled.set()
        with contextlib.suppress(Exception):
            await self.publish(self.view())
