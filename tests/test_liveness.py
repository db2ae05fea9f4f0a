"""Liveness on real processes: alive, killed, zombie, and a pid that now belongs to another."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from ikabotdata import exec_done
from util import booted_ago, wait_until

from telebot.processes import liveness


def test_live_child_is_alive(spawn):
    p = spawn()
    alive, ticks = liveness.probe(p.pid, time.time())
    assert alive and ticks is not None
    assert liveness.same_process(p.pid, ticks)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_and_reaped_is_dead(spawn, sig):
    p = spawn()
    started = time.time()
    p.send_signal(sig)
    p.wait()
    assert liveness.probe(p.pid, started) == (False, None)
    assert liveness.read_stat(p.pid) is None


def test_zombie_is_dead(spawn):
    p = spawn()
    started = time.time()
    p.kill()  # not reaped: the kernel keeps a zombie until wait()
    assert wait_until(lambda: psutil.Process(p.pid).status() == psutil.STATUS_ZOMBIE)
    alive, _ = liveness.probe(p.pid, started)
    assert not alive


def test_reused_pid_is_not_the_task(spawn):
    """A live process created long after the entry's start is some other program."""
    prefix = booted_ago(86400)  # a day of uptime: no early-boot allowance
    p = spawn()
    pids = {p.pid: time.time() - 3600}
    assert probes(prefix, pids) == {str(p.pid): False}


PROBES = """
import json, sys
from telebot.processes import liveness
print(json.dumps({pid: liveness.probe(int(pid), date)[0]
                  for pid, date in json.loads(sys.argv[1]).items()}))
"""


