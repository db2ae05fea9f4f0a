"""The producer API under the name the contract gives it (docs/contract.md section 3).

The functions live in `telebot.ikabot.producer` (ikabot's files, nothing else); this is where
they meet process watching: `cleanup_dead_details` gets liveness's answer by default.
"""

from pathlib import Path
from typing import Any

from telebot.ikabot.producer import (
    Alive,
    Target,
    delete_process_details,
    get_process_details,
    save_process_details,
)
from telebot.ikabot.producer import cleanup_dead_details as _cleanup
from telebot.processes import liveness


def pid_alive(pid: int, started: float) -> bool:
    """Is `pid` still the process that started at `started` (not a reused pid)?"""
    return liveness.probe(pid, started)[0]


def cleanup_dead_details(
    session: Any, *, ikabot_path: Path | None = None, alive: Alive = pid_alive
) -> list[int]:
    """Drop the details of every pid that is no longer its task's process; the pids dropped."""
    return _cleanup(session, alive=alive, ikabot_path=ikabot_path)


__all__ = [
    "Target",
    "cleanup_dead_details",
    "delete_process_details",
    "get_process_details",
    "save_process_details",
]
