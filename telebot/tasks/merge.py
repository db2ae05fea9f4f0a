"""Merge a snapshot into task views: processList + processDetails + parsed status + liveness.

Structured details win over the status string (the seed's hybrid approach). Details whose
`timestamp` predates the entry's start belong to an earlier process with the same pid and are
ignored: the same reuse problem as liveness, one layer up.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from telebot.ikabot.statuses import MAX_COUNT, parse_status, valid_url
from telebot.processes import liveness
from telebot.tasks.facts import How, looks_finished, progress_from_row, state_of
from telebot.tasks.model import AccountData, Parsed, Progress, Snapshot, Task
from telebot.tasks.progress import runs_progress

if TYPE_CHECKING:
    from telebot.ikabot.store import Store

Probe = Callable[[int, float], tuple[bool, "int | None"]]

# What telebot's database keeps of ikabot's free text (the tracker's rows, the status history,
# written with each change): a task that writes megabytes into its status must not go there
# whole. Far more than any message shows (render clips a status to 1,000 characters); the
# task view itself keeps the whole text for `telebot status --json` (docs/contract.md).
STATUS_KEEP = 4000
ACTION_KEEP = 200  # an action is a function's name


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value <= MAX_COUNT else None


def progress_from_details(details: dict[str, Any]) -> tuple[Progress | None, int | None]:
    """(progress, remaining) from the generic `progress` field or autoPirate's `missions`.

    `missions` (the seed's autoPirate shape) counts `completed` runs; while fewer than the
    total are done, the next one is under way, as ikabot's own `N more runs` counts it."""
    p = details.get("progress")
    if isinstance(p, dict):
        done, total = _int(p.get("done")), _int(p.get("total"))
        given = p.get("unit")
        unit = given if isinstance(given, str) else ""
        if done is not None and total and done <= total:
            return Progress(done, total, unit[:40]), total - done
    m = details.get("missions")
    if isinstance(m, dict):
        total, done, left = _int(m.get("total")), _int(m.get("completed")), _int(m.get("remaining"))
        if total and done is None and left is not None and left <= total:
            done = total - left
        if total and done is not None and done <= total:
            return Progress(done, total, "runs", done + 1 if done < total else None), total - done
        if left is not None:
            return None, left
    return None, None


def urls_from_details(details: dict[str, Any]) -> list[str]:
    urls = details.get("urls")
    if isinstance(urls, list):
        good = [u for u in urls if isinstance(u, str) and valid_url(u)]
        if good:
            return list(dict.fromkeys(good))
    port = _int(details.get("port"))
    if port and 0 < port < 65536:
        out = [f"http://127.0.0.1:{port}"]
        ip = details.get("local_ip")
        if isinstance(ip, str) and ip and valid_url(f"http://{ip}:{port}"):
            out.append(f"http://{ip}:{port}")
        return out
    return []


def _details_for(entry: dict[str, Any], details: dict[str, dict[str, Any]]) -> dict[str, Any]:
    d = details.get(str(entry["pid"]))
    if not isinstance(d, dict):
        return {}
    ts = d.get("timestamp")
    started = entry["date"]
    if isinstance(ts, (int, float)) and started and ts < started - liveness.CREATE_TIME_TOLERANCE:
        return {}  # written by an earlier process that had the same pid
    return d


def build_task(
    account: Any, entry: dict[str, Any], details: dict[str, Any], alive: bool, ticks: int | None
) -> Task:
    parsed = parse_status(entry["action"], entry["status"])
    progress, remaining = progress_from_details(details)
    if progress is None:
        progress = parsed.progress
    if remaining is None:
        remaining = parsed.remaining
        if remaining is None and progress is not None:
            remaining = progress.total - progress.done
    urls = urls_from_details(details) or list(parsed.urls)
    state = state_of(alive, None, looks_finished(entry["action"], progress, remaining, details))
    return Task(
        pid=entry["pid"],
        action=entry["action"],
        account=account,
        status=entry["status"],
        started=entry["date"],
        details=details,
        progress=progress,
        remaining=remaining,
        urls=urls,
        alive=alive,
        state=state,
        parsed=parsed if isinstance(parsed, Parsed) else Parsed(),
        start_ticks=ticks if alive else None,
    )


def _in_account_order(t: Task) -> tuple[float, int]:
    return (t.started, t.pid)


def _account_order(a: AccountData) -> tuple[str, str, str, str]:
    k = a.key
    return (k.email or "", k.username, k.world, k.server)


@dataclass
class _AccountViews:
    """One account's views from the last read: its rows (the store shares them while the file
    is unchanged), the views of gone processes in order, and the entries to look at again."""

    rows: list[dict[str, Any]]
    details: dict[str, dict[str, Any]]
    gone: list[Task]
    again: list[tuple[dict[str, Any], dict[str, Any]]]  # (entry, its details)
    keyed: dict[tuple[Any, ...], tuple[dict[str, Any], Task]]  # gone views by entry key


class DeadTasks:
    """Task views of entries whose process is gone, kept from one read to the next.

    Months of ikabot leave thousands of entries of long-gone processes; such an entry cannot
    come back to life (a new process with its pid started after the entry's date, so it is
    never taken for the task), so while the entry and its details are unchanged its view is
    reused instead of probed and built again. Entries without a date, and every live one, are
    looked at on each read. While an account's rows are the very ones of the last read (its
    file did not change), its gone views are reused whole, already in order.
    """

    def __init__(self) -> None:
        self._views: dict[tuple[Any, ...], tuple[dict[str, Any], Task]] = {}
        self._accounts: dict[tuple[str, str, str, str], _AccountViews] = {}

    def get(self, key: tuple[Any, ...], details: dict[str, Any]) -> Task | None:
        hit = self._views.get(key)
        if hit is None or not (hit[0] is details or (not hit[0] and not details)):
            return None
        return hit[1]

    def account(self, account: AccountData) -> _AccountViews | None:
        hit = self._accounts.get(_account_order(account))
        if (
            hit is None
            or hit.rows is not account.process_list
            or hit.details is not account.process_details
        ):
            return None
        return hit

    def keep(
        self,
        views: dict[tuple[Any, ...], tuple[dict[str, Any], Task]],
        accounts: dict[tuple[str, str, str, str], _AccountViews],
    ) -> None:
        # only what this read saw: the cache never outgrows the data
        self._views, self._accounts = views, accounts


def _account_tasks(
    account: AccountData,
    probe: Probe,
    dead: DeadTasks | None,
    seen_dead: dict[tuple[Any, ...], tuple[dict[str, Any], Task]],
) -> tuple[list[Task], _AccountViews]:
    """Every view of one account, in order, and what a later read may reuse of them."""
    a = account.key
    who = f"{a.email}\0{a.username}\0{a.world}\0{a.server}"  # cheap to hash, unlike a key
    latest: dict[int, dict[str, Any]] = {}
    for entry in account.process_list:
        prev = latest.get(entry["pid"])
        if prev is None or entry["date"] >= prev["date"]:
            latest[entry["pid"]] = entry
    gone: list[Task] = []
    again: list[tuple[dict[str, Any], dict[str, Any]]] = []
    keyed: dict[tuple[Any, ...], tuple[dict[str, Any], Task]] = {}
    views: list[Task] = []
    for entry in latest.values():
        details = _details_for(entry, account.process_details)
        key = (who, entry["pid"], entry["date"], entry["action"], entry["status"])
        task = dead.get(key, details) if dead is not None and entry["date"] > 0 else None
        if task is None:
            alive, ticks = probe(entry["pid"], entry["date"])
            task = build_task(account.key, entry, details, alive, ticks)
        if not task.alive and entry["date"] > 0:
            keyed[key] = (details, task)
            gone.append(task)
        else:
            again.append((entry, details))
        views.append(task)
    views.sort(key=_in_account_order)
    gone.sort(key=_in_account_order)
    seen_dead.update(keyed)
    return views, _AccountViews(account.process_list, account.process_details, gone, again, keyed)


def build_tasks(
    snapshot: Snapshot, *, probe: Probe = liveness.probe, dead: DeadTasks | None = None
) -> list[Task]:
    """Every task of every account, ordered by account, then start."""
    tasks: list[Task] = []
    seen_dead: dict[tuple[Any, ...], tuple[dict[str, Any], Task]] = {}
    kept: dict[tuple[str, str, str, str], _AccountViews] = {}
    for account in sorted(snapshot.accounts, key=_account_order):
        hit = dead.account(account) if dead is not None else None
        if hit is None:
            views, hit = _account_tasks(account, probe, dead, seen_dead)
        else:  # the file did not change: only the live and undated entries are looked at
            views = list(hit.gone)
            for entry, details in hit.again:
                alive, ticks = probe(entry["pid"], entry["date"])
                bisect.insort(
                    views,
                    build_task(account.key, entry, details, alive, ticks),
                    key=_in_account_order,
                )
            seen_dead.update(hit.keyed)
        kept[_account_order(account)] = hit
        tasks.extend(views)
    if dead is not None:
        dead.keep(seen_dead, kept)
    return _one_entry_per_process(tasks)


def _one_entry_per_process(tasks: list[Task]) -> list[Task]:
    """A live process is one task: when its pid is in several accounts' processLists, the
    entry whose date the process's start time matched wins over an undated one (whose date
    proves nothing), and the others are views of entries whose process is gone. Without this
    one process would be tracked, its statuses recorded and its 🛑 offered once per entry,
    and each entry would show the other's figures."""
    owner: dict[tuple[int, int | None], Task] = {}
    for t in tasks:
        if t.alive:
            best = owner.get((t.pid, t.start_ticks))
            if best is None or (best.started <= 0 < t.started):
                owner[(t.pid, t.start_ticks)] = t
    if len(owner) == sum(t.alive for t in tasks):
        return tasks
    return [
        t
        if not t.alive or owner[(t.pid, t.start_ticks)] is t
        else build_task(t.account, _entry_of(t), t.details, False, None)
        for t in tasks
    ]


def _entry_of(task: Task) -> dict[str, Any]:
    return {"pid": task.pid, "action": task.action, "status": task.status, "date": task.started}


def view_of(snapshot: Snapshot, pid: int, started: float) -> Task | None:
    """The view of one entry whose process is known to be gone (not probed), or None. One
    look-up per account (`AccountData.by_pid`, built with the rows): a death at 10,000
    tracked entries looks at its own pid's entries only."""
    for account in snapshot.accounts:
        for entry in account.by_pid.get(pid, ()):
            if abs(entry["date"] - started) < 1:
                details = _details_for(entry, account.process_details)
                return build_task(account.key, entry, details, False, None)
    return None


def collect(store: Store) -> list[Task]:
    return build_tasks(store.read())


class Memory(Protocol):
    """What `annotate` asks of telebot's memory (its state database); rows come back as plain
    values with the fields of `state.Tracked`, so the task model does not depend on it."""

    def rows_of(self, pids: Iterable[int]) -> dict[int, list[Any]]: ...

    def histories(
        self, keys: Iterable[tuple[int, int]], limit: int = ...
    ) -> dict[tuple[int, int], list[tuple[float, str]]]: ...

    def first_seen(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], float]: ...


