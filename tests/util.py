"""Small test utilities."""

from __future__ import annotations

from collections.abc import Callable

from telebot.demo import wait_for


def wait_until(predicate: Callable[[], object], timeout: float = 5.0,
               interval: float = 0.005) -> bool:
    """Poll until `predicate()` is true or `timeout` passes: synchronisation, not a delay."""
    return wait_for(predicate, timeout, interval)
