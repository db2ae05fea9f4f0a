"""Alerts that are instant, exact and never lost.

Flow: the watcher sees a pid die → a `ProcessExited` enters the Application's update queue
(so process events and Telegram updates share one dispatcher) → `Alerter.on_exit` marks the
tracked task ended in the database (once) and puts it in the storm batch → the batch is
flushed after a short quiet gap (capped at `storm_cap`), with one fresh read of ikabot's data
to tell *finished* from *died* by the task's last progress → the alert text is written to the
outbox → the deliverer sends pending items in order and marks each sent only after Telegram
answered ok, retrying network errors, 5xx and 429 (after `retry_after`) with backoff.

The quiet gap: when ikabot is killed its tasks die within a few milliseconds of each other, so
a gap of ~10 ms gathers a storm into one message while a lone death still goes out at once;
once a second death joined, the gap widens a little (a loaded machine delivers the rest of a
storm less evenly), and the whole storm waits at most `storm_cap`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from telebot import render
from telebot.bot.poller import retry_after_seconds
from telebot.logsafe import redact
from telebot.model import Progress, Task
from telebot.processes import liveness
from telebot.processes.watcher import ProcessWatcher
from telebot.state import StateDB, Tracked

log = logging.getLogger(__name__)

URGENT = {"died", "offline"}
STORM_GAP = 0.01  # quiet time after a death before its alert goes out
STORM_GAP_MORE = 0.05  # once two died together, wait a little longer for the rest
STORM_CAP = 2.0  # a storm's alert waits at most this long for more deaths
KEEP_DAYS = 30  # ended tasks and sent alerts are forgotten after this
SEEN_ALIVE_EVERY = 60.0  # how often an unchanged task's "last seen alive" is written
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


@dataclass(frozen=True)
class ProcessExited:
    """An update of telebot's own: a watched task process is gone."""

    pid: int
    create_time: float
    at: float


@dataclass
class Ended:
    row: Tracked
    kind: str  # died | finished | offline
    at: float
    task: Task | None = None


def _progress_of(row: Tracked, task: Task | None) -> Progress | None:
    if task is not None and task.progress is not None:
        return task.progress
    p = row.progress
    if isinstance(p, dict) and isinstance(p.get("done"), int) and isinstance(p.get("total"), int):
        return Progress(p["done"], p["total"], str(p.get("unit") or ""))
    return None


def where(row: Tracked, task: Task | None) -> str:
    """'Mission 5/10', '3 runs left', 'Athens · Academy → level 4', or ''."""
    progress = _progress_of(row, task)
    if progress is not None:
        unit = progress.unit.rstrip("s").capitalize() if progress.unit else "Step"
        return f"{unit} {progress.done}/{progress.total}"
    remaining = task.remaining if task is not None else row.remaining
    if remaining is not None:
        return f"{remaining} runs left"
    if task is not None and task.parsed.city:
        b = f" · {task.parsed.building}" if task.parsed.building else ""
        lvl = f" → level {task.parsed.level}" if task.parsed.level is not None else ""
        return f"{task.parsed.city}{b}{lvl}"
    return ""


def classify(row: Tracked, task: Task | None) -> str:
    progress = _progress_of(row, task)
    remaining = task.remaining if task is not None else row.remaining
    if (progress is not None and progress.complete) or remaining == 0:
        return "finished"
    return "died"


def _account(row: Tracked) -> str:
    return html.escape(f"{row.username} (s{row.world}-{row.server})")


