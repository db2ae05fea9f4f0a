"""ikabot's menu in a pseudo-terminal (ptyprocess), its screen kept by a terminal emulator (pyte).

The menu is started so that the tasks it forks outlive it, the terminal and telebot:
- SIGHUP ignored (set in the child before exec, inherited through ikabot's fork): the kernel
  sends SIGHUP to the terminal's foreground process group (the menu's, where ikabot's tasks
  live, ignoring only SIGINT) when the menu, the session leader, exits or the master closes;
- ending a session signals the menu's pid alone, never its process group;
- no menu outlives telebot: the menu asks the kernel for SIGTERM when telebot dies
  (`PR_SET_PDEATHSIG`, set in the child before exec; it survives the exec, and is not
  inherited by what the menu forks, so ikabot's tasks are not touched). The kernel sends it
  when the *thread* that forked the menu ends: that is the event loop's (a `Terminal` is made
  on the loop), which in `telebot run` is the main thread (`asyncio.run`), alive as long as
  telebot is; a loop run in another thread ends only after `serve` has closed the menu. A
  telebot killed before the menu's record is gone leaves that record, and the next telebot
  ends the menu by pid and identity (`bot.menu_manager.end_leftovers`).

Nothing here blocks the event loop: the terminal's master is non-blocking, and what is typed
goes into a bounded queue (`INPUT_LIMIT`) that a writer callback drains as the menu reads. A
menu that reads nothing (busy, hung) fills the terminal's own input buffer (about 4 KiB), then
the queue; an answer that would not fit is refused (`type_line` returns False, and the chat
is told), never dropped silently and never waited for. Nor does what the menu prints: it is
read `READ_CHUNK` bytes at a time, at most `READ_BUDGET` a second (`PacedReader`; a menu that
prints more waits on its full terminal), and bounded before pyte (`menu.bounded`), whose
screen has a fixed size: a menu that prints without end costs telebot a bounded share of one
core and no memory beyond the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptyprocess import PtyProcess

from telebot.menu.bounded import OutputFilter

log = logging.getLogger(__name__)

COLUMNS, ROWS = 80, 50
STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL to the menu
INPUT_LIMIT = 16 * 1024  # bytes typed but not yet taken by the terminal
READ_CHUNK = 16 * 1024  # bytes read at a time: pyte takes ~30 ms of the loop for them
READ_BUDGET = 256 * 1024  # bytes of output read a second (`PacedReader`)
DRAIN_MAX = 256 * 1024  # bytes read after the menu exited (its tasks may print on)


PR_SET_PDEATHSIG = 1  # prctl(2)


def _libc_prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up in telebot (never in the forked child); None off Linux."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def child_setup(parent: int) -> Callable[[], None]:
    """What the menu's child does before exec: SIGHUP ignored (its tasks inherit that), and
    SIGTERM when telebot (`parent`) dies. A telebot that died between the fork and the
    prctl is noticed by the child's new parent, and the child does not go on."""

    def setup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return setup


class InputQueue:
    """What was typed and the terminal has not taken yet, at most `INPUT_LIMIT` bytes,
    written to the (non-blocking) master as the menu reads: by a writer callback of the
    event loop while the terminal's input buffer is full."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = bytearray()
        self._writing = False  # a writer callback waits for room

    def put(self, data: bytes) -> bool:
        if len(self.data) + len(data) > INPUT_LIMIT:
            return False
        self.data += data
        self._drain()
        return True

    def _drain(self) -> None:
        while self.data:
            try:
                n = os.write(self.fd, self.data)
            except BlockingIOError:
                break
            except OSError:  # EIO: nobody holds the terminal any more
                self.data.clear()
                break
            del self.data[:n]
        if self.data and not self._writing:
            self._writing = True
            asyncio.get_running_loop().add_writer(self.fd, self._drain)
        elif not self.data:
            self._stop_writing()

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_writer(self.fd)

    def stop(self) -> None:
        """The terminal is closing: nothing more is written."""
        self._stop_writing()
        self.data.clear()


class PacedReader:
    """The terminal's reader on the event loop, at most `per_second` bytes of output a second:
    pyte takes about 0.1 s of the loop for 64 KiB, so a menu printing megabytes a second
    would otherwise hold a core (and the alerts' loop) for as long as it prints. Over the
    budget, reading stops until the second is over (the menu waits on its full terminal, as
    on a slow one). ikabot's screens are a few KiB."""

    def __init__(
        self, fd: int, readable: Callable[[], None], per_second: int = READ_BUDGET
    ) -> None:
        self.fd, self.readable, self.per_second = fd, readable, per_second
        self._window, self._spent = float("-inf"), 0
        self._resume: asyncio.TimerHandle | None = None
        self.stopped = False
        asyncio.get_running_loop().add_reader(fd, readable)

    def spend(self, size: int, now: float | None = None) -> float:
        """`size` bytes were read: the pause before the next read (0: none), taken here."""
        now = time.monotonic() if now is None else now
        if now - self._window >= 1.0:
            self._window, self._spent = now, 0
        self._spent += size
        pause = 0.0 if self._spent < self.per_second else max(0.0, self._window + 1.0 - now)
        if pause > 0 and not self.stopped:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(self.fd)
            self._resume = loop.call_later(pause, self._read_again)
        return pause

    def _read_again(self) -> None:
        self._resume = None
        if not self.stopped:
            asyncio.get_running_loop().add_reader(self.fd, self.readable)

    def stop(self) -> None:
        self.stopped = True
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.fd)


