"""pidfd watching of real processes that are not reaped by the watcher."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from telebot.processes.liveness import create_time
from telebot.processes.watcher import ProcessWatcher, pidfd_supported

pytestmark = pytest.mark.skipif(not pidfd_supported(), reason="no pidfd on this system")


async def exits_of(watcher_kwargs: dict, procs, action) -> list[tuple[int, float]]:
    loop = asyncio.get_running_loop()
    seen: list[tuple[int, float]] = []
    done = asyncio.Event()

    def on_exit(pid: int, ct: float) -> None:
        seen.append((pid, ct))
        if len(seen) == len(procs):
            done.set()

    w = ProcessWatcher(on_exit, **watcher_kwargs)
    for p in procs:
        w.watch(p.pid, create_time(p.pid))
    await loop.run_in_executor(None, action)
    await asyncio.wait_for(done.wait(), 10)
    w.close()
    return seen


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_death_is_noticed(spawn, sig):
    p = spawn()
    ct = create_time(p.pid)
    seen = await exits_of({}, [p], lambda: p.send_signal(sig))
    assert seen == [(p.pid, ct)]
    p.wait()


async def test_fallback_without_pidfd(spawn):
    p = spawn()
    seen = await exits_of({"use_pidfd": False, "fallback_interval": 0.05}, [p], p.kill)
    assert [pid for pid, _ in seen] == [p.pid]
    p.wait()


async def test_reused_pid_is_reported_gone_at_once(spawn):
    p = spawn()
    seen: list[int] = []
    done = asyncio.Event()
    w = ProcessWatcher(lambda pid, ct: (seen.append(pid), done.set()))
    w.watch(p.pid, create_time(p.pid) - 3600)  # the task we tracked was an older process
    await asyncio.wait_for(done.wait(), 5)
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
    w = ProcessWatcher(lambda pid, ct: None)
    w.watch(p.pid, create_time(p.pid))
    assert w._timer is None and w.watched() == {p.pid: create_time(p.pid)}
    w.close()
