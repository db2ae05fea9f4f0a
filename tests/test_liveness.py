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
    alive, created = liveness.probe(p.pid, time.time())
    assert alive and created is not None
    assert liveness.same_process(p.pid, created)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_and_reaped_is_dead(spawn, sig):
    p = spawn()
    started = time.time()
    p.send_signal(sig)
    p.wait()
    assert liveness.probe(p.pid, started) == (False, None)


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
    alive, created = liveness.probe(p.pid, time.time() - 3600)
    assert not alive and created is not None
    assert not liveness.same_process(p.pid, created - 10)


@pytest.mark.parametrize("pid", [0, -1, 2**22 + 12345, True])
def test_impossible_pids(pid):
    assert liveness.probe(pid, time.time())[0] is False
