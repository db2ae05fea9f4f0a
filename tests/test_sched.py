"""The short time slice (`processes/sched.py`): the calling thread gets it, and nothing it
starts does (no worker thread, no ikabot process), and its nice value stays what it was."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from telebot.processes.sched import SLICE_NS, short_slice, thread_slice_ns

CHILD_SLICE = (
    "for l in open('/proc/thread-self/sched'):\n"
    "    if l.startswith('se.slice'): print(int(l.split(':')[1]))\n"
)


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run `fn` in a thread of its own: the test process's threads keep their slice."""
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def default_slice() -> int:
    found = in_thread(thread_slice_ns)
    if found is None:
        pytest.skip("this kernel does not report a thread's slice")
    return int(found)


def granted() -> dict[str, Any]:
    """In a fresh thread: ask, then what it has, and what a thread and a process it starts
    have."""
    asked = short_slice()
    mine = thread_slice_ns()
    theirs = in_thread(thread_slice_ns)
    child = subprocess.run(
        [sys.executable, "-c", CHILD_SLICE], capture_output=True, text=True, check=True
    ).stdout
    return {"asked": asked, "mine": mine, "thread": theirs, "child": int(child), "nice": os.nice(0)}


def test_the_calling_thread_alone_gets_the_short_slice():
    default = default_slice()
    got = in_thread(granted)
    if not got["asked"] or got["mine"] == default:
        pytest.skip("this kernel keeps its default slice (Linux < 6.12, or no sched_setattr)")
    assert got["mine"] == SLICE_NS
    assert got["thread"] == default  # a worker thread started from it: the kernel's default
    assert got["child"] == default  # ikabot's menu, its tasks: the kernel's default
    assert got["nice"] == os.nice(0)  # its share of the CPU unchanged


def test_a_thread_at_nice_10_stays_at_nice_10():
    def niced() -> dict[str, Any]:
        os.setpriority(os.PRIO_PROCESS, 0, 10)  # this thread only (Linux: a tid)
        return granted()

    default = default_slice()
    got = in_thread(niced)
    if not got["asked"] or got["mine"] == default:
        pytest.skip("this kernel keeps its default slice")
    assert got["nice"] == 10  # sched_setattr given the thread's own nice, never 0
