"""Small test utilities."""

from __future__ import annotations

from collections.abc import Callable

from telebot.demo.run import wait_for


def wait_until(predicate: Callable[[], object], timeout: float = 5.0,
               interval: float = 0.005) -> bool:
    """Poll until `predicate()` is true or `timeout` passes: synchronisation, not a delay."""
    return wait_for(predicate, timeout, interval)


def dead_pid() -> int:
    """A pid whose process has exited and been reaped: never assume a fixed pid is free.

    It could be taken again by the time it is used, but only after the kernel has cycled
    through the whole pid space, which a test does not live to see.
    """
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid
