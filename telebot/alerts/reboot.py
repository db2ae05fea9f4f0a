"""After a reboot: the tasks that ended with the machine are one message, not one alert each.

A Raspberry Pi that lost power comes back with every task gone. telebot notices the new boot
id when it starts (`tracker.gone_at_start`) and writes, in one transaction, each such task's
end (with keep-alive's decision: `end_note` plans the kept ones' restarts, one after another)
and one message: how many ended, which, per account, which restart by themselves (♻️), and a
🔁 *Run all again* button for the others that have recorded answers. What that button replays
is kept in the settings (`reboot_ended`), under the tag the button carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from telebot.alerts.ending import Ending, classify, record_end
from telebot.alerts.texts import Ended, reboot_lines
from telebot.alerts.tracker import Tracker
from telebot.ikabot.log import IkabotLog
from telebot.state import StateDB, Tracked
from telebot.tasks.model import Task

# the 🔁 Run all again button (JSON) for `n` tasks kept under a tag; on the writer thread
RunAll = Callable[[str, int], str | None]


@dataclass
class RebootReport:
    state: StateDB
    chat_id: str
    tracker: Tracker
    ikabot_log: IkabotLog | None = None
    end_note: Callable[[Tracked, str], str | None] | None = None
    run_all: RunAll | None = None

    async def report(
        self, rows: list[Tracked], lasts: dict[int, Task], at: float
    ) -> list[tuple[Tracked, Ending]]:
        """Every row ended at `at`, told in one message; the ends recorded (to tell the
        alerter's listeners). `lasts`: ikabot's entries of the gone tasks, by pid."""
        log = self.ikabot_log
        causes = [
            log.error_cause(r.pid, since=r.started) if log is not None else None for r in rows
        ]
        return await self.state.run(self._write, rows, causes, lasts, at)

    def _write(
        self, rows: list[Tracked], causes: list[str | None], lasts: dict[int, Task], at: float
    ) -> list[tuple[Tracked, Ending]]:
        state = self.state
        done: list[tuple[Tracked, Ending]] = []
        ended: list[Ended] = []
        restarting: list[Tracked] = []
        runnable: list[Tracked] = []
        with state.db.transaction():
            for row, cause in zip(rows, causes, strict=True):
                last = lasts.get(row.pid)
                changed = self.tracker.last_words(row, last, at) if last is not None else None
                if changed is not None:
                    self.tracker.keep_last_words(row, changed, at)
                ending = classify(
                    row, None, cause, stopped=state.control.stop_requested(row.pid, row.start_ticks)
                )
                if not record_end(state.tracking, row, ending, at):
                    continue
                note = (self.end_note(row, ending.how) if self.end_note else None) or ""
                done.append((row, ending))
                ended.append(Ended(row, ending, at, offline=True, note=note))
                kept = state.keepalive.get(row.pid, row.start_ticks)
                if kept is not None and kept.due_at is not None:
                    restarting.append(row)
                elif state.recordings.get(row.pid, row.start_ticks) is not None:
                    runnable.append(row)
            kinds = state.settings.alert_kinds()
            if not any(
                kinds.get("finished" if e.ending.how == "finished" else "died", True) for e in ended
            ):
                return done
            tag = f"{int(at)}"
            state.settings.set_reboot_ended(tag, [(r.pid, r.start_ticks) for r in runnable])
            text = "\n".join(reboot_lines(ended, len(restarting), len(runnable)))
            markup = self.run_all(tag, len(runnable)) if self.run_all and runnable else None
            head = state.outbox.enqueue(f"reboot:{tag}", self.chat_id, "died", text, markup=markup)
            for row in restarting if head is not None else []:
                state.keepalive.point_at(row.pid, row.start_ticks, head or 0)
        return done
