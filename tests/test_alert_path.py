"""The guard on the death → alert path (issue 28, item 4): the work done between the kernel's
pidfd wake and the alert's request arriving at the Bot API is *counted*, not timed, and must
equal the budgets below. A benchmark in CI would be noise on a shared machine; a count is the
same on a loaded machine as on a quiet one, and a later change that adds a read to the path
(a file, a statement, a thread hop) fails here, naming what it added.

The death is real: an ikabot task (ikabot's own `@task` wrapper, logging into ikabot's log with
ikabot's logging) killed with SIGKILL while telebot watches it, telebot running in full against
the loopback Bot API. What is counted, from the moment `ProcessWatcher._fired` is entered for
that pid until the loopback Bot API has the alert's sendMessage (python-telegram-bot and httpx
are on the path too):

- files opened: Python's audit events (`sys.addaudithook`: `open`, `os.scandir`, `os.listdir`),
  from any thread (the path runs on the loop, the state's writer thread and worker threads);
- modules looked for: the `import` audit event (raised only for a module not yet imported):
  none. A module imported late, or one looked for and missing on every call (httpcore's
  `import sniffio` searched every sys.path entry four times per request until sniffio was a
  dependency), is work the path need not do;
- SQL run on telebot's database: `sqlite3.Connection.set_trace_callback` on its connection;
- hops: work handed to the state's writer thread (`Database.run`) and to worker threads
  (`asyncio.to_thread`).

Nothing else may run meanwhile: scans are an hour apart, no report, no commands; the
heartbeat file (written every 10 s by the loop, not by the path) is left out by name.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botharness import fast_settings, running_bot
from conftest import ALICE
from ikabotdata import ikabot_task
from test_alerts import alerts
from util import until

from telebot.alerts.alerter import EndWriter
from telebot.bot.health import HEARTBEAT_FILE
from telebot.processes.exitinfo import read_pidfd
from telebot.processes.watcher import ProcessWatcher
from telebot.state.db import Database


@dataclass
class Window:
    """What happened on the path of one pid's death (recording only while `open_for`)."""

    pid: int = 0
    recording: bool = False
    done: bool = False
    in_step: bool = False  # the end's writer step runs: its statements count to its end
    step_done: bool = False
    opens: list[str] = field(default_factory=list)  # "<kind> <path>", pid and dirs named
    sql: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # modules looked for (not yet imported)
    hops: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.recording or event not in ("open", "os.scandir", "os.listdir", "import"):
            return
        if event == "import":
            with self.lock:
                self.imports.append(str(args[0]))
            return
        target = args[0] if args else None
        if isinstance(target, int) or target is None:  # os.scandir(fd), an fdopen: no new file
            return
        name = str(Path(target.decode() if isinstance(target, bytes) else target))
        if Path(name).name in (HEARTBEAT_FILE, HEARTBEAT_FILE + ".tmp"):
            return  # the loop's heartbeat, not the path's
        with self.lock:
            self.opens.append(f"{event} {name}")

    def statement(self, sql: str) -> None:
        if self.recording or self.in_step:
            with self.lock:
                self.sql.append(" ".join(sql.split()))

    def arrived(self, method: str, params: dict[str, Any]) -> None:
        """The Bot API has a request (its thread): the window closes at the pid's alert."""
        text = str(params.get("text", ""))
        if self.recording and method == "sendMessage" and f"<code>{self.pid}</code>" in text:
            self.recording, self.done = False, True


WINDOW = Window()
_HOOKED = False