def alert_lines(e: Ended) -> list[str]:
    """The full text of one ended task (also used for each entry of a storm)."""
    row, task = e.row, e.task
    status = task.status if task is not None else row.status
    urls = (task.urls if task is not None and task.urls else row.urls)
    ran = render.fmt_age(e.at - row.started)
    at = where(row, task)
    action = html.escape(row.action)
    if e.kind == "finished":
        head = f"✅ <b>{action} finished</b>" + (f": {html.escape(at)}" if at else "")
    elif e.kind == "offline":
        seen = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.last_seen_alive))
        head = (f"💀 <b>{action} died while telebot was offline</b>"
                + (f" at {html.escape(at)}" if at else "")
                + f"; last seen alive at {seen}")
    else:
        head = f"💀 <b>{action} died</b>" + (f" at {html.escape(at)}" if at else "")
    lines = [head, f"account {_account(row)} · pid <code>{row.pid}</code> · ran {ran}"]
    if status:
        lines.append(f"last status: <i>{html.escape(render.clip(status, 200))}</i>")
    if row.action == "webServer" and e.kind != "finished":
        for url in urls:
            lines.append(f"🌐 {html.escape(url)} no longer works")
    return lines


def storm_lines(ended: list[Ended]) -> list[str]:
    """Many deaths at once: one line each, under one heading."""
    lines = [f"💀 <b>{len(ended)} ikabot tasks stopped at once</b>"]
    for e in ended:
        at = where(e.row, e.task)
        kind = "finished" if e.kind == "finished" else "died"
        url = ""
        if e.row.action == "webServer" and kind == "died":
            urls = e.task.urls if e.task is not None and e.task.urls else e.row.urls
            url = f" · {html.escape(urls[0])} no longer works" if urls else ""
        lines.append(f"• {html.escape(e.row.action)} <code>{e.row.pid}</code> {kind} · "
                     f"{_account(e.row)}" + (f" · at {html.escape(at)}" if at else "")
                     + f" · ran {render.fmt_age(e.at - e.row.started)}{url}")
    return lines


def stalled_text(row: Tracked, now: float) -> str:
    return "\n".join([
        f"⏸ <b>{html.escape(row.action)} stalled</b>: no change for "
        f"{render.fmt_age(now - row.last_change)}",
        f"account {_account(row)} · pid <code>{row.pid}</code>",
        f"status: <i>{html.escape(render.clip(row.status, 200))}</i>",
    ])


Send = Callable[[str, str], Awaitable[Any]]


