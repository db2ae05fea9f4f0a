"""The warning for an action that runs twice on one account (`telebot.tasks.doubled`): one message
per set of copies, through the durable outbox (its dedup key outlives a restart), with the
/kill flow's 🛑 button for each copy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from telebot.alerts.texts import twice_text
from telebot.state import StateDB
from telebot.tasks.doubled import doubles
from telebot.tasks.model import Task

StopMarkup = Callable[[list[Task]], "str | None"]  # the 🛑 buttons as JSON, or None


@dataclass
class TwiceWarnings:
    state: StateDB
    chat_id: str
    stop_markup: StopMarkup | None = None
    _told: set[str] = field(default_factory=set)  # this run's; the outbox keeps them for good

    def observe(self, tasks: list[Task]) -> bool:
        """On the state's writer thread: write the warnings not written yet; True when one
        is new in the outbox (the deliverer is then woken)."""
        new = False
        for double in doubles(tasks):
            if double.key in self._told:
                continue
            self._told.add(double.key)
            markup = self.stop_markup(list(double.tasks)) if self.stop_markup else None
            new |= (
                self.state.outbox.enqueue(
                    double.key,
                    self.chat_id,
                    "twice",
                    twice_text(double),
                    not_before=self.state.settings.mute_until(),
                    markup=markup,
                )
                is not None
            )
        return new