def _hook_audit() -> None:
    """Audit hooks cannot be removed: one for the test process, idle unless recording."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(lambda event, args: WINDOW.audit(event, args))
        _HOOKED = True


@pytest.fixture
def window(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Window:
    """Counts from the wake of the watched pid's pidfd until the Bot API has the alert (the
    test sets `api.on_request` to `Window.arrived`)."""
    global WINDOW
    WINDOW = w = Window()
    _hook_audit()
    state_db = str(tmp_path / "s" / "telebot.sqlite3")
    real_connect = sqlite3.connect

    def connect(target: Any, *args: Any, **kw: Any) -> sqlite3.Connection:
        conn = real_connect(target, *args, **kw)
        if str(target) == state_db:  # the bot's own connection, not a read-only look
            conn.set_trace_callback(w.statement)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    fired = ProcessWatcher._fired

    def fired_counted(self: ProcessWatcher, pid: int) -> None:
        if pid == w.pid and not w.done:
            w.recording = True
        fired(self, pid)

    run, to_thread = Database.run, asyncio.to_thread

    async def run_counted(self: Database, fn: Any, *args: Any, **kw: Any) -> Any:
        if w.recording:
            w.hops[f"writer {getattr(fn, '__qualname__', fn)}"] += 1
        return await run(self, fn, *args, **kw)

    async def to_thread_counted(fn: Any, *args: Any, **kw: Any) -> Any:
        if w.recording:
            w.hops[f"worker {getattr(fn, '__qualname__', fn)}"] += 1
        return await to_thread(fn, *args, **kw)

    write = EndWriter.write

    def write_counted(self: EndWriter, *args: Any, **kw: Any) -> Any:
        """The step's commit begins as the alert leaves (the send does not wait for the
        fsync), so it may come after the Bot API has the alert: counted all the same."""
        w.in_step = w.recording
        try:
            return write(self, *args, **kw)
        finally:
            w.step_done, w.in_step = w.step_done or w.in_step, False

    write_counted.__qualname__ = write.__qualname__  # the hop's name stays the step's
    monkeypatch.setattr(ProcessWatcher, "_fired", fired_counted)
    monkeypatch.setattr(EndWriter, "write", write_counted)
    monkeypatch.setattr(Database, "run", run_counted)
    monkeypatch.setattr(asyncio, "to_thread", to_thread_counted)
    return w


# ---- the budgets: what the path may do for one death, and why

OPENS = {
    # how it ended: a zombie's wait status (its /proc stat field 52), or, once reaped, the
    # pidfd's PIDFD_INFO_EXIT (an ioctl, no file)
    "open /proc/<pid>/stat": 1,
    # ikabot's last words for that pid (the cause of a failure): the new tail, read once
    "open <ikabot's log>": 1,
    # ikabot's data after the end (issue 18, one truth: what ikabot wrote after the last
    # scan); unchanged files cost a stat each, the directory's lock and listing an open each
    "open <ikabot's data>/session.lock": 1,
    "os.scandir <ikabot's data>/users": 1,
}

SQL = {
    # the dead task's row, read in the end's own step (its `started` was known before)
    "SELECT * FROM tracked WHERE pid=? AND start_ticks=?": 1,
    "SELECT * FROM stop_requests WHERE pid=? AND start_ticks=?": 1,  # stopped, or killed?
    "BEGIN": 1,
    "UPDATE tracked SET ended_at=?, end_kind=?, exit_status=?, signal=?, cause=? "
    "WHERE pid=? AND start_ticks=? AND ended_at IS NULL": 1,
    # keep-alive's ♻️ line and the alert's buttons (🔁, ♻️), looked up in the end's
    # transaction: the recording once for the line's decision and once for both buttons (a
    # task started from ikabot's console has none, so no keep-alive look-up for ♻️ follows)
    "SELECT * FROM keepalive WHERE pid=? AND start_ticks=?": 1,
    "SELECT at FROM keepalive_restarts WHERE chain=? AND at>=? ORDER BY at": 1,
    "SELECT * FROM menu_recordings WHERE pid=? AND start_ticks=? "
    "ORDER BY recorded_at DESC LIMIT ?": 2,
    "INSERT INTO outbox(dedup_key, chat_id, kind, text, created_at, not_before, edits, "
    "markup) VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedup_key) DO NOTHING": 1,
    # what is pending, read in the same step and handed to the deliverer as the commit begins
    "SELECT id, dedup_key, chat_id, kind, text, created_at, not_before, attempts, edits, "
    "message_id, markup FROM outbox WHERE sent_at IS NULL AND dropped=? AND not_before<=? "
    "ORDER BY id": 1,
    "COMMIT": 1,  # the one durable commit (the fsync); the send beside it, not after it
}

HOPS = {
    # everything after the wake is the end's one step on the writer thread: the row, the log's
    # new tail, ikabot's entry after the end, classify, the commit, and what is pending for
    # the deliverer (handed over, not read again): under load, each hop waits for a core
    "writer EndWriter.write": 1,
}


_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|(?<!IS )(?<!NOT )\bNULL\b")


def statement_shape(sql: str) -> str:
    """A statement without its values: `pid=4768` and `pid=1234` are the same work."""
    return _LITERAL.sub("?", sql)


def differs(kind: str, seen: Counter[str], budget: dict[str, int]) -> str:
    more, fewer = seen - Counter(budget), Counter(budget) - seen
    return "\n".join(
        [f"the path's {kind} differ from the budget:"]
        + [f"  +{n} {what}" for what, n in sorted(more.items())]
        + [f"  -{n} {what}" for what, n in sorted(fewer.items())]
    )


def pidfd_keeps_exit() -> bool:
    """Linux ≥ 6.15: a reaped process's pidfd still says how it ended (`read_pidfd`)."""
    if not hasattr(os, "pidfd_open"):
        return False
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    fd = os.pidfd_open(p.pid)
    try:
        p.kill()
        p.wait()
        return read_pidfd(fd) is not None
    finally:
        os.close(fd)


