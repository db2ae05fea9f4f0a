"""Liveness on real processes: alive, killed, zombie, and a pid that now belongs to another."""

from __future__ import annotations

import signal
import time

import psutil
import pytest
from util import wait_until

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
    p = spawn()
    alive, ticks = liveness.probe(p.pid, time.time() - 3600)
    assert not alive and ticks is not None
    assert not liveness.same_process(p.pid, ticks - 10)


def test_pi_booted_with_a_stale_clock():
    """A task ikabot started before NTP set the clock has a `date` that looks far older than
    its process; it is still taken as that task when the process started early in the boot."""
    now = time.time()
    boot_wall = now - liveness.uptime()
    early = 30 * liveness.clock_ticks()  # started 30 s after boot
    stale_date = boot_wall - 86400 * 200  # written with a clock 200 days behind
    assert liveness.started_as_recorded(early, stale_date, now)
    late = int((liveness.uptime() - 5) * liveness.clock_ticks())  # started 5 s ago
    if liveness.uptime() > liveness.EARLY_BOOT + 10:
        assert not liveness.started_as_recorded(late, now - 3600, now)  # a reused pid


def test_zombie_wait_status_is_read(spawn):
    from telebot.processes.exitinfo import read_zombie

    p = spawn("import os; os._exit(3)")
    ticks = None
    assert wait_until(lambda: (liveness.read_stat(p.pid) or liveness.ProcStat("", 0, 0, 0))
                      .zombie)
    ticks = liveness.start_ticks(p.pid)
    info = read_zombie(p.pid, ticks)
    assert info is not None and info.exit_status == 3 and info.signal is None


@pytest.mark.parametrize("pid", [0, -1, 2**22 + 12345, 2**31, True])
def test_impossible_pids(pid):
    assert liveness.probe(pid, time.time())[0] is False
