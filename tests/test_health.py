"""Who watches the watcher: the heartbeat URL, systemd's watchdog (sd_notify) and the heartbeat
file behind `telebot health` all come from telebot's event loop, and stop when it hangs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botharness import fast_settings, running_bot
from conftest import ALICE
from util import DEADLINE

from telebot.bot.health import heartbeat_age, heartbeat_path

HANG = 2.0  # how long the simulated hang blocks telebot's event loop


class Hits:
    """A monitoring service on loopback (Uptime Kuma's push URL): records when it was hit."""

    def __init__(self, answer: bool = True) -> None:
        self.times: list[float] = []
        self.cond = threading.Condition()
        self.release = threading.Event()
        hits = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with hits.cond:
                    hits.times.append(time.monotonic())
                    hits.cond.notify_all()
                if not answer:  # a monitor that hangs: answers nothing until closed
                    hits.release.wait(60)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/push/abc?status=up"

    def wait(self, count: int, timeout: float = DEADLINE) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.times) >= count, timeout)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Systemd:
    """systemd's side of sd_notify: a unix datagram socket named by NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = str(path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self._stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self.cond:
                self.messages.append((time.monotonic(), data.decode()))
                self.cond.notify_all()

    def wait(self, predicate, timeout: float = DEADLINE) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.said()), timeout)

    def said(self) -> list[str]:
        return [m for _, m in self.messages]

    def mark(self, text: str) -> None:
        """A datagram of the test's own into the same queue: datagrams on one unix socket are
        received in the order they were sent, so what lies between two marks was sent between
        them, however late a loaded machine lets this reader see it."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(text.encode(), self.path)
        assert self.wait(lambda said: text in said)

    def between(self, first: str, last: str) -> list[str]:
        said = self.said()
        return said[said.index(first) + 1 : said.index(last)]

    def close(self) -> None:
        self._stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def hits() -> Iterator[Hits]:
    h = Hits()
    yield h
    h.close()


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch) -> Iterator[Systemd]:
    path = tmp_path / "notify.sock"
    s = Systemd(path)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WatchdogSec=0.4: a beat every 0.2 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield s
    s.close()


async def test_heartbeat_and_watchdog_while_healthy_and_silent_while_the_loop_hangs(
    ikabot_dir, api, tmp_path: Path, hits: Hits, systemd: Systemd, run_cli
):
    s = fast_settings(
        ikabot_dir.path, api, tmp_path / "state", heartbeat_url=hits.url, heartbeat_minutes=0.01
    )  # every 0.6 s
    async with running_bot(s, api) as bot:
        assert systemd.wait(lambda said: said and said[0].startswith("READY=1"))
        assert await asyncio.to_thread(hits.wait, 2)
        assert systemd.wait(lambda said: sum("WATCHDOG=1" in m for m in said) >= 3)
        assert heartbeat_age(s.state_dir) is not None and heartbeat_age(s.state_dir) < 5
        r = run_cli("health", TELEBOT_STATE_DIR=str(s.state_dir))
        assert r.code == 0 and r.out.startswith("healthy"), r.err

        # a hung loop: something blocks it (here, on purpose, for HANG seconds). Nothing is
        # sent meanwhile, told by order, not by time: on a loaded machine a beat sent just
        # before the hang can reach the listener well into it
        systemd.mark("TEST=hang begins")
        start = time.monotonic()
        threading.Event().wait(HANG)
        end = time.monotonic()
        systemd.mark("TEST=hang ends")
        assert systemd.between("TEST=hang begins", "TEST=hang ends") == []
        # one request at a time (health.HeartbeatURL): only the one already on its way when
        # the hang began may land during it; a loop that beat on would land several
        assert len([t for t in hits.times if start < t < end]) <= 1, hits.times

        # the loop runs again: so do the signs of life
        before = len(hits.times)
        assert await asyncio.to_thread(hits.wait, before + 1)
        await bot.settled()
    assert systemd.wait(lambda said: "STOPPING=1" in said[-1])


async def test_a_hanging_heartbeat_url_never_holds_up_an_alert(
    ikabot_dir, spawn, api, tmp_path: Path
):
    stuck = Hits(answer=False)
    try:
        p = spawn()
        ikabot_dir.add_task(ALICE, p.pid, "autoPirate", "Pirating for 3 more runs")
        s = fast_settings(
            ikabot_dir.path,
            api,
            tmp_path / "state",
            heartbeat_url=stuck.url,
            heartbeat_minutes=0.01,
        )
        async with running_bot(s, api) as bot:
            assert await asyncio.to_thread(stuck.wait, 1)  # a request hangs on the monitor
            p.send_signal(signal.SIGKILL)
            assert await bot.wait(lambda: any("killed" in t for t in bot.texts()))
    finally:
        stuck.close()


def test_health_says_stuck_or_absent(tmp_path: Path, run_cli):
    state = tmp_path / "state"
    r = run_cli("health", TELEBOT_STATE_DIR=str(state))
    assert r.code == 1 and "no heartbeat" in r.err and r.err.count("\n") == 1
    state.mkdir()
    heartbeat_path(state).write_text(f"{time.time() - 3600}\n")
    r = run_cli("health", TELEBOT_STATE_DIR=str(state))
    assert r.code == 1 and "stuck" in r.err


@pytest.mark.parametrize(("age", "code", "says"), [(60.5, 1, "stuck"), (59.5, 0, "healthy")])
def test_health_limit_is_a_minute_to_the_second(
    tmp_path: Path, monkeypatch, capsys, age, code, says
):
    """A beat just older than a minute is stale, just younger is fresh: the clock driven, the
    limit said as the contract says it (60 s), not as the code's constant."""
    from telebot import cli
    from telebot.bot import health

    state, beat = tmp_path / "state", 1_700_000_000.0
    state.mkdir()
    heartbeat_path(state).write_text(f"{beat}\n")
    for name in [k for k in os.environ if k.startswith(("TELEBOT_", "IKABOT_", "TELEGRAM_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TELEBOT_STATE_DIR", str(state))
    monkeypatch.setenv("TELEBOT_LANG", "en")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(health, "clock", lambda: beat + age)
    assert cli.main(["health"]) == code
    out = capsys.readouterr()
    assert says in (out.err if code else out.out)