@pytest.mark.parametrize("reaped", [False, True], ids=["zombie", "reaped"])
async def test_the_path_after_the_wake_does_only_its_budgeted_work(
    ikabot_dir, api, tmp_path, window, reaped
):
    """One SIGKILL of a watched ikabot task; the task stays a zombie until the alert is out
    (ikabot's menu reaps late), or is reaped before telebot's loop runs again (init reaps
    at once: the test's loop is blocked in `wait()` meanwhile)."""
    if reaped and not pidfd_keeps_exit():
        pytest.skip("this kernel's pidfd forgets a reaped process's exit (Linux < 6.15)")
    log, trigger = tmp_path / "ikabot.log", tmp_path / "go"
    trigger.touch()  # the task logs a line with ikabot's logging, then waits to be killed
    p = ikabot_task(
        ikabot_dir.home,
        ALICE,
        log,
        trigger,
        "import ikabot.helpers.logging as l; l.getLogger(__name__).warning('on "
        "its way'); time.sleep(600)",
    )
    try:
        ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 3 more runs")
        s = fast_settings(ikabot_dir.path, api, tmp_path / "s", ikabot_log=log, scan_seconds=3600)
        async with running_bot(s, api) as bot:
            await bot.settled()  # the start-up message sent and marked: nothing pending
            assert await until(lambda: log.exists() and log.stat().st_size > 0)
            window.pid = p.pid
            api.on_request = window.arrived
            p.send_signal(signal.SIGKILL)
            if reaped:
                p.wait()
            assert await bot.wait(lambda: alerts(api, "killed (SIGKILL)"), 20)
            assert await until(lambda: window.done and window.step_done, 20)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    names = {
        f"/proc/{p.pid}/": "/proc/<pid>/",
        str(log): "<ikabot's log>",
        str(ikabot_dir.path): "<ikabot's data>",
    }

    def named(line: str) -> str:
        for real, name in names.items():
            line = line.replace(real, name)
        return line

    opens = Counter(named(o) for o in window.opens)
    sql = Counter(statement_shape(s) for s in window.sql)
    assert opens == Counter(OPENS), differs("files", opens, OPENS)
    assert sql == Counter(SQL), differs("statements", sql, SQL)
    assert window.hops == Counter(HOPS), differs("thread hops", window.hops, HOPS)
    assert window.imports == [], f"modules looked for on the path: {window.imports}"
    assert sql["COMMIT"] == 1  # one durable commit for the end, however the rest moves
