"""A heartbeat URL that misbehaves (issue 23, "as an attacker would"): it answers 500, hangs,
trickles its answer a byte at a time, answers without end, or redirects to another machine.
telebot's loop and alerts go on, the request ends on one deadline, a redirect is followed only
on the same host, and neither the bot token nor the monitor's secret URL is in a log line.

Real HTTP servers on loopback (127.0.0.1 is "the monitor", 127.0.0.2 "another host"), real
httpx, and the running bot against the loopback Bot API."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botharness import fast_settings, running_bot
from conftest import ALICE, TOKEN

from telebot.bot import health
from telebot.bot.health import HeartbeatURL, follows

SECRET = "f3c1-secret-ping-uuid"  # a healthchecks.io ping URL's uuid: the URL is a secret


class Monitor:
    """A monitoring service on loopback that behaves as `mode` says, for every request:
    `ok`, `500`, `redirect` (Location: `self.location`), `trickle` (its status line a byte
    every 0.2 s, never finished) or `endless` (200, then a body without end)."""

    def __init__(self, host: str = "127.0.0.1", mode: str = "ok") -> None:
        self.mode = mode
        self.location = ""
        self.requests: list[str] = []  # request line and headers, as received
        self.body_sent = 0  # bytes of an endless body written before the client left
        self.cond = threading.Condition()
        self.closing = threading.Event()
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with monitor.cond:
                    monitor.requests.append(f"{self.requestline}\n{self.headers}")
                    monitor.cond.notify_all()
                mode = "ok" if self.path.endswith("/final") else monitor.mode
                if mode == "trickle":
                    for byte in b"HTTP/1.1 200 OK\r\n":
                        if monitor.closing.wait(0.2):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    monitor.closing.wait(60)
                    return
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", monitor.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(500 if mode == "500" else 200)
                if mode == "endless":
                    self.send_header("Content-Length", str(10**12))
                    self.end_headers()
                    chunk = b"x" * 65536
                    try:
                        while not monitor.closing.is_set():
                            self.wfile.write(chunk)
                            monitor.body_sent += len(chunk)
                    except OSError:
                        pass
                    return
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://{host}:{self.server.server_address[1]}"
        self.url = f"{self.base}/ping/{SECRET}"

    def hits(self, path: str = "") -> int:
        with self.cond:
            return sum(path in r.split("\n", 1)[0] for r in self.requests)

    def wait(self, count: int, timeout: float = 20.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.requests) >= count, timeout)

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def _can_bind(host: str) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, 0))
        except OSError:
            return False
    return True


@pytest.fixture
def monitor() -> Iterator[Monitor]:
    m = Monitor()
    yield m
    m.close()


@pytest.fixture
def elsewhere() -> Iterator[Monitor]:
    """Another machine (127.0.0.2: Linux routes all of 127/8 to loopback)."""
    if not _can_bind("127.0.0.2"):
        pytest.skip("127.0.0.2 cannot be bound here")
    m = Monitor("127.0.0.2")
    yield m
    m.close()


@pytest.fixture(autouse=True)
def _short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "PING_TIMEOUT", 1.0)  # the product's is 10 s


async def ping(beat: HeartbeatURL, limit: float = 15.0) -> tuple[bool, float]:
    """One ping as the job makes it: its outcome and how long it took (the test's own
    deadline only guards against a hang that would otherwise stall the suite)."""
    start = time.monotonic()
    ok = await asyncio.wait_for(beat.ping(), limit)
    return ok, time.monotonic() - start


def test_a_redirect_is_followed_on_the_same_host_only():
    a = health.httpx.URL("https://hc-ping.example/abc")
    assert follows(a, a.join("/def"))
    assert follows(health.httpx.URL("http://hc-ping.example/abc"), a)  # up to https
    assert not follows(a, health.httpx.URL("http://hc-ping.example/abc"))  # never down
    assert not follows(a, health.httpx.URL("https://elsewhere.example/abc"))
    assert not follows(a, health.httpx.URL("file:///etc/passwd"))


async def test_500_and_a_redirect_elsewhere_are_failures_and_nothing_leaves_the_host(
    monitor: Monitor, elsewhere: Monitor, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="telebot.bot.health")
    beat = HeartbeatURL(monitor.url)
    monitor.mode = "500"
    assert (await ping(beat))[0] is False
    assert "it answered 500" in caplog.text

    monitor.mode = "redirect"
    monitor.location = f"{elsewhere.url}?stolen=1"
    assert (await ping(beat))[0] is False
    assert elsewhere.hits() == 0, "a redirect to another host was followed"
    assert "it redirects to 127.0.0.2" in caplog.text

    # on the same host: followed, and healthy again
    monitor.location = "/ping/final"
    assert (await ping(beat))[0] is True
    assert monitor.hits("/ping/final") == 1
    assert "answers again" in caplog.text
    # a redirect to itself: at most MAX_REDIRECTS hops, then a failure, never a loop
    monitor.location = "/ping/loop"
    assert (await ping(beat))[0] is False
    assert monitor.hits("/ping/loop") == health.MAX_REDIRECTS
    assert "more than 3 redirects" in caplog.text
    assert SECRET not in caplog.text and TOKEN not in caplog.text


async def test_a_monitor_that_trickles_or_answers_without_end_costs_one_deadline(monitor: Monitor):
    beat = HeartbeatURL(monitor.url)
    monitor.mode = "trickle"
    ok, took = await ping(beat)
    assert ok is False and took < 1.0 + 5, took  # PING_TIMEOUT, however slowly it trickles

    monitor.mode = "endless"
    ok, took = await ping(beat)
    assert ok is True and took < 6, took  # 200 is all it takes; the body is never read
    assert monitor.body_sent < 16 * 2**20, f"{monitor.body_sent} bytes of its body read"


async def test_alerts_and_pings_go_on_while_the_monitor_misbehaves(
    ikabot_dir,
    spawn,
    api,
    tmp_path: Path,
    monitor: Monitor,
    elsewhere: Monitor,
    caplog: pytest.LogCaptureFixture,
):
    """The running bot with a heartbeat every 0.6 s: a monitor that trickles, then redirects
    to another host, then answers 500. Each time a death is alerted, the pings go on (one
    at a time: a trickling one is cut at its deadline), nothing reaches the other host, and
    no log line holds the bot token or the monitor's URL."""
    caplog.set_level(logging.INFO)
    monitor.location = elsewhere.url
    victims = [spawn() for _ in range(3)]
    for p in victims:
        ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 3 more runs")
    s = fast_settings(
        ikabot_dir.path, api, tmp_path / "state", heartbeat_url=monitor.url, heartbeat_minutes=0.01
    )
    async with running_bot(s, api) as bot:
        for mode, victim in zip(("trickle", "redirect", "500"), victims, strict=True):
            monitor.mode = mode
            seen = len(monitor.requests)
            assert await asyncio.to_thread(monitor.wait, seen + 1)  # it misbehaves now
            victim.send_signal(signal.SIGKILL)
            assert await bot.wait(
                lambda v=victim: any(str(v.pid) in t and "killed" in t for t in bot.texts()), 20
            ), mode
            # and the heartbeat is tried again: the loop's job was never held
            assert await asyncio.to_thread(monitor.wait, seen + 2), mode
        await bot.settled()
    assert elsewhere.hits() == 0
    assert "the heartbeat URL does not answer" in caplog.text
    for request in monitor.requests:
        assert TOKEN not in request and TOKEN.split(":")[1] not in request
    assert TOKEN not in caplog.text and SECRET not in caplog.text
