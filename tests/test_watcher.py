"""pidfd watching of real processes that are not reaped by the watcher."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from util import DEADLINE

from telebot.processes.liveness import start_ticks as create_time
from telebot.processes.watcher import ProcessWatcher, pidfd_supported

pytestmark = pytest.mark.skipif(not pidfd_supported(), reason="no pidfd on this system")


async def exits_of(watcher_kwargs: dict, procs, action) -> list[tuple[int, float]]:
    loop = asyncio.get_running_loop()
    seen: list[tuple[int, float]] = []
    exits: list = watcher_kwargs.pop("exits", [])
    done = asyncio.Event()

    def on_exit(pid: int, ct: int, exit) -> None:
        seen.append((pid, ct))
        exits.append(exit)
        if len(seen) == len(procs):
            done.set()

    w = ProcessWatcher(on_exit, **watcher_kwargs)
    for p in procs:
        w.watch(p.pid, create_time(p.pid))
    await loop.run_in_executor(None, action)
    await asyncio.wait_for(done.wait(), DEADLINE)
    w.close()
    return seen


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_death_is_noticed_with_its_signal(spawn, sig):
    p = spawn()
    ct = create_time(p.pid)
    exits: list = []
    seen = await exits_of({"exits": exits}, [p], lambda: p.send_signal(sig))
    assert seen == [(p.pid, ct)]
    assert exits[0] is not None and exits[0].signal == sig and exits[0].exit_status is None
    p.wait()


@pytest.mark.parametrize("code", [0, 3])
@pytest.mark.parametrize("reap", [False, True])
async def test_exit_status_zombie_or_reaped(code, reap):
    """A process that exits by itself: its status is read while it is a zombie (its parent
    reaps late, like ikabot's menu) or from the pidfd once reaped (Linux ≥ 6.15 keeps it
    there; older kernels say 'unknown', never a wrong answer)."""
    p = subprocess.Popen(
        [sys.executable, "-c", f"import os, sys; sys.stdin.read(); os._exit({code})"],
        stdin=subprocess.PIPE,
    )
    exits: list = []

    def end() -> None:
        assert p.stdin is not None
        p.stdin.close()
        if reap:
            p.wait()

    try:
        await exits_of({"exits": exits}, [p], end)
    finally:
        p.wait()
    info = exits[0]
    if info is not None or not reap:
        assert info is not None and info.exit_status == code and info.signal is None


async def test_fallback_without_pidfd(spawn):
    p = spawn()
    seen = await exits_of({"use_pidfd": False, "fallback_interval": 0.05}, [p], p.kill)
    assert [pid for pid, _ in seen] == [p.pid]
    p.wait()


async def test_reused_pid_is_reported_gone_at_once(spawn):
    p = spawn()
    seen: list[int] = []
    done = asyncio.Event()
    w = ProcessWatcher(lambda pid, ct, ex: (seen.append(pid), done.set()))
    w.watch(p.pid, create_time(p.pid) - 3600)  # the task we tracked was an older process
    await asyncio.wait_for(done.wait(), DEADLINE)
    assert seen == [p.pid] and w.watched() == {}
    w.close()


async def test_no_fd_leak(spawn):
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        procs = [spawn() for _ in range(5)]
        await exits_of({}, procs, lambda procs=procs: [p.kill() for p in procs])
        for p in procs:
            p.wait()
    assert len(os.listdir("/proc/self/fd")) <= before + 2


async def test_idle_watcher_needs_no_timer(spawn):
    """With pidfd nothing is scheduled: an idle telebot sleeps in epoll."""
    p = spawn()
    w = ProcessWatcher(lambda pid, ct, ex: None)
    w.watch(p.pid, create_time(p.pid))
    assert w._timer is None and w.watched() == {p.pid: create_time(p.pid)}
    w.close()
