"""Small test utilities."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from telebot.demo.run import wait_for

# How long a test waits for what it expects before it fails. A wait returns as soon as the
# thing happens, so a passing test never pays for this: it is sized for a machine whose cores
# are all busy (a CPU hog, a coverage run beside other work), where a scan or a process start
# that takes milliseconds on a quiet machine can take seconds. Every default wait of the test
# helpers (here, tests/botharness.py, tests/menuharness.py) is this one.
DEADLINE = 30.0


def wait_until(
    predicate: Callable[[], object], timeout: float = DEADLINE, interval: float = 0.005
) -> bool:
    """Poll until `predicate()` is true or `timeout` passes: synchronisation, not a delay."""
    return wait_for(predicate, timeout, interval)


async def until(predicate: Callable[[], object], timeout: float = DEADLINE) -> bool:
    """Poll a condition the Bot API does not see (a process ending), off the bot's way."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """A sent message's inline buttons: label → callback data."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


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


def booted_ago(seconds: float) -> list[str]:
    """A command prefix that runs a program as if the machine booted `seconds` ago: a time
    namespace (`unshare --time --boottime`, root) moves the boot clock and the start times in
    `/proc/<pid>/stat`, not the wall clock. Skips the test where namespaces are refused."""
    import subprocess
    import time

    import pytest

    offset = int(seconds - time.clock_gettime(time.CLOCK_BOOTTIME))
    prefix = ["unshare", "--time", "--boottime", str(offset)]
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        pytest.skip("no time namespace here (unshare --time needs root)")
    return prefix
