"""Deadlines and a connection limit for the auth API's connections.

aiohttp serves the requests; each of its connections sits behind an
``ApiConnection`` that forwards every byte and adds what aiohttp lacks
(``docs/backends/kkim.md#limits``, settings ``api_*``):

* **header timeout**: a request line and headers must be complete within
  ``api_header_timeout_s`` of the connection opening, or of the first byte of
  a later request on a kept-alive connection; else the connection is closed
  (a slowloris client trickling header bytes no longer holds it for ever).
* **body timeout**: the body must arrive within ``api_body_timeout_s`` of the
  headers (enforced where the API reads it, see ``api.py``).
* **idle timeout**: a kept-alive connection with no request in progress is
  closed after ``api_idle_timeout_s`` (aiohttp's keep-alive timer).
* **connection limit**: at ``api_max_connections`` open connections, a new
  one closes the connection that has waited longest without a request in
  progress, as Apache's event MPM does with idle keep-alive connections, so
  a flood of idle connections cannot lock logins out. Only when every
  connection has a request in progress is the new one refused: HTTP 503 with
  the envelope ``{errCode: 1601 ConnOverMaxNumLimit}``, then closed.

Evictions, refusals and timeouts are counted in ``stats`` and summed up in at
most one log line per ``fd_log_interval_s``, never one line per connection.
A request that is not valid HTTP is logged as one WARNING line without a
traceback (``BadHttpLines``); aiohttp would log a traceback per such request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from callprobe.backends.kkim.protocol.constants import HandshakeCode
from callprobe.backends.kkim.server.listen import Throttled
from callprobe.backends.kkim.server.logsafe import quoted
from callprobe.settings import GatewaySettings


def _refusal(limit: int) -> bytes:
    body = json.dumps({"errCode": int(HandshakeCode.CONN_OVER_MAX_NUM), "errMsg": "ConnOverMaxNumLimit",
                       "errDlt": f"the auth API has {limit} connections with a request in progress "
                                 "(setting api_max_connections)"}, separators=(",", ":")).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
            f"Retry-After: 1\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


class ApiConnection(asyncio.Protocol):
    """One auth-API connection: aiohttp's handler behind a header deadline and the limit."""

    def __init__(self, guard: ApiConnections, inner: RequestHandler) -> None:
        self.guard, self.inner = guard, inner
        self.transport: asyncio.Transport | None = None
        self.busy = False                 # a request is being handled
        self.waiting_since = 0.0          # when it last had no request in progress
        self._admitted = False
        self._header_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol, forwarded to aiohttp

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.waiting_since = self.guard.loop.time()
        if not self.guard.admit(self):
            transport.write(_refusal(self.guard.limit or 0))
            transport.close()
            return
        self._admitted = True
        self._arm_header_timer()  # the first request's headers are due from the start, as Go's ReadHeaderTimeout
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if not self.busy and self._header_timer is None:
            self._arm_header_timer()  # the first byte of a request on a kept-alive connection
        self.inner.data_received(data)

    def eof_received(self) -> None:
        if self._admitted:
            self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self.guard.forget(self)
        if self._admitted:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self.inner.resume_writing()

    # request life cycle, from the application's middleware

    def request_started(self) -> None:
        self.busy = True
        self._cancel_header_timer()

    def request_finished(self) -> None:
        self.busy = False
        self.waiting_since = self.guard.loop.time()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # header deadline

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.guard.loop.call_later(self.guard.settings.api_header_timeout_s,
                                                        self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self.busy:
            self.guard.stats["header_timeouts"] += 1
            self.guard.noted.note()
            self.close()


class ApiConnections:
    """Every open auth-API connection; ``protocol`` is the factory for ``loop.create_server``.

    Args:
        handler_factory: makes aiohttp's handler for one connection (``AppRunner.server``).
        settings: ``api_max_connections``, ``api_header_timeout_s`` and ``fd_log_interval_s``.
        logger: where the summary line goes.
    """

    def __init__(self, handler_factory: Callable[[], RequestHandler], settings: GatewaySettings,
                 logger: logging.Logger) -> None:
        self.handler_factory = handler_factory
        self.settings = settings
        self.limit = settings.api_max_connections
        self.loop = asyncio.get_running_loop()
        self.open: dict[ApiConnection, None] = {}  # in the order they opened
        self.stats = {"evicted": 0, "refused": 0, "header_timeouts": 0, "most_open": 0}
        self.noted = Throttled(logger, settings.fd_log_interval_s,
                               "%d auth API connection(s) closed by a limit since the last report "
                               "(so far: %s; logged at most every %g s)", self.stats, settings.fd_log_interval_s)

    def protocol(self) -> ApiConnection:
        return ApiConnection(self, self.handler_factory())

    def admit(self, conn: ApiConnection) -> bool:
        """Register ``conn``, closing the longest-waiting idle connection at the limit; ``False``: refuse it."""
        if self.limit is not None and len(self.open) >= self.limit:
            idle = [c for c in self.open if not c.busy]
            if not idle:
                self.stats["refused"] += 1
                self.noted.note()
                return False
            victim = min(idle, key=lambda c: c.waiting_since)
            self.open.pop(victim, None)
            victim.close()
            self.stats["evicted"] += 1
            self.noted.note()
        self.open[conn] = None
        self.stats["most_open"] = max(self.stats["most_open"], len(self.open))
        return True

    def forget(self, conn: ApiConnection) -> None:
        self.open.pop(conn, None)

    def close_all(self) -> None:
        for conn in list(self.open):
            conn.close()


@web.middleware
async def track_requests(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Tell the connection a request is in progress (no header deadline, never evicted) until it returns."""
    transport = request.transport
    conn: Any = transport.get_protocol() if transport is not None else None
    if not isinstance(conn, ApiConnection):
        return await handler(request)
    conn.request_started()
    try:
        return await handler(request)
    finally:
        conn.request_finished()


class BadHttpLines(logging.Filter):
    """aiohttp's "Error handling request" for a client's malformed HTTP: one line, no traceback.

    aiohttp answers such a request 400 itself and logs the parser's exception
    with its traceback at ERROR. It is the client's fault, not the server's:
    the record becomes one WARNING line naming the problem. Any other
    exception (a bug) keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            detail = f"{exc.code} {exc.message}".strip()
            record.msg = f"bad HTTP request from %s: {quoted(detail, 200).replace('%', '%%')}"
            record.exc_info, record.exc_text = None, None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
