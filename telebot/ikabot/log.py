"""ikabot's own log, read to learn why a task ended (docs/contract.md section 1e).

ikabot logs every Telegram message a task sends, at WARNING (its default level) and from the
task's own pid, *before* sending it: `MESSAGE TO TG BOT: …`. A task that raises sends
`Error in:\\n<task>\\nCause:\\n<traceback>` through the `@task` wrapper and then exits with status
0 like any other, so this log is the only place that tells a failure from a success.

The file is ikabot's RotatingFileHandler (10 MB × 10): read incrementally (inode + offset),
following a rotation by finishing the renamed file's tail first; a record spans several lines
and is complete only when the next one starts. A death reads only the new tail. Memory stays
bounded: the last few records per pid, for the most recent pids.

The log usually lives in `/tmp`, where anyone may put a file first: it is read only when it is
a regular file of ikabot's user that no one else can write (`safeio.open_trusted`, opened
non-blocking, so a FIFO there cannot hang telebot), else it is skipped with a warning. `poll`
may take a while on a big tail: telebot calls it off the event loop (`asyncio.to_thread`); a
lock keeps one poll at a time and the records whole while they are read.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from telebot.i18n import _
from telebot.ikabot.clean import clean_text
from telebot.ikabot.safeio import UnsafeFile, open_trusted

log = logging.getLogger(__name__)

BACKLOG = 1 << 20  # at start, what ikabot logged lately (deaths while telebot was down)
MAX_READ = 4 << 20  # one poll reads at most this much; the rest comes on the next
KEEP_PER_PID = 20
KEEP_PIDS = 2000
CAUSE_CLIP = 300
# One log line is kept up to this many bytes: ikabot's longest is a Telegram message it logs
# (4096 characters, at most 16 KB of UTF-8); a line without a newline, however long it grows,
# is held only this far, and the rest of it dropped as it comes.
LINE_MAX = 16 << 10
# Lines kept of one record: its first (what it is) and its last (a traceback ends with its
# cause); the middle of a longer one is dropped.
RECORD_LINES = 400

_RECORD = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(?P<ms>\d{3}) - .*? - pid=(?P<pid>\d{1,10}) - "
    r".*? - (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) - (?P<msg>.*)$"
)
TG_PREFIX = "MESSAGE TO TG BOT: "
ERROR_HEAD = "Error in:"


@dataclass
class Record:
    pid: int
    at: float
    level: str
    lines: list[str]

    @property
    def message(self) -> str:
        return "\n".join(self.lines)

    @property
    def to_telegram(self) -> str | None:
        first = self.lines[0]
        return self.message[len(TG_PREFIX) :] if first.startswith(TG_PREFIX) else None

    def error_cause(self) -> str | None:
        """The traceback's last line when this is the @task wrapper's error report."""
        text = self.to_telegram
        if text is None or not text.startswith(ERROR_HEAD):
            return None
        lines = [ln.strip() for ln in self.lines if ln.strip()]
        # `exc_info=True` appends the traceback once more (or "NoneType: None"): the last line
        # that is not indented names the exception either way
        for line in reversed(lines):
            if line != "NoneType: None" and not line.startswith(("File ", "^", "~")):
                return line[:CAUSE_CLIP]
        return "an error (see ikabot's message)"


def _timestamp(text: str, ms: str) -> float:
    """`2026-12-07 09:35:08` (local time, as ikabot's logging writes it) and its milliseconds.
    Read field by field, not by `time.strptime`: that imports its module at the first call,
    which may be the first line read after a death, on the alert's path."""
    try:
        year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
        hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second <= 61):
            return 0.0
        return time.mktime((year, month, day, hour, minute, second, 0, 0, -1)) + int(ms) / 1000
    except (ValueError, OverflowError):
        return 0.0


