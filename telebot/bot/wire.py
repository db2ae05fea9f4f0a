"""HTTP/1.1 connections to the Bot API over asyncio streams, spoken with h11.

Why not httpx, which python-telegram-bot uses by default: a death's alert is one small POST,
and httpx's client layers around it (URL merging, cookies, auth and redirect hooks, httpcore's
pool and anyio's checkpoints) were the largest share of the event loop's CPU on the death →
alert path. Without them a death costs a quarter less CPU where the cores are shared
(BENCHMARKS.md, "The send without httpx"). h11 (httpx's own HTTP/1.1 parser) and the standard
library's TLS do the protocol; this module keeps only the connections.

A connection is reused while both sides finished their messages cleanly; one the server closed
while it sat idle (Telegram closes idle keep-alive connections) is seen at its end of file
and dropped before a request is written to it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

from telebot.compat import within

READ_CHUNK = 65536
DEFAULT_PORTS = {"http": 80, "https": 443}


class WireError(Exception):
    """The connection failed: refused, reset, closed early, or a malformed answer. Its text
    names the kind of failure, never the URL (a Bot API URL carries the bot's token)."""


@contextmanager
def failing_as(what: str) -> Iterator[None]:
    """A socket's OSError as a WireError that says `what` failed. A timeout stays the
    caller's to name (TimeoutError is an OSError too: PTB's TimedOut, not a NetworkError)."""
    try:
        yield
    except TimeoutError:
        raise
    except OSError as e:
        raise WireError(f"{what} failed: {e.strerror or type(e).__name__}") from None


@dataclass(frozen=True)
class Origin:
    """Where a request goes: the pool keeps idle connections per origin."""

    scheme: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        default = self.port == DEFAULT_PORTS[self.scheme]
        return self.host if default else f"{self.host}:{self.port}"


def split(url: str) -> tuple[Origin, str]:
    """The origin and the request target (path and query) of an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise WireError("not an http(s) URL")
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, port), target


@dataclass
class Connection:
    """One open connection and its h11 state machine."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    proto: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))

    @classmethod
    async def open(
        cls, origin: Origin, tls: ssl.SSLContext | None, timeout: float | None
    ) -> Connection:
        secure = origin.scheme == "https"
        opening = asyncio.open_connection(
            origin.host,
            origin.port,
            ssl=tls if secure else None,
            server_hostname=origin.host if secure else None,
        )
        with failing_as("connect"):
            try:
                reader, writer = await within(opening, timeout)
            except ssl.SSLError as e:  # an OSError too, but with a reason of its own
                raise WireError(f"TLS failed: {e.reason or type(e).__name__}") from None
        return cls(reader, writer)

    @property
    def reusable(self) -> bool:
        """Idle and not closed by the server meanwhile (its end of file already read)."""
        return (
            self.proto.our_state is h11.IDLE
            and not self.reader.at_eof()
            and self.reader.exception() is None
            and not self.writer.is_closing()
        )

    async def write(self, data: bytes, timeout: float | None) -> None:
        with failing_as("write"):
            self.writer.write(data)
            await within(self.writer.drain(), timeout)

    async def answer(self, read_timeout: float | None) -> tuple[int, bytes]:
        """Read one whole response; each read waits at most `read_timeout` (as httpx's)."""
        status, body = 0, bytearray()
        while True:
            try:
                event = self.proto.next_event()
            except h11.RemoteProtocolError as e:
                raise WireError(f"bad answer: {e}") from None
            if event is h11.NEED_DATA:
                with failing_as("read"):
                    chunk = await within(self.reader.read(READ_CHUNK), read_timeout)
                self.proto.receive_data(chunk)  # b"" is the end of file; h11 then says why
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                raise WireError("the server closed the connection without an answer")

    def finish(self) -> bool:
        """After an answer: ready for the next request on it (True), or closed."""
        if self.proto.our_state is h11.DONE and self.proto.their_state is h11.DONE:
            self.proto.start_next_cycle()
            return True
        self.close()
        return False

    def close(self) -> None:
        self.writer.close()

    def request(
        self, method: str, origin: Origin, target: str, body: bytes, headers: list[tuple[str, str]]
    ) -> bytes:
        """The request's head and body as one write (one packet for a small alert)."""
        head = [("Host", origin.authority), ("Content-Length", str(len(body))), *headers]
        out = self.proto.send(h11.Request(method=method, target=target, headers=head)) or b""
        if body:
            out += self.proto.send(h11.Data(data=body)) or b""
        return out + (self.proto.send(h11.EndOfMessage()) or b"")
