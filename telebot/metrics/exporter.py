"""Serving the metrics: `/metrics` on TELEBOT_METRICS_ADDR, the textfile on TELEBOT_METRICS_FILE.

prometheus-client's own HTTP server answers scrapes on a thread of its own, so a scrape never
waits for the event loop and the event loop never waits for a scrape. Each scan (`scanned`)
takes the task views' figures on the event loop (the facts are the loop's: a view may learn an
end there), builds the families in a worker thread, then writes the textfile there too, in
node_exporter's textfile collector's way (`write_to_textfile`: a temporary file beside it, then
an atomic rename), so node_exporter never reads half a file.

The hooks (`ended`, `delivered`) are told by the alerter: an end as telebot decided it (the
alerts' word), and when Telegram accepted the alert about it; the time between the death (the
watcher's moment, the one the end is recorded with) and that answer is the alert latency
histogram, what `bench/bench_alerts.py` measures from outside.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    disable_created_metrics,
    start_http_server,
    write_to_textfile,
)

from telebot import __version__
from telebot.alerts.ending import of_end_key
from telebot.config import Settings
from telebot.errors import ConfigError
from telebot.i18n import _
from telebot.metrics.collector import TelebotCollector
from telebot.metrics.snapshot import ScanFigures, scan_figures
from telebot.state import OutboxItem
from telebot.tasks.model import Task

log = logging.getLogger(__name__)

DEATHS_REMEMBERED = 1000  # ends whose alert is still on its way, at most


def host_of(settings: Settings) -> str:
    """The `host` label: TELEBOT_HOST_LABEL, else the short host name."""
    return settings.host_label or socket.gethostname().split(".")[0] or "telebot"


class MetricsExporter:
    """This machine's metrics: the registry, its HTTP server, its textfile."""

    def __init__(
        self,
        settings: Settings,
        heartbeat: Callable[[], float | None] = lambda: None,
        *,
        host: str | None = None,
    ) -> None:
        self.addr, self.file = settings.metrics_addr, settings.metrics_file
        disable_created_metrics()  # no `_created` series: a histogram's start is no news
        self.collector = TelebotCollector(host or host_of(settings), __version__, heartbeat)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._deaths: OrderedDict[str, float] = OrderedDict()  # outbox key → the death's time
        # an end's alert Telegram took before the end was told (the send runs beside the
        # end's commit, the telling after it): outbox key → when Telegram took it
        self._took: OrderedDict[str, float] = OrderedDict()
        self._file_failed: str | None = None

    @property
    def port(self) -> int | None:
        """The port /metrics is served on (the one bound, when the address asked for 0)."""
        return None if self._server is None else int(self._server.server_port)

    def start(self) -> None:
        """Listen on TELEBOT_METRICS_ADDR; an address that cannot be had is the owner's to fix."""
        if self.addr is None:
            return
        host, port = self.addr
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as e:
            raise ConfigError(
                _(
                    "TELEBOT_METRICS_ADDR={addr}: cannot listen there ({why}); "
                    "choose a free port, or an address of this machine"
                ).format(addr=f"{host}:{port}", why=e.strerror or e)
            ) from None
        log.info("Prometheus metrics at http://%s:%d/metrics", host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---- each scan

    async def scanned(self, tasks: Iterable[Task], waiting: int, gave_up: int = 0) -> None:
        """A scan's figures published (and written to the textfile)."""
        scan = scan_figures(tasks, self.collector.host, time.time())
        await asyncio.to_thread(self._publish, scan, waiting, gave_up)

    def _publish(self, scan: ScanFigures, waiting: int, gave_up: int) -> None:
        self.collector.publish(scan, waiting, gave_up)
        if self.file is not None:
            self.write_file(self.file)

    def write_file(self, path: Path) -> None:
        """The exposition for node_exporter's textfile collector, replaced atomically; a
        failure is said once per change (a full disk must not fill the log too)."""
        try:
            write_to_textfile(str(path), self.registry)
        except OSError as e:
            why = e.strerror or str(e)
            if self._file_failed != why:
                log.warning(
                    "cannot write TELEBOT_METRICS_FILE %s (%s); trying again every scan", path, why
                )
            self._file_failed = why
            return
        if self._file_failed is not None:
            log.info("TELEBOT_METRICS_FILE %s written again", path)
        self._file_failed = None

    # ---- the alerter's hooks

    def ended(self, action: str, how: str, key: str, at: float, offline: bool) -> None:
        """A task ended (`key`: its alert's outbox key); an end found at start-up that came
        while telebot was not running counts, but its alert's delay is no latency."""
        self.collector.count_end(action, how)
        took = self._took.pop(key, None)
        if offline:
            return
        if took is not None:
            self.collector.observe_latency(took - at)
        else:
            _remember(self._deaths, key, at)

    def delivered(self, item: OutboxItem, at: float) -> None:
        """Telegram accepted an outbox item: an end's first message closes its latency,
        whichever of the two hooks is told first."""
        died = self._deaths.pop(item.dedup_key, None)
        if died is not None:
            self.collector.observe_latency(at - died)
        elif of_end_key(item.dedup_key) is not None:
            _remember(self._took, item.dedup_key, at)


def _remember(seen: OrderedDict[str, float], key: str, at: float) -> None:
    """`key` kept with its time, the oldest forgotten beyond DEATHS_REMEMBERED."""
    seen[key] = at
    while len(seen) > DEATHS_REMEMBERED:
        seen.popitem(last=False)
