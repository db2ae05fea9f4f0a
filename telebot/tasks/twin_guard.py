"""Is the action about to be started again already running on that account?

Asked by whatever starts a task on the owner's behalf (🔁 Run again in `bot/menu_manager`, an
unattended restart): ikabot itself starts a task as often as it is asked. The answer must be
read *right before* anything is typed or started, from a fresh read of ikabot's data: a check
made when a confirmation was shown says nothing about the minutes between then and the press.

The copies an owner saw when confirming (`acknowledged`) do not stop it again: a confirmation
that warned "already runs (pid 4764)" and was pressed anyway was the owner's choice. A copy
that appeared since does. An unattended restart acknowledges nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from telebot.i18n import _
from telebot.tasks.model import AccountKey, Task


def identity_of(task: Task) -> str:
    """'<pid>.<start ticks>' (the entry's date when telebot has no ticks): a pid alone may
    have been handed to another process since."""
    return f"{task.pid}.{task.start_ticks if task.start_ticks is not None else int(task.started)}"


def twins(tasks: Iterable[Task], action: str, account: AccountKey) -> list[Task]:
    """The live copies of `action` on `account` (the same player, whichever e-mail)."""
    return [
        t
        for t in tasks
        if t.state == "running"
        and t.alive
        and t.action == action
        and t.account.player == account.player
    ]


@dataclass(frozen=True)
class Refusal:
    """Why a start must not go ahead: the copies that run and were not acknowledged."""

    action: str
    account: AccountKey
    pids: tuple[int, ...]

    def line(self) -> str:
        """One line for the chat (plain text, no markup)."""
        pids = ", ".join(str(p) for p in self.pids)
        return _(
            "{action} already runs on {account} (pid {pids}), and it did not when this "
            "was confirmed"
        ).format(action=self.action, account=self.account.compact, pids=pids)


def guard(
    tasks: Iterable[Task], action: str, account: AccountKey, acknowledged: Iterable[str] = ()
) -> Refusal | None:
    """None when `action` may be started on `account` now; else why not. `tasks`: a fresh
    read; `acknowledged`: the `identity_of` the copies shown when it was confirmed."""
    seen = frozenset(acknowledged)
    new = [t for t in twins(tasks, action, account) if identity_of(t) not in seen]
    if not new:
        return None
    return Refusal(action, account, tuple(t.pid for t in new))