# A scan's `annotate` is handed to the writer thread in parts (`annotate_parts`), so a death's
# step (`EndWriter.write`, on the same thread) waits for one part, never for the whole: each
# part is a set-based query or two, whatever the number of tasks.
PART_LIVE = 50  # live tasks whose history a part reads (one `IN (…)` each: history, rows)
PART_GONE = 500  # gone views a part looks up (one `IN (…)`, `TrackingStore.rows_of`'s size)


def learn_end(task: Task, row: Any) -> None:
    """A task telebot saw end: how it ended, and the figure it had when it ended (the
    runs telebot counted while it ran, which ikabot's data alone no longer says)."""
    progress = progress_from_row(row.progress) if task.progress is None else None
    task.learn(
        ended=row.ended_json(),
        state="finished" if row.end_kind == How.FINISHED else "dead",
        progress=progress,
        remaining=row.remaining if task.remaining is None else None,
    )


def learn_runs(task: Task, history: list[tuple[float, str]], first_seen: float | None) -> None:
    """`run k of N` for an autoPirate telebot saw from its start (`progress.runs_progress`)."""
    task.history = history
    if history and history[-1][1] != task.status[:STATUS_KEEP]:  # as the database keeps it
        task.history.append((time.time(), task.status))  # newer than the last scan
    if task.action == "autoPirate" and task.progress is None and task.history:
        runs = runs_progress(task.history, task.started, first_seen)
        if runs is not None:
            task.learn(progress=runs)


