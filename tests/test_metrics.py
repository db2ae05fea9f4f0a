"""Prometheus metrics (docs/contract.md section 2c): the real bot with TELEBOT_METRICS_ADDR and
TELEBOT_METRICS_FILE, real task processes written into ikabot's data by ikabot's code, the
loopback Bot API; the exposition scraped over HTTP and read from the textfile, and parsed with
prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path

import pytest
from botharness import fast_settings, running_bot
from conftest import ALICE, BOB, CHAT, TOKEN
from prometheus_client.parser import text_string_to_metric_families
from util import DEADLINE

from telebot.config import Settings
from telebot.errors import ConfigError
from telebot.metrics.exporter import MetricsExporter

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition: (name, its labels) → value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    """The value of the one sample of `name` whose labels include `labels` (None: none)."""
    hits = [v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls)]
    assert len(hits) <= 1, f"{name} {labels}: {len(hits)} samples"
    return hits[0] if hits else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=DEADLINE) as r:
        return r.read().decode()


async def until_scraped(port: int, check, timeout: float = DEADLINE) -> Samples:
    """Scrape until `check(samples)` holds (a scan made it so), or fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = samples(await asyncio.to_thread(scrape, port))
        if check(found):
            return found
        assert loop.time() < deadline, "the metrics never showed it"
        await asyncio.sleep(0.05)


async def test_the_metrics_are_the_tasks_figures(ikabot_dir, spawn, api, tmp_path):
    running, killed = spawn(), spawn()
    done = spawn("pass")
    done.wait()
    ikabot_dir.add_pirate(ALICE, running.pid, done=2, total=10)
    ikabot_dir.add_pirate(ALICE, killed.pid, done=4, total=5)
    ikabot_dir.add_pirate(BOB, done.pid, done=3, total=3)  # finished before telebot came
    port, prom = free_port(), tmp_path / "textfile" / "telebot.prom"
    prom.parent.mkdir()
    settings = fast_settings(
        ikabot_dir.path,
        api,
        tmp_path / "s",
        host_label="pi-home",
        metrics_addr=("127.0.0.1", port),
        metrics_file=prom,
    )
    async with running_bot(settings, api) as bot:
        ours = {
            "host": "pi-home",
            "username": "alice",
            "world": "59",
            "server": "en",
            "action": "autoPirate",
        }
        first = await until_scraped(
            port, lambda s: value(s, "ikabot_task_up", pid=str(killed.pid)) == 1
        )
        assert value(first, "ikabot_task_up", pid=str(running.pid), **ours) == 1
        assert value(first, "ikabot_tasks", host="pi-home", state="running") == 2
        assert value(first, "ikabot_tasks", host="pi-home", state="finished") == 1
        # a task that finished its work is not down: no up series, its figure complete
        assert value(first, "ikabot_task_up", pid=str(done.pid)) is None
        assert value(first, "ikabot_task_progress_ratio", pid=str(done.pid)) == 1.0

        # one truth: the ratio is the fraction /status states and draws
        (status,) = await bot.ask("/status")
        assert "run 3 of 10 (2 done)" in status["text"] and "██░░░░░░░░" in status["text"]
        assert value(first, "ikabot_task_progress_ratio", pid=str(running.pid)) == 0.2

        killed.kill()
        killed.wait()
        assert await bot.wait(lambda: any("💀 autoPirate killed" in t for t in bot.texts()))
        # the latency is observed once both the end was told and Telegram's answer read
        after = await until_scraped(
            port,
            lambda s: (
                value(s, "ikabot_task_up", pid=str(killed.pid)) == 0
                and value(s, "telebot_alert_seconds_count", host="pi-home") == 1
            ),
        )
        assert (
            value(
                after, "ikabot_task_ends_total", host="pi-home", action="autoPirate", how="killed"
            )
            == 1
        )
        assert value(after, "ikabot_tasks", host="pi-home", state="dead") == 1
        # its alert's latency, death → Telegram accepted: one observation, a sane one
        assert value(after, "telebot_alert_seconds_count", host="pi-home") == 1
        assert 0 < (value(after, "telebot_alert_seconds_sum", host="pi-home") or 0) < 10
        assert value(after, "telebot_alerts_waiting", host="pi-home") == 0
        beat = value(after, "telebot_last_heartbeat_timestamp_seconds", host="pi-home")
        assert beat is not None and beat > 0
        assert value(after, "telebot_build_info", host="pi-home") == 1

        # the textfile holds the same figures, written whole (no temporary file left over)
        written = samples(prom.read_text())
        assert value(written, "ikabot_task_up", pid=str(running.pid), **ours) == 1
        assert sorted(p.name for p in prom.parent.iterdir()) == ["telebot.prom"]
        text = await asyncio.to_thread(scrape, port)
    labels = {v for (_, ls) in samples(text) for _, v in ls}
    for secret in (ALICE.email, BOB.email, TOKEN, CHAT, TOKEN.split(":")[1]):
        assert secret not in labels and secret not in " ".join(labels)
        assert secret not in text or secret == CHAT  # 42 may be a digit of a value
    assert "@" not in text  # no e-mail anywhere


