"""The suite cleans up after itself: a test session, ended normally, interrupted (SIGINT) or
killed (SIGKILL) mid-test, leaves no process and nothing in its TMPDIR (tests/sessionguard.py).

Each case runs tests/session_child.py as a pytest of its own, in a fresh TMPDIR, and looks
afterwards: the processes it started are gone (polled until a deadline: the guard works
after pytest's end) and its TMPDIR is empty again (pytest's own basetemp is put elsewhere)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import sessionguard
from util import DEADLINE, wait_until

TESTS = Path(__file__).parent
CHILD = TESTS / "session_child.py"


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # ended, not reaped yet
    except psutil.NoSuchProcess:
        return True


def child_session(tmp_path: Path, hold: bool) -> tuple[subprocess.Popen[bytes], Path, Path]:
    temp, out = tmp_path / "tmp", tmp_path / "started.json"
    temp.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()  # a session of its own: its own directories
        if k not in (sessionguard.MARK, "TEST_IKABOT_LOG_FILE", "TEST_IKABOT_BIN_DIR")
    }
    env.update(TMPDIR=str(temp), SESSION_CHILD_OUT=str(out))
    if hold:
        env["SESSION_CHILD_HOLD"] = "1"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            f"--basetemp={tmp_path / 'basetemp'}",
            str(CHILD),
        ],
        cwd=TESTS.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return p, temp, out


def assert_nothing_left(started: dict, temp: Path) -> None:
    assert wait_until(lambda: all(gone(pid) for pid in started["pids"])), [
        pid for pid in started["pids"] if not gone(pid)
    ]
    assert wait_until(lambda: not sessionguard.marked(started["mark"])), sessionguard.marked(
        started["mark"]
    )
    assert wait_until(lambda: not any(temp.iterdir())), sorted(temp.iterdir())


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_session_stopped_mid_test_leaves_nothing(tmp_path: Path, how: signal.Signals) -> None:
    p, temp, out = child_session(tmp_path, hold=True)
    try:
        assert wait_until(lambda: out.exists() and out.read_text(), 4 * DEADLINE), (
            p.stdout.read().decode() if p.poll() is not None and p.stdout else "not started"
        )
        started = json.loads(out.read_text())
        assert not any(gone(pid) for pid in started["pids"])  # all of them ran
        p.send_signal(how)
        p.communicate(timeout=DEADLINE)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert_nothing_left(started, temp)


def test_a_session_that_ends_leaves_nothing(tmp_path: Path) -> None:
    p, temp, out = child_session(tmp_path, hold=False)
    output, _ = p.communicate(timeout=4 * DEADLINE)
    assert p.returncode == 0, output.decode()[-3000:]
    assert_nothing_left(json.loads(out.read_text()), temp)


def test_a_task_dies_with_its_parent_at_once(tmp_path: Path) -> None:
    """The parent-death signal alone (no guard in this parent): a task the `spawn` helpers
    started ends when the process that started it is killed."""
    code = (
        "import ikabotdata, sys, time\n"
        "print(ikabotdata.spawn_task().pid, ikabotdata.other_program().pid, flush=True)\n"
        "time.sleep(600)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ["PYTHONPATH"]]))
    parent = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert parent.stdout is not None
        pids = [int(x) for x in parent.stdout.readline().split()]
        assert len(pids) == 2 and not any(gone(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait()
    assert wait_until(lambda: all(gone(pid) for pid in pids)), pids


BENCH_RUN = r"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from common import leaves_no_process

out, how = Path(sys.argv[1]), sys.argv[3]
# a task as keep-alive restarts one: nobody's child (its starter exits), a session of its
# own, deaf to SIGINT and SIGTERM (ikabot's tasks ignore both)
LOST = '''
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.setsid()
if os.fork():
    os._exit(0)
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(120)
'''
pids = []
try:
    with leaves_no_process():
        lost = Path(str(out) + ".lost")
        subprocess.run([sys.executable, "-c", LOST, str(lost)], check=True)
        while not (lost.exists() and lost.read_text()):
            time.sleep(0.01)
        pids.append(int(lost.read_text()))
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        pids.append(child.pid)
        out.write_text(json.dumps({"mark": os.environ["TEST_SESSION_MARK"], "pids": pids}))
        if how == "error":
            raise RuntimeError("a benchmark fails")
        if how == "signal":
            time.sleep(120)  # until the test's SIGINT or SIGTERM
finally:
    # the guard is still waiting (this process lives): only the run's own end can have
    # ended them
    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    out.with_name("left").write_text(json.dumps([p for p in pids if alive(p)]))
"""


@pytest.mark.parametrize(
    "how", ["end", "error", signal.SIGINT, signal.SIGTERM], ids=lambda h: getattr(h, "name", h)
)
def test_a_benchmark_ends_every_process_it_caused_before_its_end(
    tmp_path: Path, how: str | signal.Signals
) -> None:
    """bench/common.py's leaves_no_process: the processes a benchmark caused, its children and
    those nobody's children any more (a task keep-alive restarted), end before the
    benchmark's own end, whether it returns, fails, or is interrupted."""
    out = tmp_path / "started.json"
    mode = how if isinstance(how, str) else "signal"
    p = subprocess.Popen(
        [sys.executable, "-c", BENCH_RUN, str(out), str(TESTS.parent / "bench"), mode],
        env={k: v for k, v in os.environ.items() if k != sessionguard.MARK},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    started: dict = {"mark": None, "pids": []}
    try:
        assert wait_until(lambda: out.exists() and out.read_text(), 4 * DEADLINE), (
            p.stdout.read().decode() if p.poll() is not None and p.stdout else "not started"
        )
        started = json.loads(out.read_text())
        assert len(started["pids"]) == 2
        if isinstance(how, signal.Signals):  # still running: what it caused is alive
            assert not any(gone(pid) for pid in started["pids"])
        if isinstance(how, signal.Signals):
            p.send_signal(how)
        output, _ = p.communicate(timeout=DEADLINE)
        assert (p.returncode == 0) == (how == "end"), output.decode()[-3000:]
        assert json.loads((tmp_path / "left").read_text()) == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if started["mark"]:
            sessionguard.end_marked(started["mark"])
    assert wait_until(lambda: not sessionguard.marked(started["mark"]))  # its guard too