@dataclass
class Alerter:
    state: StateDB
    chat_id: str
    bot: Any = None
    send: Send | None = None
    stall_minutes: float = 0.0
    fallback_interval: float = 15.0
    storm_gap: float = field(default_factory=lambda: STORM_GAP)
    storm_gap_more: float = field(default_factory=lambda: STORM_GAP_MORE)
    storm_cap: float = field(default_factory=lambda: STORM_CAP)
    read_tasks: Callable[[], Awaitable[list[Task]]] | None = None
    exits: Callable[[ProcessExited], None] | None = None
    watcher: ProcessWatcher = field(init=False)
    _batch: list[Ended] = field(default_factory=list)
    _batch_started: float = 0.0
    _flush_handle: asyncio.TimerHandle | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _deliverer: asyncio.Task[None] | None = None
    _flushing: set[asyncio.Task[None]] = field(default_factory=set)
    _reading: asyncio.Future[list[Task]] | None = None
    _stopping: bool = False
    _pruned: float = 0.0

    def __post_init__(self) -> None:
        self.watcher = ProcessWatcher(self._exited, fallback_interval=self.fallback_interval)
        if self.send is None:
            self.send = self._bot_send

    async def _bot_send(self, chat_id: str, text: str) -> None:
        await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                    disable_web_page_preview=True)

    # ---- tracking

    def _exited(self, pid: int, create_time: float) -> None:
        event = ProcessExited(pid, create_time, time.time())
        if self.exits is not None:
            self.exits(event)  # through the Application's dispatcher
        else:
            self.on_exit(event)

    def _row(self, task: Task, now: float, prev: Tracked | None) -> Tracked:
        progress = None if task.progress is None else {
            "done": task.progress.done, "total": task.progress.total, "unit": task.progress.unit}
        changed = prev is None or prev.status != task.status or prev.progress != progress
        return Tracked(task.pid, float(task.create_time or 0), task.started, task.account.email,
                       task.account.username, task.account.world, task.account.server,
                       task.action, task.status, progress, task.remaining, list(task.urls),
                       prev.first_seen if prev else now, now,
                       now if changed else prev.last_change,  # type: ignore[union-attr]
                       None if changed else prev.stalled_at,  # type: ignore[union-attr]
                       None, None)

    def observe(self, tasks: list[Task], now: float | None = None) -> None:
        """After each scan: track new live tasks, keep their last state, spot stalls."""
        now = time.time() if now is None else now
        open_rows = {r.key: r for r in self.state.tracked()}
        seen: set[tuple[int, float]] = set()
        with self.state.transaction():
            for task in tasks:
                if not task.alive or task.create_time is None:
                    continue
                key = (task.pid, float(task.create_time))
                seen.add(key)
                prev = open_rows.get(key)
                row = self._row(task, now, prev)
                if prev is None or row.last_change != prev.last_change or \
                        now - prev.last_seen_alive >= SEEN_ALIVE_EVERY:
                    self.state.track(row)  # unchanged tasks are written once a minute
                else:
                    row.last_seen_alive = prev.last_seen_alive
                if prev is None:
                    self.watcher.watch(task.pid, row.create_time)
                self._check_stall(row, now)
        if now - self._pruned >= 3600:  # keep months of running from growing the database
            self.state.prune(now - KEEP_DAYS * 86400)
            self._pruned = now
        for key, row in open_rows.items():  # tracked but gone from the live list
            if key not in seen and key[0] not in self.watcher.watched() and \
                    not liveness.same_process(row.pid, row.create_time):
                self._exited(row.pid, row.create_time)

    def _check_stall(self, row: Tracked, now: float) -> None:
        if not self.stall_minutes or row.stalled_at is not None:
            return
        if now - row.last_change >= self.stall_minutes * 60:
            row.stalled_at = now
            self.state.track(row)
            self._enqueue(f"stalled:{row.pid}:{row.create_time}:{row.last_change}", "stalled",
                          stalled_text(row, now))

    def startup(self, tasks: list[Task]) -> None:
        """Report, once, the tracked tasks that died while telebot was not running."""
        now = time.time()
        for row in self.state.tracked():
            if not liveness.same_process(row.pid, row.create_time) and \
                    self.state.end(row.pid, row.create_time, "offline", now):
                task = next((t for t in tasks if t.pid == row.pid and
                             abs(t.started - row.started) < 1), None)
                kind = "finished" if classify(row, task) == "finished" else "offline"
                self._enqueue(f"{kind}:{row.pid}:{row.create_time}", kind,
                              "\n".join(alert_lines(Ended(row, kind, now, task))))
            else:
                self.watcher.watch(row.pid, row.create_time)
        self.observe(tasks, now)

    # ---- deaths and storms

    def on_exit(self, event: ProcessExited) -> None:
        row = self.state.tracked_one(event.pid, event.create_time)
        if row is None or not self.state.end(row.pid, row.create_time, "exited", event.at):
            return
        if not self._batch:
            self._batch_started = time.monotonic()
        self._batch.append(Ended(row, "died", event.at))
        if self.read_tasks is not None:
            # read ikabot's data during the quiet gap, not after it: the latency budget
            self._reading = asyncio.ensure_future(self.read_tasks())
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        gap = self.storm_gap if len(self._batch) == 1 else max(self.storm_gap,
                                                                self.storm_gap_more)
        delay = min(gap, self._batch_started + self.storm_cap - time.monotonic())
        self._flush_handle = asyncio.get_running_loop().call_later(max(0.0, delay),
                                                                   self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        batch, self._batch = self._batch, []
        reading, self._reading = self._reading, None
        task = asyncio.get_running_loop().create_task(self._flush(batch, reading))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: list[Ended],
                     reading: asyncio.Future[list[Task]] | None = None) -> None:
        tasks: list[Task] = []
        if reading is not None:
            with contextlib.suppress(Exception):  # the last known state will do
                tasks = await reading
        for e in batch:
            e.task = next((t for t in tasks if t.pid == e.row.pid and
                           abs(t.started - e.row.started) < 1), None)
            e.kind = classify(e.row, e.task)
        kinds = self.state.alert_kinds()
        died = [e for e in batch if e.kind == "died" and kinds.get("died", True)]
        done = [e for e in batch if e.kind == "finished" and kinds.get("finished", True)]
        muted = self.state.mute_until() > time.time()
        group, held = (died, done) if muted else (died + done, [])
        if len(group) > 1 and died:
            self._enqueue_group("died", group)
        else:
            held = group + held
        for e in held:
            self._enqueue(f"{e.kind}:{e.row.pid}:{e.row.create_time}", e.kind,
                          "\n".join(alert_lines(e)))

    def _enqueue_group(self, kind: str, ended: list[Ended]) -> None:
        key = "storm:" + ",".join(f"{e.row.pid}:{e.row.create_time}" for e in ended[:50])
        chunks = render.split_message("\n".join(storm_lines(ended)))
        for i, chunk in enumerate(chunks):
            self._enqueue(f"{key}#{i}", kind, chunk)

    def _enqueue(self, dedup_key: str, kind: str, text: str) -> None:
        if kind != "offline" and not self.state.alert_kinds().get(kind, True):
            return
        hold = 0.0 if kind in URGENT else self.state.mute_until()
        self.state.enqueue(dedup_key, self.chat_id, kind, text, not_before=hold)
        self._wake.set()

    def wake(self) -> None:
        """Settings changed (e.g. unmuted): release held alerts, look at the outbox again."""
        if self.state.mute_until() <= time.time():
            self.state.release_held()
        self._wake.set()

    # ---- delivery

    async def start(self) -> None:
        self._stopping = False
        self._deliverer = asyncio.create_task(self._deliver(), name="alert-outbox")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._start_flush()
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
        if self._deliverer is not None:
            # let a send in flight finish and be marked: cancelling it after Telegram took
            # the message would send it again after the restart
            try:
                await asyncio.wait_for(asyncio.shield(self._deliverer), 5)
            except asyncio.TimeoutError:
                self._deliverer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._deliverer
        self.watcher.close()

    async def _deliver(self) -> None:
        backoff = BACKOFF_START
        assert self.send is not None
        while not self._stopping:
            self._wake.clear()
            delay: float | None = None
            for item in self.state.pending():
                try:
                    await self.send(item.chat_id, item.text)
                except RetryAfter as e:
                    delay = retry_after_seconds(e) + 0.05
                    self.state.record_failure(item.id, "429")
                    break
                except (BadRequest, Forbidden, InvalidToken) as e:
                    # permanent: this text or chat will never be accepted; don't block the rest
                    log.error("alert %d dropped: %s", item.id, redact(str(e)))
                    self.state.record_failure(item.id, redact(str(e)), drop=True)
                    continue
                except (TelegramError, OSError) as e:
                    self.state.record_failure(item.id, redact(str(e)))
                    log.warning("alert %d not sent yet (%s); retrying in %.1f s", item.id,
                                redact(str(e)), backoff)
                    delay, backoff = backoff, min(BACKOFF_MAX, backoff * 2)
                    break
                self.state.mark_sent(item.id)
                backoff = BACKOFF_START
            if delay is None:
                held = self.state.next_not_before()
                if held:
                    delay = max(0.05, held - time.time())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)


async def _on_process_exited(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    alerter: Alerter = context.application.bot_data["runtime"].alerter
    assert isinstance(update, ProcessExited)
    alerter.on_exit(update)


def attach(app: Application, alerter: Alerter) -> None:
    """Route process deaths through the Application's update queue, like Telegram updates."""
    rt = app.bot_data["runtime"]
    alerter.read_tasks = rt.tasks
    alerter.exits = app.update_queue.put_nowait
    app.add_handler(TypeHandler(ProcessExited, _on_process_exited), group=-1)
