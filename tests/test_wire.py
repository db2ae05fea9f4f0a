"""telebot's HTTP client under python-telegram-bot (`bot.lean_request` over `bot.wire`), against
real sockets on loopback: what httpx did for the Bot API, it must do too. The whole suite's
Telegram traffic (the loopback Bot API, tests/botharness.py) goes through it as well; these
are the cases that traffic never meets: a connection the server closed while it sat idle, an
answer that never comes, a full pool, a refused port, TLS with and without a trusted
certificate, a chunked answer, a proxy named by the environment, and the token kept out of
every error's text.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TimedOut
from util import until

from telebot.bot.lean_request import LeanRequest

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"
ME = b'{"ok":true,"result":{"id":123456,"is_bot":true,"first_name":"t","username":"tbot"}}'
SENT = (
    b'{"ok":true,"result":{"message_id":7,"date":0,"chat":{"id":1,"type":"private"},"text":"hi"}}'
)
LIMITED = b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3",'
LIMITED += b'"parameters":{"retry_after":3}}'


@dataclass
class Server:
    """A loopback HTTP/1.1 server whose answers a test chooses. `reply(target, body)` gives
    (status, body, chunked) or None (never answer); `close_after` closes each connection once
    it has answered (as a server does with an idle keep-alive connection)."""

    reply: Callable[[str, bytes], tuple[int, bytes, bool] | None]
    close_after: bool = False
    connections: int = 0
    closed: int = 0
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head.decode("latin-1").split("\r\n")
                length = next(
                    (
                        int(f.split(":")[1])
                        for f in fields
                        if f.lower().startswith("content-length")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                target = line.split(" ")[1]
                self.requests.append((target, body))
                answer = self.reply(target, body)
                if answer is None:
                    await asyncio.Event().wait()  # cancelled when the server closes
                    return
                status, payload, chunked = answer
                writer.write(_response(status, payload, chunked))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed += 1


def _response(status: int, payload: bytes, chunked: bool) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    if not chunked:
        return f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload
    half = len(payload) // 2
    parts = [payload[:half], payload[half:]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    return f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + body


def telegram(target: str, body: bytes) -> tuple[int, bytes, bool]:
    if target.endswith("/getMe"):
        return 200, ME, False
    if b"limited" in body:
        return 429, LIMITED, False
    return 200, SENT, target.endswith("/sendMessage") and b"chunked" in body


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(
        reply: Callable[[str, bytes], tuple[int, bytes, bool] | None] = telegram,
        close_after: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> Server:
        s = Server(reply, close_after)
        server = await asyncio.start_server(s.handle, "127.0.0.1", 0, ssl=tls)
        servers.append(server)
        s.port = server.sockets[0].getsockname()[1]
        return s

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


def bot(port: int, scheme: str = "http", **kw: object) -> Bot:
    request = LeanRequest(**kw)  # type: ignore[arg-type]
    return Bot(TOKEN, base_url=f"{scheme}://127.0.0.1:{port}/bot", request=request)


async def test_one_connection_carries_every_request(serve) -> None:  # type: ignore[no-untyped-def]
    s = await serve()
    async with bot(s.port) as b:
        for text in ("one", "two", "three"):
            assert (await b.send_message(1, text)).message_id == 7
    assert s.connections == 1  # getMe and three sends: kept alive
    assert [t.rsplit("/", 1)[1] for t, _ in s.requests] == ["getMe"] + ["sendMessage"] * 3
    assert all(TOKEN in t for t, _ in s.requests)


async def test_a_connection_closed_while_idle_is_not_reused(serve) -> None:  # type: ignore[no-untyped-def]
    s = await serve(close_after=True)
    async with bot(s.port) as b:
        request = b._request[1]
        assert isinstance(request, LeanRequest)
        idle = request._idle
        for n in range(3):
            assert await until(lambda: s.closed == s.connections)  # the server closed it …
            # … and the client's loop has read that end of file on its idle connection
            assert await until(lambda: all(c.reader.at_eof() for cs in idle.values() for c in cs))
            await b.send_message(1, f"after close {n}")
    assert s.connections == 4  # getMe, then a fresh connection for each send


async def test_chunked_answers_and_telegrams_errors(serve) -> None:  # type: ignore[no-untyped-def]
    s = await serve()
    async with bot(s.port) as b:
        assert (await b.send_message(1, "chunked please")).text == "hi"
        with pytest.raises(RetryAfter) as limited:
            await b.send_message(1, "limited")
        assert "3 seconds" in str(limited.value)
        assert (await b.send_message(1, "and on")).message_id == 7  # the connection survived
    assert s.connections == 1


async def test_an_answer_that_never_comes_times_out(serve) -> None:  # type: ignore[no-untyped-def]
    s = await serve(reply=lambda t, body: None if b"hang" in body else telegram(t, body))
    async with bot(s.port, read_timeout=0.3) as b:
        with pytest.raises(TimedOut):
            await b.send_message(1, "hang")
        assert (await b.send_message(1, "next")).message_id == 7  # on a new connection
    assert s.connections == 2


async def test_a_full_pool_times_out_without_sending(serve) -> None:  # type: ignore[no-untyped-def]
    s = await serve(reply=lambda t, body: None if b"hang" in body else telegram(t, body))
    async with bot(s.port, connection_pool_size=1, pool_timeout=0.2, read_timeout=30) as b:
        hanging = asyncio.create_task(b.send_message(1, "hang"))
        assert await until(lambda: len(s.requests) == 2)
        with pytest.raises(TimedOut, match="Pool timeout"):
            await b.send_message(1, "waits for the pool")
        assert len(s.requests) == 2  # the second was never written
        hanging.cancel()


async def test_refused_and_untrusted_say_so_without_the_token(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    held = socket.socket()  # bound, never listening: connections to it are refused
    held.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(NetworkError) as refused:
            await bot(held.getsockname()[1]).initialize()
    finally:
        held.close()
    assert "connect failed" in str(refused.value)
    server_tls, client_tls = _tls_pair(tmp_path)
    s = await serve(tls=server_tls)
    with pytest.raises(NetworkError) as untrusted:  # the default trust store: refused
        await bot(s.port, "https").initialize()
    assert "TLS failed" in str(untrusted.value) and "CERTIFICATE_VERIFY_FAILED" in str(
        untrusted.value
    )
    for err in (refused.value, untrusted.value):
        assert TOKEN.split(":")[1] not in repr(err) and err.__cause__ is None
    async with bot(s.port, "https", tls=client_tls) as b:  # trusted: the same server answers
        assert (await b.send_message(1, "over TLS")).message_id == 7


async def test_a_proxy_from_the_environment_goes_through_httpx(serve, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    proxy = await serve()  # a forward proxy gets the absolute URL of each request
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    b = Bot(TOKEN, base_url="http://api.telegram.invalid/bot", request=LeanRequest())
    async with b:
        await b.send_message(1, "via the proxy")
    assert [t for t, _ in proxy.requests] == [
        f"http://api.telegram.invalid/bot{TOKEN}/getMe",
        f"http://api.telegram.invalid/bot{TOKEN}/sendMessage",
    ]


def _tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context and a client's that
    trusts it (and nothing else)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client
