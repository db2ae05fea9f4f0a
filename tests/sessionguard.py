"""Nothing of a test session outlives it: its processes end and its temp directories go, even
when pytest itself is killed (SIGKILL, an OOM kill) and no teardown or atexit runs.

Two parts, because either alone misses something:
- every process the session starts inherits `MARK` in its environment (the tasks, the CLI,
  `telebot run`, the menus and what they fork, a program that calls setsid()); a guard
  process, started by conftest, waits for the end of a pipe only pytest holds, and then ends
  every process carrying this session's mark, by pid and identity (a pidfd opened, the mark
  read again through it, the signal sent through it), and removes the session's directories.
  A normal run reaches it too, after its own teardown has ended everything. The children's
  TMPDIR is one of those directories.
- the task processes (`ikabotdata.spawn_task`, `other_program`) also ask the kernel for
  SIGKILL when pytest dies (`PR_SET_PDEATHSIG`, before exec): they go at once, whatever
  happens to the guard.

Run as a program it is the guard: `python sessionguard.py MARK DIR…`, pytest's pipe as stdin.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection
from pathlib import Path

MARK = "TEST_SESSION_MARK"  # not TELEBOT_/IKABOT_: conftest's clean_env keeps it

PR_SET_PDEATHSIG = 1  # prctl(2)
try:
    _PRCTL: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _PRCTL = None

_guard: subprocess.Popen[bytes] | None = None
_pipe: int | None = None  # the write end: closed by the kernel when pytest ends, however


def start(directories: list[Path]) -> str:
    """Start this session's guard (once); returns the session's mark, now in os.environ so
    that every child inherits it. `directories`: what the session made and must remove."""
    global _guard, _pipe
    if _guard is not None:
        return os.environ[MARK]
    mark = uuid.uuid4().hex
    os.environ[MARK] = mark
    # the children's temp files (multiprocessing's pymp-* of ikabot's menu and tasks, which
    # are killed before they remove theirs) in a directory of the session's; this process
    # keeps its own temp dir (tempfile caches it: pytest's basetemp stays where it was)
    tempfile.gettempdir()
    children = Path(tempfile.mkdtemp(prefix="telebot-tests-tmp-"))
    os.environ["TMPDIR"] = str(children)
    atexit.register(shutil.rmtree, children, True)
    directories = [*directories, children]
    read, _pipe = os.pipe()  # both ends close-on-exec: no child of the session holds it
    # a session of its own: a Ctrl-C or hang-up of pytest's terminal does not end the guard
    # not measured by a coverage run (it outlives pytest: its data file would come late)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    _guard = subprocess.Popen(
        [sys.executable, __file__, mark, *map(str, directories)],
        stdin=read,
        start_new_session=True,
        env=env,
    )
    os.close(read)
    return mark


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for a child that must not outlive this process: SIGKILL when the
    thread that forks it ends, which is the whole process only for the main thread (None
    elsewhere: the guard alone ends those)."""
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return None
    parent, prctl = os.getpid(), _PRCTL

    def setup() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl
            os._exit(1)

    return setup


def _has_mark(environ: bytes, mark: str) -> bool:
    return f"{MARK}={mark}".encode() in environ.split(b"\0")


def marked(mark: str) -> list[int]:
    """The pids of the processes carrying `mark` (only the user's own can be read)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if _has_mark(f.read(), mark):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def end_marked(mark: str, spare: Collection[int] = (), deadline: float = 30.0) -> None:
    """SIGKILL every process carrying `mark` but those in `spare`, until none is left (a
    process can fork while its siblings are ended) or `deadline` seconds have passed."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pids = [p for p in marked(mark) if p not in spare]
        if not pids:
            return
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:  # the same process still: the mark read again, the pid now pinned
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if _has_mark(f.read(), mark):
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(fd)
        time.sleep(0.05)  # a killed process's environ stays readable until it is reaped


def end_own(deadline: float = 30.0) -> None:
    """End, now, every process this one's session started (and what they started) but this
    one and its guard: for a program that ends its session itself, as a benchmark does on
    its way out, rather than leaving it to the guard just after its end."""
    spare = {os.getpid()} | ({_guard.pid} if _guard is not None else set())
    if MARK in os.environ:
        end_marked(os.environ[MARK], spare, deadline)


def _guard_main(mark: str, directories: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):  # pytest never writes: this returns at its end
        pass
    end_marked(mark, spare={os.getpid()})
    for d in directories:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    _guard_main(sys.argv[1], sys.argv[2:])
