"""A task's keep-alive as `telebot status --json` states it (docs/contract.md section 2a):
`on`, `restarts` (of its chain, within the last hour: what the limit counts),
`gave_up`, `of_pid`."""

from __future__ import annotations

import time
from typing import Any

from telebot.config import Settings
from telebot.keepalive.chain import WINDOW, is_kept
from telebot.state import StateDB
from telebot.tasks.model import Task


def keepalive_json(
    state: StateDB | None, settings: Settings, task: Task, now: float | None = None
) -> dict[str, Any]:
    now = time.time() if now is None else now
    off: dict[str, Any] = {"on": False, "restarts": 0, "gave_up": False, "of_pid": None}
    if state is None:
        return off
    ticks = task.start_ticks
    kept = (
        state.keepalive.get(task.pid, ticks)
        if ticks is not None
        else state.keepalive.newest(task.pid)
    )
    recorded = (
        state.recordings.get(task.pid, ticks)
        if ticks is not None
        else state.recordings.newest(task.pid)
    ) is not None
    chain = kept.chain if kept is not None else f"{task.pid}:{ticks}"
    return {
        "on": recorded and is_kept(task.action, kept.want if kept else None, settings.keepalive),
        "restarts": len(state.keepalive.restarts_since(chain, now - WINDOW)),
        "gave_up": bool(kept and kept.gave_up),
        "of_pid": kept.of_pid if kept is not None else None,
    }
