"""What Python 3.10 lacks of 3.11's standard library, in one place (pyproject: >= 3.10)."""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - CI runs 3.11

    class StrEnum(str, Enum):
        """3.11's `enum.StrEnum`: a member is its value wherever a str is (str(), format(),
        JSON, SQLite), so a closed set of words is stored as the same strings as before."""

        def __str__(self) -> str:
            return str(self.value)


__all__ = ["StrEnum"]