class IkabotLog:
    """Follows one ikabot log file; every method is cheap when nothing new was written."""

    def __init__(self, path: Path, *, backlog: int = BACKLOG, owner: int | None = None) -> None:
        self.path = Path(path)
        self.owner = owner  # ikabot's user (`safeio.owner_of` its data); telebot's if None
        self._lock = threading.RLock()
        self._backlog = backlog
        self._ino: int | None = None
        self._offset = 0
        self._partial = b""
        self._skip_to_line = False
        self._current: Record | None = None
        self._by_pid: OrderedDict[int, deque[Record]] = OrderedDict()
        self.problem: str | None = None

    @property
    def available(self) -> bool:
        return self.problem is None and self._ino is not None

    # ---- reading

    def poll(self, max_bytes: int = MAX_READ) -> None:
        """Read what ikabot wrote since the last poll; never raises."""
        with self._lock:
            try:
                fd, st = open_trusted(self.path, self.owner)
            except FileNotFoundError:
                self._set_problem(
                    _(
                        "{file} does not exist (yet): ikabot has logged nothing "
                        "there; set IKABOT_LOG to ikabot's log file"
                    ).format(file=self.path)
                )
                return
            except UnsafeFile as e:
                self._set_problem(
                    _("{file} skipped: {why}").format(file=self.path, why=e), warn=True
                )
                return
            except OSError as e:
                self._set_problem(
                    _("cannot read {file}: {why}").format(file=self.path, why=e.strerror)
                )
                return
            try:
                if self._ino is None:
                    self._ino, self._offset = st.st_ino, max(0, st.st_size - self._backlog)
                    self._skip_to_line = self._offset > 0
                elif st.st_ino != self._ino:
                    self._finish_rotated()
                    self._ino, self._offset, self._partial = st.st_ino, 0, b""
                elif st.st_size < self._offset:  # truncated in place
                    self._offset, self._partial = 0, b""
                if st.st_size > self._offset:
                    self._read(fd, max_bytes)
                self.problem = None
            except OSError as e:
                self._set_problem(
                    _("cannot read {file}: {why}").format(file=self.path, why=e.strerror)
                )
            finally:
                os.close(fd)

    def _set_problem(self, text: str, warn: bool = False) -> None:
        if self.problem != text:
            log.log(logging.WARNING if warn else logging.INFO, "ikabot's log: %s", text)
        self.problem = text

    def _finish_rotated(self) -> None:
        """ikabot renamed the file to `.1`: read the rest of it before the new one."""
        rotated = self.path.with_name(self.path.name + ".1")
        try:
            fd, st = open_trusted(rotated, self.owner)
        except (OSError, ValueError):
            self._flush_partial()
            return
        try:
            if st.st_ino == self._ino:
                self._read(fd, MAX_READ)
        except OSError:
            pass
        finally:
            os.close(fd)
        self._flush_partial()

    def _read(self, fd: int, max_bytes: int) -> None:
        data = os.pread(fd, max_bytes, self._offset)
        self._offset += len(data)
        data = self._partial + data
        cut = data.rfind(b"\n")
        # the head of an unfinished line, never more: what follows it is appended and clipped
        # again, so the line stays its first LINE_MAX bytes until its newline comes
        self._partial = data[cut + 1 :][:LINE_MAX]
        if cut < 0:
            return
        lines = [
            clean_text(b[:LINE_MAX].decode("utf-8", "replace")) for b in data[:cut].split(b"\n")
        ]
        if self._skip_to_line:
            lines = lines[1:]  # the backlog started mid-line
            self._skip_to_line = False
        for line in lines:
            self._line(line)

    def _flush_partial(self) -> None:
        if self._partial:
            self._line(clean_text(self._partial.decode("utf-8", "replace")))
            self._partial = b""

    def _line(self, line: str) -> None:
        m = _RECORD.match(line)
        if m is None:
            if self._current is not None:
                lines = self._current.lines
                lines.append(line)
                if len(lines) > RECORD_LINES:
                    del lines[1]
            return
        record = Record(int(m["pid"]), _timestamp(m["at"], m["ms"]), m["level"], [m["msg"]])
        self._current = record
        records = self._by_pid.get(record.pid)
        if records is None:
            records = self._by_pid[record.pid] = deque(maxlen=KEEP_PER_PID)
            if len(self._by_pid) > KEEP_PIDS:
                self._by_pid.popitem(last=False)
        else:
            self._by_pid.move_to_end(record.pid)
        records.append(record)

    # ---- what a task said

    def records(self, pid: int) -> list[Record]:
        with self._lock:
            return list(self._by_pid.get(pid, ()))

    def messages(self, pid: int) -> list[str]:
        """What this pid sent to Telegram, oldest first."""
        return [t for r in self.records(pid) if (t := r.to_telegram) is not None]

    def error_cause(self, pid: int, since: float | None = None) -> str | None:
        """The cause of the last error this pid reported (at or after `since`), if any."""
        for record in reversed(self.records(pid)):
            if since is not None and record.at and record.at < since - 2:
                break
            cause = record.error_cause()
            if cause is not None:
                return cause
        return None
