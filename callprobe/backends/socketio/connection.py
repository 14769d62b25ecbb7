"""One Socket.IO connection to the chat backend: python-socketio's client around a ``SocketioClient``.

Everything the client decides is in ``client.SocketioClient`` (sans I/O);
this layer only moves events, keeps time and applies the deadlines, each a
named ``ClientSettings`` field: the connect (``connect_timeout_s``), an
emit's acknowledgement (``request_timeout_s``) and the close
(``close_timeout_s``). The Engine.IO heartbeat is the server's: it pings
every ``pingInterval`` and expects a pong within ``pingTimeout``
(``docs/backends/socketio.md#heartbeat``); python-engineio answers, this
layer records each ping and a silence longer than both.

It records ``WsConnecting``, ``WsOpen`` (with the negotiated pingInterval and
pingTimeout), ``WsRefused`` for a refused connect (a ``connect_error`` with its
message, or the HTTP status of a failed Engine.IO handshake) and, through the
client, ``WsClosed`` with the disconnect reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import engineio
import socketio
from engineio import packet as eio_packet

from callprobe.backends.base import Deliver, DriverError, DriverNotice, Record
from callprobe.backends.socketio.client import Emit, Fail, Reply, SocketioClient
from callprobe.backends.socketio.config import SocketioOptions
from callprobe.backends.socketio.protocol import Payloads
from callprobe.errors import CallprobeError, DeadlineExceeded, ExitCode, ServerUnreachable
from callprobe.settings import ClientSettings
from callprobe.timeline.events import Note, WsConnecting, WsOpen, WsRefused, stamped
from callprobe.timeline.recorder import EventSink

#: python-socketio's and python-engineio's own lines (quiet unless logging is configured).
LIBRARY_LOGGER = logging.getLogger("callprobe.client.socketio.lib")
LIBRARY_LOGGER.addHandler(logging.NullHandler())  # their warnings ("server sent close packet") are ours to record

_STATUS = re.compile(r"status code (\d{3})")


class ConnectRefused(DriverError):
    """The server refused the connect: a ``connect_error`` (its message) or a failed handshake (its status)."""

    code = "HANDSHAKE_REFUSED"

    def __init__(self, url: str, message: str, http_status: int | None = None) -> None:
        where = f"HTTP {http_status}: " if http_status else ""
        CallprobeError.__init__(self, f"Socket.IO connect to {url} refused: {where}{message}")
        self.operation, self.err_code, self.err_msg, self.explanation = "connect", 0, message, ""
        self.http_status = http_status


class SocketClosed(CallprobeError):
    """The connection ended while an emit waited for its acknowledgement."""

    code = "CONNECTION_LOST"
    exit_code = ExitCode.EXPECTATION_FAILED


class _EngineClient(engineio.AsyncClient):  # type: ignore[misc]
    """python-engineio's client, telling us about each server ping (it answers them itself)."""

    on_ping: Callable[[], None] | None = None

    async def _receive_packet(self, pkt: Any) -> None:
        if pkt.packet_type == eio_packet.PING and self.on_ping is not None:
            self.on_ping()
        await super()._receive_packet(pkt)


class _SocketClient(socketio.AsyncClient):  # type: ignore[misc]
    def _engineio_client_class(self) -> type[_EngineClient]:
        return _EngineClient