def probes(prefix: list[str], entries: dict[int, float]) -> dict[str, bool]:
    """`probe` for each (pid, entry date), run under `prefix` (a moved boot clock)."""
    r = subprocess.run(
        [*prefix, sys.executable, "-c", PROBES, json.dumps(entries)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_after_a_reboot_only_ikabot_is_taken_for_a_stale_entry(spawn):
    """Booted a minute ago: entries two days old (from before the boot, or written before a
    Raspberry Pi's clock was set) are taken only for ikabot's processes; an undated entry
    never for another program."""
    prefix = booted_ago(60)
    task, other = spawn(), spawn(ikabot=False)
    stale = time.time() - 2 * 86400
    assert probes(prefix, {task.pid: stale, other.pid: stale}) == {
        str(task.pid): True,
        str(other.pid): False,
    }
    assert probes(prefix, {task.pid: 0, other.pid: 0}) == {
        str(task.pid): True,
        str(other.pid): False,
    }
    assert probes(prefix, {os.getpid(): stale, 1: 0}) == {str(os.getpid()): False, "1": False}


def test_the_early_boot_allowance_ends(spawn):
    """After the first minutes only the very process taken then stays that task: another ikabot
    process with an entry from before the boot is not (the boot clock is moved on in-process,
    from a time namespace that made the boot recent)."""
    prefix = booted_ago(60)
    seen, later = spawn(), spawn()
    stale = time.time() - 2 * 86400
    code = f"""
import json, time
from telebot.processes import liveness
first = liveness.probe({seen.pid}, {stale})[0]
real = liveness.uptime
liveness.uptime = lambda: real() + 86400  # a day later
print(json.dumps([first, liveness.probe({seen.pid}, {stale})[0],
                  liveness.probe({later.pid}, {stale})[0]]))
"""
    r = subprocess.run(
        [*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [True, True, False]


@pytest.mark.parametrize(
    ("argv", "comm", "ikabot"),
    [
        (["/venv/bin/python3", "/venv/bin/ikabot"], "ikabot", True),  # console script
        (
            ["/usr/bin/python3.11", "/home/u/.local/bin/ikabot", "me@x.org", "17"],
            "python3.11",
            True,
        ),
        (["python3", "-u", "-m", "ikabot"], "python3", True),
        (["python3", "-W", "ignore", "-mikabot"], "python3", True),
        (["python", "/site-packages/ikabot/__main__.py"], "python", True),
        (["./ikabot"], "ikabot", True),  # a frozen binary
        (
            [
                "/usr/bin/python3",
                "-c",
                "from multiprocessing.forkserver import main; main(3, 4, "
                "['__main__'], **{'sys_path': ['/v'], 'main_path': '/venv/bin/ikabot'})",
            ],
            "python3",
            True,
        ),
        (
            [
                "/usr/bin/python3",
                "-c",
                "from multiprocessing.spawn import spawn_main; "
                "spawn_main(tracker_fd=5, pipe_handle=7)",
                "--multiprocessing-fork",
            ],
            "python3",
            None,
        ),
        (["python3", "-c", "import time; time.sleep(600)"], "python3", False),
        (["python3", "-m", "telebot", "run"], "python3", False),
        (["python3", "-m", "ikabot_helper"], "python3", False),
        (["vim", "ikabot"], "vim", False),
        (["python3", "/home/u/ikabot.log"], "python3", False),
        (["sleep", "3600"], "sleep", False),
        ([], "kworker/0:1", False),
    ],
)
def test_ikabot_command_lines(argv, comm, ikabot):
    assert liveness.looks_like_ikabot(argv, comm) is ikabot


def test_ikabot_processes(spawn, tmp_path):
    """Real processes: a test task (ikabot's console script's command line), a script run
    directly (the kernel names it `ikabot`), a multiprocessing child started by spawn (its
    parent decides), and no other program."""
    script = tmp_path / "bin" / "ikabot"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(600)\n")
    script.chmod(0o755)
    direct = exec_done(subprocess.Popen([str(script)]))
    kids: list[psutil.Process] = []
    try:
        parent = spawn(
            "import multiprocessing as mp, time\n"
            "c = mp.get_context('spawn').Process(target=time.sleep, args=(600,))\n"
            "c.start(); c.join()"
        )
        task, other = spawn(), spawn(ikabot=False)

        def spawned() -> list[psutil.Process]:  # not the resource tracker, also a child
            return [
                c
                for c in psutil.Process(parent.pid).children()
                if "--multiprocessing-fork" in c.cmdline()
            ]

        assert wait_until(spawned, 20)
        kids = psutil.Process(parent.pid).children()  # the resource tracker too
        (child,) = spawned()
        assert wait_until(lambda: psutil.Process(direct.pid).name() == "ikabot")
        for pid in (task.pid, direct.pid, parent.pid, child.pid):
            assert liveness.is_ikabot(pid), psutil.Process(pid).cmdline()
        for pid in (other.pid, os.getpid(), 1):
            assert not liveness.is_ikabot(pid)
            assert not liveness.may_signal(pid)
        assert not liveness.may_signal(os.getppid())
        assert liveness.may_signal(task.pid)
    finally:
        for kid in kids:  # they outlive their parent
            kid.kill()
        direct.kill()
        direct.wait()


def test_never_itself_even_when_it_looks_like_ikabot(tmp_path):
    """A telebot started the way ikabot is (its own command line ikabot's) still never takes
    itself, its parent or pid 1 for something it may signal."""
    from ikabotdata import LAUNCHER

    code = (
        "import json, os\nfrom telebot.processes import liveness\n"
        "print(json.dumps([liveness.is_ikabot(os.getpid()), liveness.may_signal(os.getpid()),"
        " liveness.may_signal(os.getppid()), liveness.may_signal(1)]))"
    )
    r = subprocess.run(
        [sys.executable, str(LAUNCHER), code], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [True, False, False, False]


def test_zombie_wait_status_is_read(spawn):
    from telebot.processes.exitinfo import read_zombie

    p = spawn("import os; os._exit(3)")
    ticks = None
    assert wait_until(lambda: (liveness.read_stat(p.pid) or liveness.ProcStat("", 0, 0, 0)).zombie)
    ticks = liveness.start_ticks(p.pid)
    info = read_zombie(p.pid, ticks)
    assert info is not None and info.exit_status == 3 and info.signal is None


@pytest.mark.parametrize("pid", [0, -1, 2**22 + 12345, 2**31, True])
def test_impossible_pids(pid):
    assert liveness.probe(pid, time.time())[0] is False
