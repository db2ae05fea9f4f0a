"""One /menu session: ikabot's menu in a terminal, its screen shown, answers typed, the tasks
it starts recognised and their answers recorded.

The screen is published (to one Telegram message, by the glue in `bot/menu_handlers`) when it
has been quiet for `QUIET` seconds, at most every `MIN_INTERVAL` seconds (Telegram allows about
one edit a second in a chat, 20 a minute in a group). A task is recognised as the new
processList entry whose process is a child of the menu (`spotter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from telebot.i18n import N_
from telebot.logsafe import looks_secret
from telebot.menu.recorded import Step, StepKind
from telebot.menu.screen import Question, question, text_for_chat
from telebot.menu.spotter import ReadTasks, Spotter, Started
from telebot.menu.terminal import Terminal

log = logging.getLogger(__name__)

QUIET = 0.15  # seconds without output before the screen is shown
MIN_INTERVAL = 1.0  # seconds between two edits of the screen message (private chat)
GROUP_INTERVAL = 3.0  # in a group: Telegram allows 20 messages a minute there
IDLE_LIMIT = 600.0  # a session nobody answered for this long ends
CLOSE_WAIT = 5.0  # seconds after the last answer a closing session waits for its new task


# A terminal control sequence, whole (ECMA-48), 7-bit or 8-bit: a string one (OSC, DCS, SOS,
# PM, APC) up to its BEL or ST (or the ESC of the next, or the end of the text), a CSI with
# its parameter, intermediate and final bytes, SS2/SS3 with the character it shifts, any
# other escape with its intermediates and final byte. Dropping only the ESC would leave `[A`
# (the rest of an arrow key) for ikabot to read.
CONTROL_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[NO]|[\x8e\x8f]).?"
    r"|\x1b[ -/]*[0-~]?"
)


def one_line(text: str) -> str:
    """A reply as one line of printable text: a message's line breaks would answer the
    questions after this one, a control character is a signal (^C, ^Z) or an editing key,
    and a control sequence (an arrow key, a title) goes whole, never in pieces."""
    text = CONTROL_SEQUENCE.sub("", text)
    return "".join(ch for ch in " ".join(text.splitlines()) if ch.isprintable())


@dataclass(frozen=True)
class Typed:
    """What became of an answer: typed (queued for the terminal) or refused because the menu
    has not taken what was typed before (`Terminal.type_line`); and whether echo was off."""

    typed: bool
    echo_off: bool = False

    def __bool__(self) -> bool:
        raise TypeError("say .typed or .echo_off")


REFUSED = Typed(False)
NOT_READING = N_(
    "⚠️ Not typed: ikabot's menu has not read what was typed before (it is "
    "busy, or not reading at all). Send it again when the screen asks, or "
    "/cancel."
)


@dataclass(frozen=True)
class View:
    """What the glue shows: the screen's text, its question, whether echo is off."""

    text: str
    question: Question
    echo_off: bool
    ended: bool = False
    screen: int = 0  # which distinct screen of the session this is (`Screens`)


def step_of(q: Question, text: str, kind: StepKind, echo_off: bool) -> Step | None:
    """How an answer typed is recorded: never an echo-off one's text."""
    if not echo_off and looks_secret(text):
        # typed with echo on, yet a secret (a bot token for ikabot's Telegram set-up):
        # kept as a step the replay stops at, never as its text
        return Step(q, "", StepKind.SECRET)
    if not echo_off:
        return Step(q, text, kind)
    if kind is StepKind.ENTER or q.prompt.endswith("[Enter]"):
        # ikabot's enter(): whatever was typed is thrown away, so it is kept as ⏎ alone
        return Step(q, "", StepKind.ENTER)
    return None


SCREEN_CHANGED = N_("The screen has changed since: press on the new one.")
ANSWERED = N_("Answered already: wait for the next screen.")
NOT_ON_SCREEN = N_("({key}) is not on the screen any more.")


class Screens:
    """Numbers the distinct screens of a session (a `View` that differs from the one before
    is the next number), and remembers when an answer was last typed: a button acts only on
    the screen it was pressed under, once (`press_refusal`). A double tap, a press of an
    older message, or a thousand of either type one answer."""

    def __init__(self) -> None:
        self.number = 0
        self.answered_at = -1  # the session's generation when an answer was last typed
        self._last: View | None = None

    def numbered(self, view: View) -> View:
        if view != self._last:
            self.number, self._last = self.number + 1, view
        return replace(view, screen=self.number)


