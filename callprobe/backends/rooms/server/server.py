"""The embedded call-room server: one aiohttp application on one port (``docs/backends/rooms.md``).

``EmbeddedRoomServer`` runs in the current event loop: ``callprobe serve
--backend rooms`` runs it on its own, the engine embeds it in-process. Port 0
picks a free port; the URL is known after ``start()``. With ``db_path`` it
holds ``DatabaseLock`` on the file for as long as it runs.

Connections are accepted through ``_accept``: past ``max_connections`` open
ones a new connection gets a 503 and is closed before aiohttp sees it. HTTP
requests aiohttp cannot parse are logged on one WARNING line (``_HttpLog``),
never with a traceback; a traceback in this server's log is a bug.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from callprobe.backends.base import Endpoints
from callprobe.backends.listen import listen_error
from callprobe.backends.rooms.server import jsontext
from callprobe.backends.rooms.server.api import RestApi, refusals
from callprobe.backends.rooms.server.auth import Authority
from callprobe.backends.rooms.server.errors import CloseCode
from callprobe.backends.rooms.server.faults import Faults
from callprobe.backends.rooms.server.log import LOGGER_NAME, log, shown
from callprobe.backends.rooms.server.room import RoomHub
from callprobe.backends.rooms.server.service import CallService
from callprobe.backends.rooms.server.store import Store
from callprobe.backends.rooms.server.ws import RoomEndpoint
from callprobe.backends.store_lock import DatabaseLock
from callprobe.errors import ConfigError
from callprobe.settings import RoomServerSettings

__all__ = ["LOGGER_NAME", "EmbeddedRoomServer", "create_server"]


class _HttpLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's per-connection logger: a request it could not parse is a client's mistake, one
    WARNING line; any other exception keeps its traceback, because it is a bug of the server."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if not self._refusal(exc, msg, args):
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: object, exc_info: Any = None, **kwargs: Any) -> None:
        # aiohttp logs a first request with an unknown method (not HTTP at all) at debug level
        if not self._refusal(exc_info, msg, args):
            self.logger.debug(msg, *args, exc_info=exc_info, **kwargs)

    def _refusal(self, exc: object, msg: object, args: tuple[object, ...]) -> bool:
        if not isinstance(exc, HttpProcessingError):
            return False
        self.logger.warning("refused an unparsable HTTP request (%s): %d %s", str(msg) % args,
                            exc.code, shown(exc.message, 160))
        return True


class _Busy(asyncio.Protocol):
    """Stands in for aiohttp on a connection over ``max_connections``: a 503, then closed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        body = jsontext.dumps({"error": f"too many connections (max {self.limit})"}).encode()
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        log.warning("refused a connection from %s: %d connections open (max_connections), answered 503",
                    transport.get_extra_info("peername"), self.limit)
        transport.write(head + body)
        transport.close()


