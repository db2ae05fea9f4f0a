"""Small test utilities."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 5.0,
               interval: float = 0.005) -> bool:
    """Poll until `predicate()` is true or `timeout` passes: synchronisation, not a delay."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