def press_refusal(session: MenuSession, screen: int, key: str) -> str | None:
    """Why a press of `key` (a choice's number, or `e` for ⏎) under screen `screen` must
    not be typed, in English (the glue translates it), or None: the terminal shows another
    screen now; an answer was typed since the screen last settled (its answer is on its way);
    ⏎ while echo is on (its button is shown only while echo is off); a choice not offered."""
    view = session.view()
    if screen != view.screen or (key == "e" and not view.echo_off):
        return SCREEN_CHANGED
    if session.screens.answered_at >= session.generation:
        return ANSWERED
    if key != "e" and int(key) not in {c.number for c in view.question.choices}:
        return NOT_ON_SCREEN
    return None


def started_terminal(session: MenuSession) -> Terminal:
    """The session's terminal; a session used before `start()` is a bug in the caller."""
    if session.terminal is None:
        raise RuntimeError(f"menu session {session.token} was used before start()")
    return session.terminal


Publish = Callable[[View], Awaitable[None]]
OnStarted = Callable[["MenuSession", Started], Awaitable[None]]
Tee = Callable[[bytes], None]  # gets what the menu prints (the console's screen)


class Shown:
    """The screen as the chat was last shown it: a settled screen that differs is shown, no
    more often than `min_interval` (counted from the end of the last edit, which may have
    waited out a 429)."""

    def __init__(self, publish: Publish, min_interval: float) -> None:
        self.publish, self.min_interval = publish, min_interval
        self.generation = 0  # the session's generation last shown
        self.view: View | None = None
        self.at = 0.0

    def wait(self, generation: int, idle_limit: float) -> float:
        """How long the session may wait for output before showing what settled."""
        if generation != self.generation:
            return max(0.01, self.at + self.min_interval - time.monotonic())
        return min(5.0, idle_limit)

    async def if_due(self, generation: int, view: Callable[[], View]) -> None:
        if generation == self.generation or time.monotonic() < self.at + self.min_interval:
            return
        self.generation = generation
        now = view()
        if now != self.view:
            self.view = now
            await self.publish(now)
            self.at = time.monotonic()


async def until_quiet(last_output: Callable[[], float]) -> None:
    """Until the menu has printed nothing for QUIET seconds (or at most a second)."""
    first = time.monotonic()
    while time.monotonic() - last_output() < QUIET and time.monotonic() - first < 1:
        await asyncio.sleep(QUIET - (time.monotonic() - last_output()) + 0.005)