class _Counted(asyncio.Protocol):
    """aiohttp's handler of one connection, counted from the moment it is accepted.

    asyncio may accept a whole batch of connections before the first one's
    ``connection_made`` runs, so aiohttp's own list of connections lags
    behind; counting here keeps ``max_connections`` exact. Every event is
    passed on unchanged.
    """

    def __init__(self, inner: asyncio.Protocol, counted: set[_Counted]) -> None:
        self.inner = inner
        self.counted = counted
        counted.add(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.counted.discard(self)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


@dataclass
class _Running:
    """Everything a started server holds, released in ``stop()``."""

    lock: DatabaseLock
    store: Store
    service: CallService
    hub: RoomHub
    runner: web.AppRunner
    listener: asyncio.Server
    port: int


class EmbeddedRoomServer:
    """The call-room service on loopback; ``async with`` or ``start()``/``stop()``.

    Args:
        settings: every limit and timeout (``RoomServerSettings``), faults included.
        access_log: also log one INFO line per HTTP request.
    """

    def __init__(self, settings: RoomServerSettings | None = None, *, access_log: bool = False) -> None:
        self.settings = settings or RoomServerSettings()
        self.faults = Faults.from_pairs(self.settings.faults)
        self.access_log = access_log
        self._running: _Running | None = None
        self._counted: set[_Counted] = set()

    # ------------------------------------------------------------ EmbeddedServer

    @property
    def url(self) -> str:
        """``http://host:port`` (valid after ``start()``)."""
        return f"http://{self.settings.host}:{self._state().port}"

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.url)

    def active_faults(self) -> list[str]:
        return self.faults.active()

    @property
    def started(self) -> bool:
        return self._running is not None

    async def start(self) -> None:
        """Lock and open the database, then listen.

        Raises:
            ServerStartError: the database is locked by another server, the
                port is in use or cannot be bound.
            ConfigError: the database file is unusable, the host is not
                an address of this machine.
        """
        if self._running is not None:
            return
        settings = self.settings
        lock = DatabaseLock(settings.db_path)
        lock.acquire()
        try:
            store = Store(settings.db_path)
        except BaseException:
            lock.release()
            raise
        hub = RoomHub(self.faults)
        service = CallService(store, hub, settings, self.faults)
        authority = Authority(settings.secret, settings.token_expire_s, store)
        app = web.Application(middlewares=[refusals], client_max_size=settings.max_body_bytes)
        app.add_routes(RestApi(service, authority, settings).routes())
        app.add_routes([RoomEndpoint(service, hub, authority, settings, self.faults).route()])
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_timeout_s,
                               access_log=log if self.access_log else None,
                               keepalive_timeout=settings.keepalive_timeout_s, lingering_time=settings.body_linger_s,
                               logger=_HttpLog(log, {}))
        await runner.setup()
        try:
            listener = await asyncio.get_running_loop().create_server(
                lambda: self._accept(runner), settings.host, settings.port, reuse_address=True)
        except OSError as exc:
            await runner.cleanup()
            store.close()
            lock.release()
            raise listen_error(exc, settings.host, settings.port) from None
        port = int(listener.sockets[0].getsockname()[1])
        self._running = _Running(lock, store, service, hub, runner, listener, port)
        service.start()
        active = self.faults.active()
        log.info("call-room server on %s, db %s, faults: %s", self.url, settings.db_path or "(in memory)",
                 ", ".join(active) if active else "none")

    async def stop(self) -> None:
        """Close every room socket (1001), every HTTP connection, then the database; safe to call twice."""
        running, self._running = self._running, None
        if running is None:
            return
        running.service.stop()
        running.listener.close()
        await running.hub.close_all(CloseCode.GOING_AWAY, "server shutting down")
        await running.runner.cleanup()
        try:
            await asyncio.wait_for(running.listener.wait_closed(), self.settings.shutdown_timeout_s)
        except TimeoutError:
            log.warning("connections still open %g s after shutdown began", self.settings.shutdown_timeout_s)
        running.store.close()
        running.lock.release()
        log.info("call-room server stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # ------------------------------------------------------------ inspection (tests)

    @property
    def store(self) -> Store:
        return self._state().store

    @property
    def hub(self) -> RoomHub:
        return self._state().hub

    # ------------------------------------------------------------ private

    def _state(self) -> _Running:
        if self._running is None:
            raise ConfigError("the call-room server is not started: call start() first")
        return self._running

    def _accept(self, runner: web.AppRunner) -> asyncio.BaseProtocol:
        server = runner.server
        assert server is not None
        if len(self._counted) >= self.settings.max_connections:
            return _Busy(self.settings.max_connections)
        return _Counted(server(), self._counted)


def create_server(*, host: str, port: int, db_path: str | None, secret: str | None,
                  faults: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
                  verbose: int = 0) -> EmbeddedRoomServer:
    """The server ``callprobe serve --backend rooms`` runs (not started yet).

    ``secret`` ``None`` (or empty) keeps the settings' default; every fault
    is checked now, so a bad one is a ``ConfigError`` before anything binds.
    ``verbose`` 2 or more adds one INFO line per HTTP request.
    """
    settings = RoomServerSettings(host=host, port=port, db_path=db_path,
                                  secret=secret or RoomServerSettings.secret, faults=tuple(faults))
    return EmbeddedRoomServer(settings, access_log=verbose > 1)
