"""What Python 3.10 lacks of 3.11's standard library, in one place (pyproject: >= 3.10)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from enum import Enum
from typing import TypeVar

T = TypeVar("T")

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - CI runs 3.11

    class StrEnum(str, Enum):
        """3.11's `enum.StrEnum`: a member is its value wherever a str is (str(), format(),
        JSON, SQLite), so a closed set of words is stored as the same strings as before."""

        def __str__(self) -> str:
            return str(self.value)


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """`awaitable`, cancelled after `seconds` (None: no limit) with TimeoutError. 3.11's
    `asyncio.timeout` schedules one callback; 3.10's `wait_for` wraps a task around it."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    try:  # pragma: no cover - CI runs 3.11
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:  # pragma: no cover - 3.10's is not the builtin
        raise TimeoutError from None


__all__ = ["StrEnum", "within"]