def redact(url: str) -> str:
    """The URL without token values (a query token would otherwise land in reports)."""
    parts = urlsplit(url)
    if "token" not in parts.query:
        return url
    query = re.sub(r"((?:^|&)[^=&]*token[^=&]*=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def connect_url(base_url: str, options: SocketioOptions, token: str | None) -> str:
    """The URL python-socketio connects to: the base URL, with the token as a query parameter when asked."""
    if token is None or options.token_in != "query":
        return base_url
    parts = urlsplit(base_url)
    name = options.fields["auth_token"].split(".")[-1]
    query = "&".join(q for q in (parts.query, urlencode({name: token})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def handshake_failure(exc: BaseException) -> tuple[int | None, str, bool]:
    """(HTTP status, words, unreachable) of a failed Engine.IO handshake, from the exception chain."""
    status: int | None = None
    words = str(exc)
    unreachable = False
    for link in _chain(exc):
        if isinstance(link, aiohttp.WSServerHandshakeError):
            status, words = link.status, f"HTTP {link.status} {link.message}".strip()
        elif isinstance(link, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
            unreachable, words = True, str(link)
        elif isinstance(link, engineio.exceptions.ConnectionError):
            text = str(link.args[0]) if link.args else ""
            found = _STATUS.search(text)
            if found:
                status = int(found.group(1))
                body = link.args[1] if len(link.args) > 1 else None
                words = f"HTTP {status}" + (f" {body}" if body else "")
            elif "Cannot connect to host" in text or "Connect call failed" in text:
                unreachable, words = True, text
    return status, words, unreachable


class SocketioConnection:
    """A connected agent's Socket.IO client; ``open()`` it, then drive ``client`` and ``flush()``.

    Args:
        client: the sans-I/O client this connection feeds.
        base_url: the server, ``http://host:port``.
        token: the access token the connect presents (None: none at all).
        timeline: where events go.
        on_notice: called with each notice, in order.
    """

    def __init__(self, *, client: SocketioClient, base_url: str, token: str | None, options: SocketioOptions,
                 timeline: EventSink, settings: ClientSettings,
                 on_notice: Callable[[DriverNotice], None]) -> None:
        self.client, self.options = client, options
        self.timeline, self.settings = timeline, settings
        self.token = token
        self.url = connect_url(base_url, options, token)
        self._on_notice = on_notice
        self._sio: _SocketClient | None = None
        self._http: aiohttp.ClientSession | None = None
        self._closing = False
        self._opened = False
        self._closed = asyncio.Event()
        self._pinged = asyncio.Event()
        self._refusal: Any = None
        self._writes: asyncio.Queue[Emit] = asyncio.Queue()
        self._waiters: dict[str, asyncio.Future[Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._watchdog: asyncio.TimerHandle | None = None

    @property
    def is_open(self) -> bool:
        return self._opened and not self._closed.is_set()

    def now_ms(self) -> float:
        return self.timeline.now_ms()

    @property
    def ping_interval_s(self) -> float | None:
        return self.client.ping_interval_s

    @property
    def ping_timeout_s(self) -> float | None:
        return self.client.ping_timeout_s

    def _record(self, event: Any) -> None:
        self.timeline.record(stamped(event, agent=self.client.agent))

    # ---------------------------------------------------------------- outputs

    def flush(self) -> None:
        """Carry out everything the client queued, in order."""
        for out in self.client.outputs():
            if isinstance(out, Emit):
                self._writes.put_nowait(out)
            elif isinstance(out, Record):
                self._record(out.event)
            elif isinstance(out, Deliver):
                self._on_notice(out.notice)
            elif isinstance(out, Reply):
                waiter = self._waiters.pop(out.ack_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(out.data)
            elif isinstance(out, Fail):
                waiter = self._waiters.pop(out.ack_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_exception(SocketClosed(f"emit (ack {out.ack_id}): connection closed "
                                                      f"({out.explanation})"))
                    waiter.exception()  # retrieved: the waiter may already be gone

    # ---------------------------------------------------------------- open

    async def open(self) -> None:
        """Engine.IO handshake and Socket.IO connect; ``ConnectRefused``, ``ServerUnreachable`` or
        ``DeadlineExceeded`` (``connect_timeout_s``)."""
        opts, seconds = self.options, self.settings.connect_timeout_s
        shown = redact(self.url)
        self._record(WsConnecting(url=shown, transport=opts.transport, data_encoding="json"))
        self._http = aiohttp.ClientSession()
        sio = _SocketClient(reconnection=False, logger=LIBRARY_LOGGER, engineio_logger=LIBRARY_LOGGER,
                            handle_sigint=False, request_timeout=self.settings.request_timeout_s,
                            http_session=self._http)
        sio.on("connect", self._on_connect, namespace=opts.namespace)
        sio.on("connect_error", self._on_connect_error, namespace=opts.namespace)
        sio.on("disconnect", self._on_disconnect, namespace=opts.namespace)
        sio.on("*", self._on_event, namespace=opts.namespace)
        sio.eio.on_ping = self._on_ping
        self._sio = sio
        auth = self.client.p.auth(self.token) if self.token is not None and opts.token_in == "auth" else None
        started = time.monotonic()
        try:
            async with asyncio.timeout(seconds):
                await sio.connect(self.url, auth=auth, transports=[opts.transport], namespaces=[opts.namespace],
                                  socketio_path=opts.path.strip("/"), wait=True, wait_timeout=seconds)
        except TimeoutError:
            await self._abandon_open()
            raise DeadlineExceeded(f"Socket.IO connect to {shown}", "connect_timeout_s", seconds) from None
        except socketio.exceptions.ConnectionError as exc:
            await self._abandon_open()
            self._refused(shown, exc)
        self._opened = True
        eio = sio.eio
        self.client.opened(eio.ping_interval, eio.ping_timeout, self.now_ms())
        self._record(WsOpen(latency_ms=round((time.monotonic() - started) * 1000.0, 3),
                            ping_interval_s=eio.ping_interval, ping_timeout_s=eio.ping_timeout,
                            extra={"transport": eio.current_transport, "sid": sio.get_sid(opts.namespace)}))
        self._arm_watchdog()
        self._tasks.append(asyncio.create_task(self._writer(), name=f"sio-writer-{self.client.agent}"))

    def _refused(self, url: str, exc: socketio.exceptions.ConnectionError) -> None:
        refusal = self._refusal
        engine_failed = isinstance(exc.__cause__, engineio.exceptions.ConnectionError)
        if not engine_failed and refusal is not None:
            message = str(refusal.get("message") if isinstance(refusal, dict) else refusal)
            self._record(WsRefused(err_msg=message, body=str(refusal)[:300],
                                   explanation=f"the server refused the Socket.IO connect: {message}"))
            raise ConnectRefused(url, message) from None
        status, words, unreachable = handshake_failure(exc)
        if unreachable:
            raise ServerUnreachable(f"server {url} unreachable: {words}",
                                    hint="check --server (the backend's http:// base URL) and that it runs") from None
        explanation = (f"the Engine.IO handshake at path {self.options.path} failed ({words}): check the "
                       "Socket.IO path and transport of this deployment")
        self._record(WsRefused(status=status or 0, err_msg=words, explanation=explanation))
        raise ConnectRefused(url, words, status) from None

    async def _abandon_open(self) -> None:
        sio, self._sio = self._sio, None
        if sio is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), self.settings.close_timeout_s)
        await self._close_http()

    async def _close_http(self) -> None:
        http, self._http = self._http, None
        if http is not None and not http.closed:
            with contextlib.suppress(Exception):
                await http.close()

    # ---------------------------------------------------------------- handlers

    async def _on_connect(self) -> None:
        self._refusal = None

    async def _on_connect_error(self, data: Any = None) -> None:
        self._refusal = data

    async def _on_disconnect(self, reason: Any = "") -> None:
        if not self._opened or self._closed.is_set():
            return
        self.client.connection_closed(str(reason or ""), "client" if self._closing else "server", self.now_ms())
        self._finish()

    async def _on_event(self, event: str, *args: Any) -> None:
        try:
            self.client.receive_event(event, list(args), self.now_ms())
        except Exception as exc:  # a handler bug must not kill the connection
            self._record(Note(note="event_handler_error", text=f"{event}: {type(exc).__name__}: {exc}"))
        self.flush()

    def _on_ack(self, ack_id: str, *args: Any) -> None:
        self.client.receive_ack(ack_id, list(args), self.now_ms())
        self.flush()

    def _on_ping(self) -> None:
        self.client.ping(self.now_ms())
        self.flush()
        self._pinged.set()
        self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        """A silence past pingInterval + pingTimeout is a missed heartbeat (the server's own deadline)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        interval, timeout = self.client.ping_interval_s, self.client.ping_timeout_s
        if interval is None or timeout is None or self._closed.is_set():
            return
        self._watchdog = asyncio.get_running_loop().call_later(interval + timeout + 0.05, self._check_ping)

    def _check_ping(self) -> None:
        if self.is_open and self.client.ping_overdue(self.now_ms()):
            self.flush()

    # ---------------------------------------------------------------- emits

    async def request(self, ack_id: str) -> Any:
        """Send what the client queued for emit ``ack_id`` and wait ``request_timeout_s`` for its acknowledgement.

        An acknowledgement carrying an error is returned, not raised: the
        client has recorded it and the driver decides what a refusal means.
        """
        if not self.is_open:
            self.client.outputs()  # nothing can be sent any more
            raise SocketClosed(f"emit (ack {ack_id}): not connected")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[ack_id] = future
        self.flush()
        seconds = self.settings.request_timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(future), seconds)
        except TimeoutError:
            self._waiters.pop(ack_id, None)
            future.cancel()
            self.client.abandon(ack_id, "request_timeout_s", seconds)
            self.flush()
            raise DeadlineExceeded(f"acknowledgement of emit {ack_id}", "request_timeout_s", seconds) from None

    async def _writer(self) -> None:
        # one writer: python-socketio's emit is not safe to run concurrently on one connection
        while True:
            out = await self._writes.get()
            sio = self._sio
            if sio is None:
                return
            try:
                await sio.emit(out.event, out.payload, namespace=self.options.namespace,
                               callback=functools.partial(self._on_ack, out.ack_id))
            except socketio.exceptions.SocketIOError as exc:
                self._record(Note(note="emit_failed", text=f"{out.event}: {type(exc).__name__}: {exc}"))

    async def wait_ping(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the server's next ping; True when one came."""
        self._pinged.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pinged.wait(), seconds)
        return self._pinged.is_set()

    # ---------------------------------------------------------------- closing

    def _finish(self) -> None:
        self.flush()
        self._closed.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def close(self) -> None:
        """Disconnect on purpose and wait (``close_timeout_s``) for it to be done."""
        sio = self._sio
        if sio is not None and self._opened and not self._closed.is_set():
            self._closing = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), self.settings.close_timeout_s)
            if not self._closed.is_set():
                self.client.connection_closed("client disconnect", "client", self.now_ms())
                self._finish()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._close_http()

    async def wait_closed(self, seconds: float, setting: str) -> None:
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            raise DeadlineExceeded("connection close", setting, seconds) from None


async def probe_connect(base_url: str, options: SocketioOptions, token: str | None,
                        settings: ClientSettings) -> dict[str, Any]:
    """Try a connect that must be refused, and say how it went (``analysis.diagnostics.links``).

    Returns the probe marker fields: ``outcome`` (accepted / refused /
    failed), ``status`` (HTTP status of a failed handshake, else None),
    ``err_msg`` (the ``connect_error`` message).
    """
    refusal: list[Any] = []

    async def on_error(data: Any = None) -> None:
        refusal.append(data)

    seconds = settings.connect_timeout_s
    http = aiohttp.ClientSession()
    sio = _SocketClient(reconnection=False, logger=LIBRARY_LOGGER, engineio_logger=LIBRARY_LOGGER,
                        handle_sigint=False, request_timeout=settings.request_timeout_s, http_session=http)
    sio.on("connect_error", on_error, namespace=options.namespace)
    auth = Payloads(options).auth(token) if token is not None and options.token_in == "auth" else None
    try:
        async with asyncio.timeout(seconds):
            await sio.connect(connect_url(base_url, options, token), auth=auth, transports=[options.transport],
                              namespaces=[options.namespace], socketio_path=options.path.strip("/"), wait=True,
                              wait_timeout=seconds)
        return {"outcome": "accepted", "status": 101 if options.transport == "websocket" else 200}
    except socketio.exceptions.ConnectionError as exc:
        if not isinstance(exc.__cause__, engineio.exceptions.ConnectionError) and refusal:
            data = refusal[-1]
            message = str(data.get("message") if isinstance(data, dict) else data)
            return {"outcome": "refused", "status": None, "err_msg": message}
        status, words, _ = handshake_failure(exc)
        return {"outcome": "refused" if status is not None else "failed", "status": status, "err_msg": words,
                "error": words}
    except TimeoutError:
        return {"outcome": "failed", "status": None, "error": f"no answer within {seconds:g} s (connect_timeout_s)"}
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sio.disconnect(), settings.close_timeout_s)
        with contextlib.suppress(Exception):
            await http.close()


__all__ = ["ConnectRefused", "SocketClosed", "SocketioConnection", "probe_connect", "redact"]
