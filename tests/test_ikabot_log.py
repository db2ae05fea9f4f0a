"""Reading ikabot's log stays bounded, whatever lands in it; a task's cause is still found.

The records come from ikabot's own logging and `@task` wrapper, in a child process
(`ikabotdata.ikabot_task`), into the test's own log file.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from conftest import ALICE
from ikabotdata import IkabotDir, ikabot_task

from telebot.ikabot.log import LINE_MAX, RECORD_LINES, IkabotLog


def _raise_in(ikabot_dir: IkabotDir, log: Path, tmp_path: Path, body: str) -> int:
    trigger = tmp_path / "go"
    p = ikabot_task(ikabot_dir.home, ALICE, log, trigger, body)
    trigger.touch()
    assert p.wait(30) == 0  # ikabot's logout(): os._exit(0), as after a success
    return p.pid


def test_a_line_without_a_newline_is_not_held_whole(ikabot_dir, tmp_path):
    """24 MB written without a newline (a crashed writer, a planted file) must not be kept:
    only the line's head is, and ikabot's next record is read as usual."""
    log = tmp_path / "ikabot.log"
    log.write_bytes(b"")
    reader = IkabotLog(log)
    reader.poll()
    chunk = b"x" * (1 << 20)
    tracemalloc.start()
    try:
        for _ in range(24):
            with log.open("ab") as f:
                f.write(chunk)
            reader.poll()
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 4 * LINE_MAX + (1 << 20), held  # not the 24 MB written
    with log.open("ab") as f:
        f.write(b"\n")
    pid = _raise_in(ikabot_dir, log, tmp_path, "raise Exception('the fleet was lost')")
    reader.poll()
    assert reader.error_cause(pid) == "Exception: the fleet was lost"


def test_a_traceback_longer_than_a_record_keeps_its_cause(ikabot_dir, tmp_path):
    """A record keeps its first and last lines: the cause ends the traceback."""
    log = tmp_path / "ikabot.log"
    depth = RECORD_LINES + 50  # one frame line each, more than a record keeps
    source = "\n".join(
        [
            *(f"def f{i}(): return f{i + 1}()" for i in range(depth)),
            f"def f{depth}(): raise ValueError('deep')",
        ]
    )
    body = f"exec({source!r}, globals()); f0()"
    pid = _raise_in(ikabot_dir, log, tmp_path, body)
    reader = IkabotLog(log)
    reader.poll()
    assert reader.error_cause(pid) == "ValueError: deep"
    assert all(len(r.lines) <= RECORD_LINES for r in reader.records(pid))
