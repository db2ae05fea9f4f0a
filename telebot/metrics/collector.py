"""The Collector a scrape reads: the last scan's figures, prepared when the scan was made.

A scrape runs on prometheus-client's HTTP thread, not on the event loop, and must cost little
at 10,000 tasks: so the per-task families are built once per scan (`publish`, off the event
loop) and a scrape only formats them. What changes between scans is small and read live: the
ends counted so far, the alert latency histogram, the heartbeat. Each of these is replaced
whole (a new dict, a new tuple), never changed in place, so the HTTP thread always reads a
consistent value without a lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from telebot.metrics.snapshot import TASK_LABELS, ScanFigures
from telebot.tasks.facts import HOWS

# death → Telegram accepted: a few ms on a healthy machine, minutes while the network is down
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
)


@dataclass(frozen=True)
class Published:
    """The families of one scan, and the alerts waiting then."""

    families: tuple[Metric, ...] = ()
    waiting: int = 0
    gave_up: int = 0  # kept task chains telebot gave up restarting (♻️)
    actions: frozenset[str] = frozenset()  # the actions seen: their ends are 0 until one


def scan_families(scan: ScanFigures) -> tuple[Metric, ...]:
    """The per-task and per-state families of one scan (a worker thread builds them)."""
    tasks = GaugeMetricFamily(
        "ikabot_tasks", "ikabot tasks in ikabot's list, by state", labels=("host", "state")
    )
    for state, count in scan.by_state:
        tasks.add_metric((scan.host, state), count)
    up = GaugeMetricFamily(
        "ikabot_task_up",
        "1 while the task's process runs, 0 when it ended "
        "badly (failed, killed, died); none once finished or stopped",
        labels=TASK_LABELS,
    )
    ratio = GaugeMetricFamily(
        "ikabot_task_progress_ratio",
        "the task's progress, done/total, as /status draws it",
        labels=TASK_LABELS,
    )
    for t in scan.tasks:
        if t.up is not None:
            up.add_metric(t.labels, t.up)
        if t.ratio is not None:
            ratio.add_metric(t.labels, t.ratio)
    return (tasks, up, ratio)


class TelebotCollector(Collector):
    """This machine's metrics (docs/contract.md section 2c), for one CollectorRegistry."""

    def __init__(
        self, host: str, version: str, heartbeat: Callable[[], float | None] = lambda: None
    ) -> None:
        self.host, self.version, self._heartbeat = host, version, heartbeat
        self._published = Published()
        self._ends: dict[tuple[str, str], int] = {}
        self._latency = Histogram(
            "telebot_alert_seconds",
            "a task's death to its alert accepted by Telegram",
            ("host",),
            registry=None,
            buckets=LATENCY_BUCKETS,
        )
        self._host_latency = self._latency.labels(self.host)

    def publish(self, scan: ScanFigures, waiting: int, gave_up: int = 0) -> None:
        """A scan's figures, from now on what a scrape reads."""
        self._published = Published(
            scan_families(scan),
            waiting,
            gave_up,
            frozenset(t.labels[TASK_LABELS.index("action")] for t in scan.tasks),
        )

    def count_end(self, action: str, how: str) -> None:
        key = (action, how)
        self._ends = {**self._ends, key: self._ends.get(key, 0) + 1}

    def observe_latency(self, seconds: float) -> None:
        self._host_latency.observe(max(0.0, seconds))

    def collect(self) -> Iterator[Metric]:
        published = self._published
        yield from published.families
        ends = CounterMetricFamily(
            "ikabot_task_ends",
            "task ends telebot saw, by how they ended (the alerts' words)",
            labels=("host", "action", "how"),
        )
        counted = self._ends
        # every action's every end from the start (0 until one happens): Prometheus'
        # increase() sees a series' first end only when the series existed before it
        for action in sorted(published.actions | {a for a, _ in counted}):
            for how in HOWS:
                ends.add_metric((self.host, action, how), counted.get((action, how), 0))
        yield ends
        yield from self._latency.collect()
        yield self._gauge(
            "telebot_alerts_waiting",
            "alerts held because the chat (or its topic) refuses them",
            published.waiting,
        )
        yield self._gauge(
            "telebot_keepalive_gave_up",
            "kept tasks telebot gave up restarting (TELEBOT_KEEPALIVE_MAX within an hour)",
            published.gave_up,
        )
        beat = self._heartbeat()
        if beat is not None:
            yield self._gauge(
                "telebot_last_heartbeat_timestamp_seconds",
                "when telebot's event loop last beat (unix time)",
                beat,
            )
        info = GaugeMetricFamily(
            "telebot_build_info", "telebot's version", labels=("host", "version")
        )
        info.add_metric((self.host, self.version), 1)
        yield info

    def _gauge(self, name: str, doc: str, value: float) -> Metric:
        family = GaugeMetricFamily(name, doc, labels=("host",))
        family.add_metric((self.host,), value)
        return family