class MenuSession:
    """A service with a life (start, answers, close), not a value: a plain class."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        publish: Publish,
        read_tasks: ReadTasks,
        on_started: OnStarted,
        *,
        min_interval: float = MIN_INTERVAL,
        idle_limit: float = IDLE_LIMIT,
    ) -> None:
        self.argv, self.env = argv, env  # what runs ikabot's menu
        self.publish, self.on_started = publish, on_started
        self.shown = Shown(publish, min_interval)
        self.idle_limit = idle_limit
        self.token = secrets.token_hex(3)  # names the session in its buttons
        self.steps: list[Step] = []  # the answers typed, as recorded
        self.started: list[Started] = []  # the tasks it started
        self.again_of: tuple[int, int] | None = None  # a replay: the task run again
        self.end_reason, self.pid = "", 0  # why it ended; the menu's pid, once started
        self.terminal: Terminal | None = None
        self.generation = 0  # how many times the screen settled (output, then QUIET s of none)
        self.screens = Screens()
        self.spotter = Spotter(read_tasks)
        self.ended = asyncio.Event()
        self._changed, self._settled = asyncio.Event(), asyncio.Event()
        self._last_output = 0.0
        self._last_input = time.monotonic()
        self._runner: asyncio.Task[None] | None = None

    def start(self, size: tuple[int, int] | None = None, tee: Tee | None = None) -> None:
        """`size` and `tee`: the console's window and screen (`Terminal`, `console`)."""
        self.terminal = Terminal(self.argv, self.env, on_output=self._output, size=size, tee=tee)
        self.pid = self.terminal.pid
        self._runner = asyncio.create_task(self._run(), name=f"menu-{self.token}")

    def _output(self) -> None:
        self._last_output = time.monotonic()
        self._settled.clear()
        self._changed.set()

    # ---- what the screen shows

    def view(self) -> View:
        t = started_terminal(self)
        lines = t.lines()
        return self.screens.numbered(
            View(
                text_for_chat(lines),
                question(lines, t.cursor_row()),
                not t.echo(),
                ended=self.ended.is_set(),
            )
        )

    async def _run(self) -> None:
        """Settle after each burst of output (a task seen, the replay told), and publish the
        screen when it differs from the one shown, no more often than `min_interval`."""
        terminal = started_terminal(self)
        try:
            while not terminal.eof.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait(), self.shown.wait(self.generation, self.idle_limit)
                    )
                if time.monotonic() - self._last_input > self.idle_limit:
                    self.end_reason = N_("nobody answered for 10 minutes")
                    break
                if self._changed.is_set():
                    await until_quiet(lambda: self._last_output)
                    self._changed.clear()
                    if terminal.eof.is_set():
                        break
                    started = await self.spotter.observe(self.pid, self.steps, self.view().question)
                    if started is not None:
                        self.started.append(started)
                        await self.on_started(self, started)
                    self.generation += 1
                    self._settled.set()
                await self.shown.if_due(self.generation, self.view)
        except Exception:
            log.exception("menu session %s failed", self.token)
            self.end_reason = self.end_reason or N_("telebot's side of the session failed")
        finally:
            if not self.end_reason and terminal.eof.is_set():
                self.end_reason = N_("ikabot's menu exited")
            await self._finish()

    # ---- input

    def answer(self, text: str, kind: StepKind) -> Typed:
        """Type an answer and Enter; recorded unless echo is off (a password). The glue
        tells the chat when it was not typed, and deletes it when echo was off."""
        t = self.terminal
        if t is None or not t.alive():
            return REFUSED
        text = one_line(text)
        echo_off = not t.echo()
        q = self.view().question
        if not t.type_line(text):
            return Typed(False, echo_off)
        self.record(q, text, kind, echo_off)
        return Typed(True, echo_off)

    def record(self, q: Question, text: str, kind: StepKind, echo_off: bool) -> None:
        """Keep an answer typed (here, or at the console: `console`), as `step_of` says."""
        self._last_input = time.monotonic()
        self.screens.answered_at = self.generation
        if (step := step_of(q, text, kind, echo_off)) is not None:
            self.steps.append(step)

    async def next_settle(self, after: int, timeout: float) -> bool:
        """Wait until the screen settled after generation `after`; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.generation <= after and not self.ended.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._settled.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._settled.wait(), left)
        return self.generation > after

    # ---- the end

    async def close(self, reason: str) -> None:
        """End the session (/cancel, ✖, telebot stopping); a task forked by the last answers
        first gets its chance to be seen started (`wait_for_started`)."""
        self.end_reason = self.end_reason or reason
        await wait_for_started(self)
        if self.terminal is not None:
            await self.terminal.close()
        if self._runner is not None:
            await asyncio.shield(self._runner)

    async def _finish(self) -> None:
        if self.ended.is_set():
            return
        await started_terminal(self).close()
        await record_last(self)
        await self.spotter.end_helpers(self.pid)
        self.ended.set()
        self._settled.set()
        with contextlib.suppress(Exception):
            await self.publish(self.view())


async def wait_for_started(session: MenuSession) -> None:
    """A closing session gives a task forked by its last answers until `CLOSE_WAIT` s after
    the last answer to be seen started (the menu shows its choices again), so that its
    recording does not depend on how quickly the owner ended the session."""
    deadline = session._last_input + CLOSE_WAIT
    while (
        session.spotter.unresolved() and not session.ended.is_set() and time.monotonic() < deadline
    ):
        await session.next_settle(session.generation, deadline - time.monotonic())


async def record_last(session: MenuSession) -> None:
    """After the hangup: a task whose configurator finished is recorded however the session
    ended, even when the menu never showed its choices again (`Spotter.last_look`)."""
    try:
        started = await session.spotter.last_look(session.steps)
        if started is not None:
            session.started.append(started)
            await session.on_started(session, started)
    except Exception:
        log.exception("menu session %s: its last task could not be recorded", session.token)
