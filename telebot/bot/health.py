"""Who watches the watcher: a heartbeat file, systemd's watchdog, and a heartbeat URL.

A process that exists is not a telebot that works: a hung event loop sends no alert either.
So every sign of life comes *from the event loop*, and stops when it hangs:

- `Pulse` (an asyncio task from the first moment of `serve`, also while it waits for ikabot's
  data or the network) writes the time into `<state dir>/heartbeat` and sends `WATCHDOG=1`
  to systemd (`sd_notify` over `NOTIFY_SOCKET`: one datagram, no library). `telebot health`
  (Docker's HEALTHCHECK) reads the file's age; systemd restarts a unit whose watchdog pings
  stop (`WatchdogSec=`).
- `TELEBOT_HEARTBEAT_URL` is requested every `TELEBOT_HEARTBEAT_MINUTES` from a JobQueue job
  (Uptime Kuma's push monitor, healthchecks.io): the owner hears from *them* when telebot or
  its machine is down. The request has a short timeout and runs beside the alerts, never in
  front of them; its failures are logged once per change (of reason), not once per try. The
  whole request has one deadline (a monitor that trickles its answer a byte at a time cannot
  hold it), its body is never read (a monitor that answers gigabytes costs nothing), and a
  redirect is followed only on the same host (http may become https, never the reverse): a
  monitor whose answer sends telebot elsewhere is a failure the log names, not a request to
  another machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from telebot.bot.context import BotApp, BotContext
from telebot.bot.jobs import job_queue
from telebot.ikabot.safeio import read_text_capped
from telebot.logsafe import redact
from telebot.state.db import private_dir

log = logging.getLogger(__name__)

BEAT_SECONDS = 10.0  # the heartbeat file and the watchdog, at most this far apart
STALE_AFTER = 60.0  # `telebot health`: a heartbeat older than this means the loop is stuck
PING_TIMEOUT = 10.0
MAX_REDIRECTS = 3  # on the heartbeat URL's own host
HEARTBEAT_FILE = "heartbeat"


def clock() -> float:
    """The wall clock `telebot health` ages a heartbeat by (a test drives it)."""
    return time.time()


PING_JOB = "heartbeat-url"


def sd_notify(message: str) -> bool:
    """Tell systemd (`READY=1`, `WATCHDOG=1`, `STATUS=…`); False when not run by it."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall(message.encode())
    except OSError as e:
        log.warning("cannot notify systemd at %s: %s", address.lstrip("\0"), e.strerror)
        return False
    return True


def beat_interval() -> float:
    """Half systemd's watchdog timeout when it set one for this process, else BEAT_SECONDS."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
        return min(BEAT_SECONDS, int(usec) / 1e6 / 2)
    return BEAT_SECONDS


def heartbeat_path(state_dir: Path) -> Path:
    return Path(state_dir) / HEARTBEAT_FILE


def heartbeat_age(state_dir: Path, now: float | None = None) -> float | None:
    """Seconds since the loop last beat, or None when it never did here."""
    try:
        # a FIFO or another user's file there can neither hang nor fool `telebot health`
        beat = float(read_text_capped(heartbeat_path(state_dir), 64).strip())
    except (OSError, ValueError):
        return None
    return (clock() if now is None else now) - beat


@dataclass
class Pulse:
    """The loop's own heartbeat: the file and systemd's watchdog, every `interval` seconds."""

    state_dir: Path
    interval: float = BEAT_SECONDS
    _task: asyncio.Task[None] | None = None
    _failed: bool = False
    last_beat: float | None = None  # when the loop last beat (the metrics' heartbeat)

    def beat(self) -> None:
        self.last_beat = time.time()
        path = heartbeat_path(self.state_dir)
        try:
            # before the state database exists too: waiting for ikabot's data is healthy
            private_dir(path.parent)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(f"{self.last_beat:.3f}\n")
            os.replace(tmp, path)
            self._failed = False
        except OSError as e:
            if not self._failed:
                log.warning(
                    "cannot write the heartbeat file %s (%s): `telebot health` will "
                    "say telebot is stuck",
                    path,
                    e.strerror,
                )
            self._failed = True
        sd_notify("WATCHDOG=1")

    def start(self) -> None:
        sd_notify("READY=1\nSTATUS=telebot is running")
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def _run(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        sd_notify("STOPPING=1")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class NotFollowed(Exception):
    """The heartbeat URL redirects where telebot does not go (its text says where)."""


def follows(origin: httpx.URL, target: httpx.URL) -> bool:
    """May a redirect from `origin` to `target` be followed? Only on the same host, and
    never from https down to http: the monitor's URL is a secret, and telebot requests no
    machine the owner did not name."""
    if target.scheme not in ("http", "https") or target.host.lower() != origin.host.lower():
        return False
    return not (origin.scheme == "https" and target.scheme == "http")


@dataclass
class HeartbeatURL:
    """Requests the owner's monitoring URL while the loop runs; quiet while all is well.

    The JobQueue job only starts the request (one at a time) and returns: a monitor that
    hangs then holds up neither the jobs after it nor telebot's stop."""

    url: str
    failing: bool = False
    _problem: str = ""  # why it failed, as last logged
    _inflight: asyncio.Task[bool] | None = None

    async def tick(self, context: BotContext | None = None) -> None:
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self.ping(), name="heartbeat-url")

    async def ping(self) -> bool:
        try:
            await asyncio.wait_for(self._request(), PING_TIMEOUT)
        except asyncio.TimeoutError:
            problem = f"no complete answer within {PING_TIMEOUT:g} s"
        except httpx.HTTPStatusError as e:
            problem = f"it answered {e.response.status_code}"
        except NotFollowed as e:
            problem = str(e)
        except (httpx.HTTPError, OSError) as e:
            problem = redact(str(e)) or type(e).__name__
        else:
            if self.failing:
                log.info("the heartbeat URL answers again")
            self.failing, self._problem = False, ""
            return True
        if problem != self._problem:  # once per change: a new failure, or a new reason
            log.warning(
                "the heartbeat URL does not answer (%s); alerts go on regardless, "
                "and it is tried again on schedule",
                problem,
            )
        self.failing, self._problem = True, problem
        return False

    async def _request(self) -> None:
        """GET the URL, redirects followed by hand (`follows`); the body is left unread."""
        url = httpx.URL(self.url)
        async with httpx.AsyncClient(timeout=PING_TIMEOUT, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                async with client.stream("GET", url) as response:
                    if not response.has_redirect_location:
                        response.raise_for_status()
                        return
                    target = url.join(response.headers.get("location", ""))
                if not follows(url, target):
                    raise NotFollowed(
                        f"it redirects to {target.host or 'nowhere'}, another "
                        "host or a downgrade to http, which telebot does not "
                        "follow: set TELEBOT_HEARTBEAT_URL to the final address"
                    )
                url = target
        raise NotFollowed(f"more than {MAX_REDIRECTS} redirects")

    def schedule(self, app: BotApp, minutes: float) -> None:
        job_queue(app).run_repeating(self.tick, interval=minutes * 60, first=0, name=PING_JOB)

    async def stop(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._inflight