def _asks_history(task: Task) -> bool:
    return (
        task.alive
        and task.start_ticks is not None
        and (task.action == "autoPirate" or task.progress is None)
    )


def annotate_parts(tasks: list[Task]) -> list[list[Task]]:
    """The tasks `annotate` looks up, in parts of a bounded size (`PART_GONE`, `PART_LIVE`)
    for `annotate_part`: the gone views not settled yet, then the live tasks that need their
    history. Each task's outcome depends on its own rows alone, so the parts together do what
    one `annotate` does."""
    gone = [t for t in tasks if not t.alive and not t.settled]
    live = [t for t in tasks if _asks_history(t)]
    return [gone[i : i + PART_GONE] for i in range(0, len(gone), PART_GONE)] + [
        live[i : i + PART_LIVE] for i in range(0, len(live), PART_LIVE)
    ]


def annotate(tasks: list[Task], state: Memory) -> None:
    """What telebot itself remembers: how a task it saw end ended, and `run k of N`. All of
    it at once (`telebot status`); the bot hands `annotate_parts` over one by one."""
    for part in annotate_parts(tasks):
        annotate_part(part, state)


def annotate_part(tasks: list[Task], state: Memory) -> None:
    """`annotate` for these tasks, on the state's writer thread: it touches only the rows it
    needs, through indexes, a few statements whatever the number of tasks: the rows of the
    pids of gone entries not settled yet (one `IN`), the histories of live autoPirates and of
    live tasks without structured progress (one `IN`), and when telebot first saw those whose
    runs are counted (one `IN`). A gone view is settled once its end is learned or no row of
    its pid is still open (rows are opened for live tasks only, so none can end for it
    later): the views a read reuses (`DeadTasks`: months of long-gone entries) then cost a
    scan nothing here. One that is not (read gone before its end was written) is looked up
    again at the next scan.
    """
    gone = [t for t in tasks if not t.alive and not t.settled]
    rows = state.rows_of(t.pid for t in gone) if gone else {}
    for task in gone:
        mine = rows.get(task.pid, ())
        a = task.account  # the row of this account's entry: the same pid may be another's
        row = next(
            (
                r
                for r in mine
                if r.ended_at is not None and abs(r.started - task.started) < 1 and r.account == a
            ),
            None,
        )
        if row is not None:
            learn_end(task, row)
        task.settled = row is not None or all(r.ended_at is not None for r in mine)
    live = [(t, (t.pid, int(t.start_ticks or 0))) for t in tasks if _asks_history(t)]
    if not live:
        return
    histories = state.histories((key for _, key in live), limit=50)
    counted = {  # whose `run k of N` needs the row's first sight
        key
        for t, key in live
        if t.action == "autoPirate" and t.progress is None and histories.get(key)
    }
    seen = state.first_seen(counted) if counted else {}
    for task, key in live:
        learn_runs(task, histories.get(key, []), seen.get(key) if key in counted else None)
