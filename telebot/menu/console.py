"""`telebot ikabot [ARGS]`: ikabot's own menu in the player's terminal, its answers recorded.

The player should not notice telebot in between: their terminal is put in raw mode and every
key goes to ikabot's terminal unchanged (^C there is ikabot's SIGINT, as ikabot handles it),
every byte ikabot prints comes back unchanged (colours, clears), the window's size is ikabot's
and follows it (SIGWINCH). Meanwhile the same session /menu runs (`session.MenuSession`, its
screen emulated at /menu's size, so a question reads the same), the same spotter recognises
the tasks started, and their answers are kept in telebot's state as /menu keeps them (its
`record`): so 🔁 Run again (and ♻️ keep alive) work for tasks started here too. The line typed
is rebuilt from the keys (`keys.LineEditor`), the question it answers taken when its first key
was pressed. ARGS are ikabot's answers given ahead (`ikabot <mail> 17 …`): they are typed, one
at each question, as if the player had, so they are recorded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import termios
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telebot.config import Settings
from telebot.errors import ConfigError, UsageError
from telebot.i18n import N_, _
from telebot.ikabot.store import open_store
from telebot.menu.keys import Controls, LineEditor
from telebot.menu.launch import menu_command, menu_env
from telebot.menu.recorded import Recording, StepKind, to_row
from telebot.menu.replay import FIRST_SCREEN
from telebot.menu.screen import Question
from telebot.menu.session import QUIET, MenuSession, View, one_line
from telebot.menu.spotter import Started
from telebot.state import StateDB
from telebot.tasks.merge import build_tasks
from telebot.tasks.model import Task

if TYPE_CHECKING:
    from ptyprocess import PtyProcess

log = logging.getLogger(__name__)

NOT_A_TERMINAL = N_(
    "telebot ikabot runs ikabot's menu in this terminal, and this is none "
    "(stdin or stdout is not a terminal): run it in a terminal"
)
NO_COMMAND = N_(
    "ikabot's command was not found beside telebot nor on PATH: set IKABOT_COMMAND "
    "to what starts ikabot's menu"
)
HOLD = 1.0  # seconds keys typed ahead wait for ikabot to show the next question


def kind_of(q: Question, text: str) -> StepKind:
    """How /menu would have been given this answer: ⏎, a choice's button, or a typed reply."""
    if not text:
        return StepKind.ENTER
    if any(str(c.number) == text.strip() for c in q.choices):
        return StepKind.CHOICE
    return StepKind.TEXT


@dataclass
class Outcome:
    """What the console tells the player after ikabot's menu has exited."""

    status: int = 0
    recorded: list[Recording] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            _(
                "telebot: the answers that started {action} (pid {pid}, {account}) are "
                "recorded: /details {pid} has 🔁 Run again once it ends"
            ).format(action=r.action, pid=r.pid, account=r.account.label)
            for r in self.recorded
        ]
        return out + [_("telebot: warning: {problem}").format(problem=p) for p in self.problems]


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """The player's terminal in raw mode (every key passed on as it is), restored after."""
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def window(fd: int) -> tuple[int, int]:
    size = os.get_terminal_size(fd)
    return size.lines, size.columns


class Keeper:
    """What telebot keeps of a console session: the tasks it started, with their answers, in
    telebot's state (as /menu keeps them); and what went wrong doing so, for the player."""

    def __init__(self, settings: Settings, state: StateDB, outcome: Outcome) -> None:
        self.settings, self.state, self.outcome = settings, state, outcome

    async def read_tasks(self) -> list[Task]:
        try:
            return await asyncio.to_thread(lambda: build_tasks(open_store(self.settings).read()))
        except (UsageError, OSError) as e:
            problem = _(
                "ikabot's data could not be read ({why}): no task could be recorded"
            ).format(why=e)
            if problem not in self.outcome.problems:
                self.outcome.problems.append(problem)
            return []

    async def started(self, session: MenuSession, started: Started) -> None:
        rec = started.recording()
        try:
            await self.state.run(self.state.recordings.add, to_row(rec))
        except Exception as e:  # never the end of the player's menu
            self.outcome.problems.append(
                _("the answers of pid {pid} could not be kept in telebot's state ({why})").format(
                    pid=rec.pid, why=f"{type(e).__name__}: {e}"
                )
            )
            return
        self.outcome.recorded.append(rec)


def exit_status(proc: PtyProcess) -> int:
    """ikabot's exit status as a shell gives it: 128 + the signal that ended it."""
    if proc.signalstatus:
        return 128 + int(proc.signalstatus)
    return int(proc.exitstatus or 0)


async def show_nowhere(view: View) -> None:
    """The screen is the player's terminal itself: nothing to show elsewhere."""


