"""A task that runs twice: two live copies of one action on one account, where a second copy
does harm.

ikabot's menu starts a task as often as it is asked, and a player who lost track (a reconnect,
a second terminal, a restarted menu) easily starts one again. For most actions a second copy
is harmless or even normal; for the ones in `HARM` both copies act on the same game state.
The action names are ikabot 7.7.2's menu functions (`command_line.menu`'s `menu_actions`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from telebot.i18n import N_, _
from telebot.tasks.model import AccountKey, Task

# A second copy on the same account does harm: what both copies would do, said short.
HARM: dict[str, str] = {
    "autoBarbarians": N_("both will attack"),  # two fleets sent at the same barbarian village
    "alertLowWine": N_("both will send wine"),  # each tops up the same cities (auto transfer)
    "consolidateResources": N_("both will ship the same resources"),  # same sources and target
    "research": N_("both will buy the same experiments"),  # automatic mode only, see `_counts`
    "donationBot": N_("both will donate"),  # every donation twice
    "webServer": N_("both want the same port"),  # the second one's URL is not the first one's
    "buyResources": N_("both will buy"),  # the target amount bought twice over
    "sellResources": N_("both will sell"),  # the amount sold twice over
    "trainArmy": N_("both will train"),  # the units trained (and paid) twice
}
# the same, said of three copies or more
HARM_ALL: dict[str, str] = {
    "autoBarbarians": N_("all will attack"),
    "alertLowWine": N_("all will send wine"),
    "consolidateResources": N_("all will ship the same resources"),
    "research": N_("all will buy the same experiments"),
    "donationBot": N_("all will donate"),
    "webServer": N_("all want the same port"),
    "buyResources": N_("all will buy"),
    "sellResources": N_("all will sell"),
    "trainArmy": N_("all will train"),
}
# Normal in parallel, so never warned: autoPirate (one per city with a fortress: ikabot's own
# menu offers to run it for several cities), constructionList (one queue per city), sendResources
# and distributeResources (each copy is one route, finished when shipped), activateMiracle /
# activateShrine (one per wonder or god), alertAttacks (only reads and notifies), loginDaily,
# searchForIslandSpaces, dumpWorld, tavernManager, UpgradeUnits, research in its counted mode
# (each copy does its own number of experiments), and custom modules (`lcm_…`), unknown to us.

# research's automatic mode writes these; its counted mode says `…, left = N time (s)`
_AUTOMATIC = re.compile(
    r"^(?:Experiment done in .+ @[\d_-]+|Experiment skipped in .+"
    r"|(?:Done|No crystal|Cooldown): .+ @[\d_-]+|No experiments possible"
    r" @[\d_-]+)$"
)


def _counts(task: Task) -> bool:
    if task.action not in HARM or task.state != "running":
        return False
    if task.action == "research":
        return bool(_AUTOMATIC.match(task.status.strip()))
    return True


@dataclass(frozen=True)
class Double:
    """Two (or more) live copies of one harmful action on one account."""

    action: str
    account: AccountKey
    tasks: tuple[Task, ...]  # oldest first

    @property
    def harm(self) -> str:
        """What two copies would do, in the language ('both will attack')."""
        return _(HARM[self.action])

    @property
    def harm_said(self) -> str:
        """What these copies would do: 'both will attack', 'all will attack' for three+."""
        return self.harm if len(self.tasks) == 2 else _(HARM_ALL[self.action])

    @property
    def key(self) -> str:
        """The same copies, the same key: each pair is told once (outbox dedup key)."""
        a = self.account
        who = ":".join(f"{t.pid}.{t.start_ticks or int(t.started)}" for t in self.tasks)
        return f"twice:{self.action}:{a.email}:{a.username}:{a.world}:{a.server}:{who}"


def doubles(tasks: Iterable[Task]) -> list[Double]:
    """Every action that runs more than once on one account, where that does harm."""
    groups: dict[tuple[AccountKey, str], list[Task]] = {}
    for t in tasks:
        if _counts(t):
            groups.setdefault((t.account, t.action), []).append(t)
    return [
        Double(action, account, tuple(sorted(copies, key=lambda t: (t.started, t.pid))))
        for (account, action), copies in groups.items()
        if len(copies) > 1
    ]


def doubled_pids(tasks: Sequence[Task]) -> dict[int, Double]:
    """pid → the double it belongs to (for the mark in /status)."""
    return {t.pid: d for d in doubles(tasks) for t in d.tasks}