async def test_alerts_held_for_a_refusing_chat_are_counted(ikabot_dir, spawn, api, tmp_path):
    task = spawn()
    ikabot_dir.add_pirate(ALICE, task.pid, done=1, total=4)
    port = free_port()
    settings = fast_settings(
        ikabot_dir.path, api, tmp_path / "s", host_label="h", metrics_addr=("127.0.0.1", port)
    )
    async with running_bot(settings, api):
        api.set_chat(int(CHAT), "blocked")
        task.kill()
        task.wait()
        found = await until_scraped(
            port, lambda s: (value(s, "telebot_alerts_waiting", host="h") or 0) >= 1
        )
        assert value(found, "telebot_alert_seconds_count", host="h") == 0


def test_metrics_settings():
    s = Settings.from_env({"TELEBOT_METRICS_ADDR": "0.0.0.0:9464"})
    assert s.metrics_addr == ("0.0.0.0", 9464) and s.metrics_file is None
    assert Settings.from_env({"TELEBOT_METRICS_ADDR": "[::1]:9464"}).metrics_addr == ("::1", 9464)
    for bad in ("9464", "localhost", "host:99999", "host:http", ":9464", "a b:1"):
        with pytest.raises(ConfigError, match="TELEBOT_METRICS_ADDR"):
            Settings.from_env({"TELEBOT_METRICS_ADDR": bad})
    for bad in ("/nonexistent-dir/telebot.prom", "/tmp/telebot.txt"):
        with pytest.raises(ConfigError, match="TELEBOT_METRICS_FILE"):
            Settings.from_env({"TELEBOT_METRICS_FILE": bad})


def test_a_port_already_taken_is_one_clear_line(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(ikabot_path=tmp_path, metrics_addr=("127.0.0.1", port))
        with pytest.raises(
            ConfigError,
            match=rf"TELEBOT_METRICS_ADDR=127\.0\.0\.1:{port}: "
            "cannot listen there",
        ):
            MetricsExporter(settings).start()


def test_an_alerts_latency_counts_whichever_hook_comes_first():
    """The send runs beside the end's commit and the end is told after it, so Telegram may
    take a death's alert before the end is told: the latency is observed either way, once."""
    from prometheus_client import generate_latest

    from telebot.alerts.ending import end_key
    from telebot.config import Settings
    from telebot.metrics.exporter import MetricsExporter
    from telebot.state import OutboxItem

    def item(key: str) -> OutboxItem:
        return OutboxItem(1, key, "42", "killed", "💀", 100.0, 0.0, 0)

    exporter = MetricsExporter(Settings(ikabot_path=Path("/nonexistent")), host="h")
    exporter.delivered(item(end_key(7, 70)), 100.25)  # Telegram took it first …
    exporter.ended("autoPirate", "killed", end_key(7, 70), 100.0, False)  # … then the end told
    exporter.ended("autoPirate", "killed", end_key(8, 80), 200.0, False)  # the usual order
    exporter.delivered(item(end_key(8, 80)), 200.5)
    exporter.delivered(item("notice:start"), 300.0)  # not an end's: no latency
    exporter.ended("autoPirate", "killed", end_key(8, 80), 201.0, False)  # told again: nothing
    text = generate_latest(exporter.registry).decode()
    found = samples(text)
    assert value(found, "telebot_alert_seconds_count", host="h") == 2
    assert value(found, "telebot_alert_seconds_sum", host="h") == 0.75
