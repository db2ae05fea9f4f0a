"""A test session for tests/test_cleanup.py to run, kill and look after: not collected by
itself (no `test_` file name), run only by name, with SESSION_CHILD_OUT set.

It starts what a session starts (tasks by the `spawn` fixture, a task's own child, a process
in a session of its own, a child's temp directory), writes their pids and the session's mark
to SESSION_CHILD_OUT, and then holds (SESSION_CHILD_HOLD=1) until it is killed, or ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import sessionguard
from util import DEADLINE, wait_until


def test_a_session_that_starts_everything(spawn, tmp_path: Path) -> None:
    out = Path(os.environ["SESSION_CHILD_OUT"])
    grandchild = tmp_path / "grandchild.pid"
    task, other = spawn(), spawn(ikabot=False)
    parent = spawn(
        "import pathlib, subprocess, time\n"  # a task's own child: no parent-death
        f"p = subprocess.Popen(['sleep', '600'])\n"
        f"pathlib.Path({str(grandchild)!r}).write_text(str(p.pid))\n"
        "time.sleep(600)"
    )
    apart = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )  # setsid(): out of pytest's group
    subprocess.run(
        [sys.executable, "-c", "import tempfile; tempfile.mkdtemp(prefix='left-')"],
        check=True,
        timeout=DEADLINE,
    )  # a child's temp dir, never removed by it
    assert wait_until(lambda: grandchild.exists() and grandchild.read_text())
    pids = [task.pid, other.pid, parent.pid, int(grandchild.read_text()), apart.pid]
    out.write_text(json.dumps({"mark": os.environ[sessionguard.MARK], "pids": pids}))
    try:
        if os.environ.get("SESSION_CHILD_HOLD"):
            time.sleep(20 * DEADLINE)  # until killed
    finally:
        apart.kill()
        apart.wait()
