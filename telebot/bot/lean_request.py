"""python-telegram-bot's networking backend for telebot: the Bot API's form posts over `wire`.

What `wire` does not speak it hands to PTB's own `HTTPXRequest`, so those keep httpx's tested
behaviour: a file upload (a multipart body: /timeline's picture) and any proxy that the
environment names (`HTTPS_PROXY`, `ALL_PROXY`, …, which httpx honours and `wire` does not).
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from telegram._utils.defaultvalue import DefaultValue  # as HTTPXRequest reads it (PTB < 23)
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from telebot.bot.wire import Connection, Origin, WireError, split
from telebot.compat import within

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

FORM = ("Content-Type", "application/x-www-form-urlencoded")


def _given(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


class LeanRequest(BaseRequest):
    """Keeps up to `connection_pool_size` connections per origin, with HTTPXRequest's
    default timeouts; `tls` (tests) replaces the default verified context."""

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._fallback = HTTPXRequest(
            connection_pool_size=connection_pool_size,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        self._timeouts = (connect_timeout, read_timeout, write_timeout, pool_timeout)
        self._slots = asyncio.Semaphore(connection_pool_size)
        self._idle: dict[Origin, list[Connection]] = {}
        self._tls = tls
        self._proxied = bool(urllib.request.getproxies())

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts[1]

    async def initialize(self) -> None:
        await self._fallback.initialize()

    async def shutdown(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        await self._fallback.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._proxied or (request_data is not None and request_data.contains_files):
            return await self._fallback.do_request(
                url,
                method,
                request_data,
                read_timeout,
                write_timeout,
                connect_timeout,
                pool_timeout,
            )
        connect, read, write, pool = self._timeouts
        body = urlencode(request_data.json_parameters).encode() if request_data else b""
        headers = [("User-Agent", self.USER_AGENT), *([FORM] if body else [])]
        try:
            origin, target = split(url)
            await self._slot(_given(pool_timeout, pool))
        except WireError as e:
            raise NetworkError(f"wire: {e}") from None
        try:
            conn = self._reused(origin) or await Connection.open(
                origin, self._context(origin), _given(connect_timeout, connect)
            )
            try:
                data = conn.request(method, origin, target, body, headers)
                await conn.write(data, _given(write_timeout, write))
                answer = await conn.answer(_given(read_timeout, read))
            except BaseException:
                conn.close()
                raise
            if conn.finish():
                self._idle.setdefault(origin, []).append(conn)
            return answer
        except TimeoutError:
            raise TimedOut from None
        except WireError as e:
            raise NetworkError(f"wire: {e}") from None
        finally:
            self._slots.release()

    async def _slot(self, timeout: float | None) -> None:
        if not self._slots.locked():  # the usual case: no timer, no task
            await self._slots.acquire()
            return
        try:
            await within(self._slots.acquire(), timeout)
        except TimeoutError:
            raise TimedOut(
                "Pool timeout: all connections are busy; the request was *not* sent."
            ) from None

    def _reused(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.reusable:
                return conn
            conn.close()
        return None

    def _context(self, origin: Origin) -> ssl.SSLContext | None:
        if origin.scheme != "https":
            return None
        if self._tls is None:
            import certifi  # httpx's own trust store, so the same servers are trusted

            self._tls = ssl.create_default_context(cafile=certifi.where())
        return self._tls