class Console:
    """One run of ikabot's menu in this terminal (a service with a life: a plain class)."""

    def __init__(
        self, settings: Settings, args: list[str], state: StateDB, stdin: int = 0, stdout: int = 1
    ) -> None:
        self.settings = settings
        self.args = [one_line(a) for a in args]
        self.stdin, self.stdout = stdin, stdout
        self.outcome = Outcome()
        self.keeper = Keeper(settings, state, self.outcome)
        self._shown_at = 0.0  # when ikabot last printed
        self.editor = LineEditor()
        self._question = Question("", ())
        self._held = b""  # keys typed past a line end, waiting for ikabot's next question
        self._releasing: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.session: MenuSession | None = None

    async def run(self, argv: list[str]) -> Outcome:
        env = menu_env(self.settings)
        env["TERM"] = os.environ.get("TERM", env["TERM"])  # the player's own terminal
        session = MenuSession(
            argv,
            env,
            show_nowhere,
            self.keeper.read_tasks,
            self.keeper.started,
            idle_limit=math.inf,
        )
        self.session = session
        loop = asyncio.get_running_loop()
        session.start(window(self.stdin), self._show)
        loop.add_reader(self.stdin, self._keys)
        loop.add_signal_handler(signal.SIGWINCH, self._resize)
        for sig in (signal.SIGTERM, signal.SIGHUP):  # telebot told to stop, the window closed
            loop.add_signal_handler(sig, self._stop)
        typing = asyncio.create_task(self._type_args()) if self.args else None
        try:
            await session.ended.wait()
            if self._closing is not None:
                await self._closing
        finally:
            loop.remove_reader(self.stdin)
            for sig in (signal.SIGWINCH, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            for task in (typing, self._releasing):
                if task is not None:
                    task.cancel()
        if session.terminal is not None:
            self.outcome.status = exit_status(session.terminal.proc)
        return self.outcome

    # ---- ikabot → the player

    def _show(self, data: bytes) -> None:
        self._shown_at = time.monotonic()
        with contextlib.suppress(OSError):  # the window is gone: ikabot goes on regardless
            while data:
                data = data[os.write(self.stdout, data) :]

    def _resize(self) -> None:
        session = self.session
        if session is not None and session.terminal is not None and session.terminal.alive():
            with contextlib.suppress(OSError):
                session.terminal.proc.setwinsize(*window(self.stdin))

    def _stop(self) -> None:
        if self.session is not None and self._closing is None:
            self._closing = asyncio.create_task(self.session.close(N_("telebot was stopped")))

    # ---- the player → ikabot

    def _keys(self) -> None:
        try:
            data = os.read(self.stdin, 4096)
        except OSError:
            data = b""
        if not data:  # the terminal hung up
            asyncio.get_running_loop().remove_reader(self.stdin)
            self._stop()
            return
        self._held += data
        if self._releasing is None:
            self._pass_keys()

    def _pass_keys(self, waited: bool = False) -> None:
        """Keys to ikabot, one line at a time: a line's question is the screen when its first
        key was pressed: a first key pressed while ikabot is still printing, and keys typed
        past an Enter, wait for the screen to settle (at most HOLD s)."""
        session = self.session
        if session is None or session.terminal is None or not session.terminal.alive():
            self._held = b""
            return
        terminal = session.terminal
        while self._held:
            if not self.editor.active:
                settling = time.monotonic() - self._shown_at < QUIET
                if settling and not waited and self._held[0] >= 0x20:
                    # the question is still being drawn (a control key, ^C, is never held)
                    self._hold(session)
                    return
                self._question = session.view().question
            waited = False
            try:
                keys = Controls.of(termios.tcgetattr(terminal.proc.fd))
            except termios.error:
                keys = Controls(canonical=True)
            used, line = self.editor.take(self._held, keys)
            chunk, self._held = self._held[:used], self._held[used:]
            echo_off = not terminal.echo()
            terminal.type_keys(chunk)
            if line is not None:
                text = one_line(line)
                session.record(self._question, text, kind_of(self._question, text), echo_off)
                if self._held:
                    self._hold(session)
                    return

    def _hold(self, session: MenuSession) -> None:
        self._releasing = asyncio.create_task(self._release(session.generation))

    async def _release(self, generation: int) -> None:
        session = self.session
        if session is not None:
            await session.next_settle(generation, HOLD)
        self._releasing = None
        self._pass_keys(waited=True)

    async def _type_args(self) -> None:
        """ARGS, one per question (as ikabot takes them); at a `[Enter]` ikabot would not
        wait while answers given ahead remain, so Enter is pressed there."""
        session = self.session
        if session is None:
            return
        generation = 0
        while self.args and not session.ended.is_set():
            if not await session.next_settle(generation, FIRST_SCREEN):
                continue
            generation = session.generation
            view = session.view()
            if self.editor.active or self._held or not view.question.prompt:
                continue  # the player is typing (their line first), or nothing is asked
            if view.echo_off and view.question.prompt.endswith("[Enter]"):
                session.answer("", StepKind.ENTER)
            else:
                text = self.args.pop(0)
                session.answer(text, kind_of(view.question, text))


def run_console(settings: Settings, args: list[str]) -> int:
    """The command: ikabot's menu here until it exits; its exit status is ikabot's."""
    if not (os.isatty(0) and os.isatty(1)):
        raise UsageError(_(NOT_A_TERMINAL))
    argv = menu_command(settings)
    if argv is None:
        raise ConfigError(_(NO_COMMAND))
    state = StateDB(settings.state_dir)
    try:
        console = Console(settings, args, state)
        with raw_terminal(0):
            outcome = asyncio.run(console.run(argv))
    finally:
        state.close()
    for line in outcome.lines():
        print(line, file=sys.stderr)
    return outcome.status