async def end_menu(proc: PtyProcess) -> None:
    """SIGTERM to the menu's pid (never its group), SIGKILL after a grace time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not proc.isalive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        for _ in range(int(STOP_GRACE / 0.05)):
            if not proc.isalive():
                break
            await asyncio.sleep(0.05)


class Terminal:
    """One running menu process and what its screen shows now."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path | None = None,
        on_output: Callable[[], None] | None = None,
        *,
        size: tuple[int, int] | None = None,
        tee: Callable[[bytes], None] | None = None,
    ) -> None:
        """`size` (rows, columns) is the terminal's as ikabot sees it (the player's window at
        the console); the emulated screen stays COLUMNS × ROWS, as /menu reads it, so a
        question reads the same at any window size. `tee` gets every byte the menu prints
        (the console passes them on to the player's terminal)."""
        # imported by the first /menu, not at start: the emulator and its width tables are
        # ~10 MB that an idle telebot never uses (tests/test_idle.py keeps it so)
        import pyte
        from ptyprocess import PtyProcess

        self.screen = pyte.Screen(COLUMNS, ROWS)
        self._stream = pyte.Stream(self.screen)
        self._bounded = OutputFilter()  # what pyte would keep without bound, bounded
        self._on_output = on_output
        self._tee = tee
        self.proc = PtyProcess.spawn(
            argv,
            env=env,
            cwd=str(cwd) if cwd else None,
            dimensions=size or (ROWS, COLUMNS),
            preexec_fn=child_setup(os.getpid()),
        )
        self.proc.delayafterclose = 0  # close() would block the event loop for it
        self.pid: int = self.proc.pid
        self.closed = False
        self.eof = asyncio.Event()
        os.set_blocking(self.proc.fd, False)  # a full input buffer must never stop the loop
        self._typed = InputQueue(self.proc.fd)
        loop = asyncio.get_running_loop()
        self._reader = PacedReader(self.proc.fd, self._readable)
        # the terminal stays open after the menu exits (its tasks hold it): its end is known
        # from the process, through a pidfd (or a look twice a second without one)
        self._pidfd: int | None = None
        self._poll: asyncio.Task[None] | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
            loop.add_reader(self._pidfd, self._menu_exited)
        except (AttributeError, OSError):
            self._poll = loop.create_task(self._poll_exit())

    async def _poll_exit(self) -> None:
        while self.proc.isalive():
            await asyncio.sleep(0.5)
        self._menu_exited()

    def _menu_exited(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        with contextlib.suppress(OSError):  # what it printed last (its tasks may print on:
            left = DRAIN_MAX  # a bounded look, never a loop that waits for
            while left > 0 and select.select([self.proc.fd], [], [], 0)[0]:  # them to stop)
                data = os.read(self.proc.fd, min(READ_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                self._feed(data)
        self._stop_reading()
        self.eof.set()
        if self._on_output is not None:
            self._on_output()

    def _readable(self) -> None:
        try:
            data = os.read(self.proc.fd, READ_CHUNK)
        except BlockingIOError:
            return  # woken, and another read took it
        except OSError:  # EIO: the menu and everything holding the terminal are gone
            data = b""
        if not data:
            self._stop_reading()
            self.eof.set()
        else:
            self._feed(data)
            self._reader.spend(len(data))
        if self._on_output is not None:
            self._on_output()

    def _feed(self, data: bytes) -> None:
        # first the screen, then the player: what they see, it has
        self._stream.feed(self._bounded.feed(data))
        if self._tee is not None:
            self._tee(data)

    def _stop_reading(self) -> None:
        self._reader.stop()
        self._typed.stop()

    def lines(self) -> list[str]:
        """The screen's rows as text (colours and attributes dropped)."""
        return list(self.screen.display)

    def cursor_row(self) -> int:
        return self.screen.cursor.y

    def echo(self) -> bool:
        """Does the terminal echo what is typed? Off while ikabot reads a password or
        `[Enter]` through getpass (the ECHO flag of the terminal's mode)."""
        try:
            return bool(self.proc.getecho())
        except (OSError, ValueError):
            return True

    def type_line(self, text: str) -> bool:
        """Type `text` and Enter, as the player at a keyboard would: queued, and written as
        the terminal takes it. False (nothing queued) when it would not fit in the queue."""
        return not self.closed and self._typed.put(text.encode("utf-8", "replace") + b"\r")

    def type_keys(self, data: bytes) -> bool:
        """Keys as pressed at the console, passed on unchanged (queued as `type_line`)."""
        return not self.closed and self._typed.put(data)

    def waiting_input(self) -> int:
        """Bytes typed that the terminal has not taken yet."""
        return len(self._typed.data)

    def alive(self) -> bool:
        return not self.closed and self.proc.isalive()

    async def close(self) -> None:
        """End the menu: SIGTERM to its pid (never its group), SIGKILL after a grace time;
        then close the terminal. The tasks it started keep running."""
        if self.closed:
            return
        self.closed = True
        self._stop_reading()
        if self._poll is not None:
            self._poll.cancel()
        await end_menu(self.proc)
        if self._pidfd is not None:
            self._menu_exited()
        with contextlib.suppress(OSError):
            self.proc.close(force=False)
        self.eof.set()
        if self._on_output is not None:
            self._on_output()
