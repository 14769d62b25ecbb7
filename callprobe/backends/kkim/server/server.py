"""The embedded reference gateway: a WebSocket server and the auth HTTP API.

``EmbeddedGateway`` runs both in the current event loop (the runner uses it
in-process); ``ThreadedGateway`` runs one in a thread with its own loop, for
callers that are not async or want the gateway off their loop. Port 0 picks a
free port; the actual URLs are known after ``start()``.

Handshake refusals follow docs/backends/kkim.md#handshake: without ``isMsgResp`` the reply is HTTP 200
with the JSON error body and no upgrade; with ``isMsgResp=true`` the
connection is upgraded, gets one text frame with the JSON, then a close 1008.

Start-up takes the database lock (``store_lock``) before opening a ``--db``
file, so a second server on the same file fails to start instead of
corrupting its sequence numbers; a port in use or a locked database is a
``ServerStartError`` (exit code 6). Both ports listen on ``GuardedListener``
sockets, which keep accepting sanely when descriptors run out, and the
WebSocket side refuses handshakes past ``max_connections`` with 1601
ConnOverMaxNumLimit, as upstream does (``docs/backends/kkim.md#limits``).
"""

from __future__ import annotations

import asyncio
import http
import logging
import threading
import time
from types import TracebackType
from typing import Self

from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from callprobe.backends.base import Endpoints
from callprobe.backends.database import check_path
from callprobe.backends.kkim.protocol.constants import HandshakeCode
from callprobe.backends.kkim.server.api import AuthApi
from callprobe.backends.kkim.server.core import GatewayCore
from callprobe.backends.kkim.server.handlers import Handlers
from callprobe.backends.kkim.server.handshake import (
    HandshakeCrash,
    HandshakeRejection,
    check_handshake,
    wants_msg_resp,
)
from callprobe.backends.kkim.server.http_guard import ApiConnections, BadHttpLines
from callprobe.backends.kkim.server.listen import (
    GuardedListener,
    Throttled,
    fd_shortage_log,
    open_listener,
)
from callprobe.backends.kkim.server.logsafe import one_line
from callprobe.backends.kkim.server.session import (
    GatewayConnection,
    Session,
    refuse_after_upgrade,
)
from callprobe.backends.kkim.server.store import OWNER, Store
from callprobe.backends.listen import listen_error
from callprobe.backends.store_lock import DatabaseLock
from callprobe.errors import ConfigError, ServerStartError
from callprobe.settings import GatewaySettings

#: the logger every gateway module writes to (children: ``.api``, ``.websockets``)
LOGGER_NAME = "callprobe.server.kkim"
#: the auth API's lines
API_LOGGER = f"{LOGGER_NAME}.api"
#: the websockets library's own lines about the gateway's connections
WEBSOCKETS_LOGGER = f"{LOGGER_NAME}.websockets"

#: aiohttp's own lines about the auth API's connections (malformed HTTP, bugs)
API_HTTP_LOGGER = f"{API_LOGGER}.http"

log = logging.getLogger(LOGGER_NAME)
for _name in (LOGGER_NAME, API_LOGGER, WEBSOCKETS_LOGGER):
    one_line(logging.getLogger(_name))  # one record, one line, whatever a client sent
_http_log = logging.getLogger(API_HTTP_LOGGER)
if not any(isinstance(f, BadHttpLines) for f in _http_log.filters):
    _http_log.addFilter(BadHttpLines())
one_line(_http_log)


class EmbeddedGateway:
    """A KKIM gateway on loopback; use ``async with`` or ``start()``/``stop()``.

    Every line it logs goes to the ``callprobe.backends.kkim.server`` logger or a child of
    it (``callprobe.backends.kkim.server.api``, and ``callprobe.backends.kkim.server.websockets`` for the
    websockets library's lines about its connections). In-process embedders
    set that one logger's level to keep the gateway off the user's terminal:
    ``logging.getLogger("callprobe.server.kkim").setLevel(logging.ERROR)``.
    Malformed or refused input is logged at WARNING, one line each; the
    connection life cycle and call transitions at INFO.
    """

    def __init__(self, settings: GatewaySettings | None = None) -> None:
        self.settings = settings or GatewaySettings()
        self._core: GatewayCore | None = None
        self._handlers: Handlers | None = None
        self._ws_server: Server | None = None
        self._api_runner: web.AppRunner | None = None
        self._api_server: asyncio.Server | None = None
        self._listeners: list[GuardedListener] = []
        self._lock: DatabaseLock | None = None
        self.api_connections: ApiConnections | None = None
        self._over_limit = Throttled(log, self.settings.fd_log_interval_s,
                                     "%d WebSocket handshake(s) refused with 1601 ConnOverMaxNumLimit since the last "
                                     "report: the gateway holds max_connections=%s (logged at most every %g s)",
                                     self.settings.max_connections, self.settings.fd_log_interval_s)
        self._ws_port = 0
        self._api_port = 0

    # ------------------------------------------------------------ public

    @property
    def ws_url(self) -> str:
        """``ws://host:port`` of the message gateway (valid after ``start()``)."""
        self._require_started()
        return f"ws://{self.settings.host}:{self._ws_port}"

    @property
    def api_url(self) -> str:
        """``http://host:port`` of the auth API (valid after ``start()``)."""
        self._require_started()
        return f"http://{self.settings.host}:{self._api_port}"

    @property
    def endpoints(self) -> Endpoints:
        """The gateway and its auth API (valid after ``start()``)."""
        return Endpoints(self.ws_url, self.api_url)

    def active_faults(self) -> list[str]:
        return self.core.faults.active()

    @property
    def core(self) -> GatewayCore:
        """Shared state, for inspection in tests and benchmarks."""
        self._require_started()
        assert self._core is not None
        return self._core

    @property
    def started(self) -> bool:
        return self._core is not None

    async def start(self) -> None:
        """Lock and open the store, then bind both ports.

        Raises:
            ConfigError: the database file is unusable, both ports are the
                same, the host does not resolve or is not on this machine.
            ServerStartError: another server holds the database, a port is
                in use (or another bind failure).
        """
        if self._core is not None:
            return
        settings = self.settings
        if settings.ws_port and settings.ws_port == settings.api_port:
            raise ConfigError(f"--ws-port and --api-port are both {settings.ws_port}: the WebSocket gateway "
                              "and the auth API need a port each",
                              hint="give them different ports, or 0 to pick free ones")
        check_path(settings.db_path, OWNER)  # a missing folder is named as such, not as an unusable lock file
        lock = DatabaseLock(settings.db_path)
        lock.acquire()  # before the file is opened: a second server must not write to it
        try:
            store = Store(settings.db_path)
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        core = GatewayCore(settings, store)
        handlers = Handlers(core)
        option, port = "--ws-port", settings.ws_port
        try:
            ws_sock = self._listen(settings.host, settings.ws_port, "the WebSocket port")
            self._ws_server = await serve(
                self._serve_connection, sock=ws_sock,
                process_request=self._process_request,
                # docs/backends/kkim.md: #connection-url (no permessage-deflate), #frame-size
                # (close 1009 over the limit), #heartbeat (the session owns heartbeats)
                compression=None,
                max_size=settings.max_message_size,
                ping_interval=None, ping_timeout=None,
                open_timeout=settings.handshake_timeout_s,
                close_timeout=settings.close_timeout_s,
                create_connection=GatewayConnection,
                logger=logging.getLogger(WEBSOCKETS_LOGGER),
            )
            self._ws_port = ws_sock.getsockname()[1]
            option, port = "--api-port", settings.api_port
            api_sock = self._listen(settings.host, settings.api_port, "the auth API port")
            runner = web.AppRunner(
                AuthApi(core).app, access_log=None, handle_signals=False,
                logger=logging.getLogger(API_HTTP_LOGGER),
                keepalive_timeout=settings.api_idle_timeout_s,  # the idle timeout
                lingering_time=0,       # a body left unread (too slow, too big) is not waited for
                auto_decompress=False)  # as gin: a Content-Encoding'd body is not inflated
            await runner.setup()
            self._api_runner = runner
            assert runner.server is not None  # set up above
            guard = ApiConnections(runner.server, settings, logging.getLogger(API_LOGGER))
            self.api_connections = guard
            self._api_server = await asyncio.get_running_loop().create_server(guard.protocol, sock=api_sock)
            self._api_port = api_sock.getsockname()[1]
        except OSError as exc:
            await self._close_servers()
            store.close()
            self._release_lock()
            raise listen_error(exc, settings.host, port, option, "--host, --ws-port and --api-port") from None
        except BaseException:
            await self._close_servers()
            store.close()
            self._release_lock()
            raise
        self._core, self._handlers = core, handlers
        active = core.faults.active()
        log.info("gateway on %s, api on %s%s", self.ws_url, self.api_url,
                 f", faults: {', '.join(active)}" if active else "")

    async def stop(self) -> None:
        """Close every connection and both ports, then the store and its lock; safe to call twice."""
        core, handlers = self._core, self._handlers
        if core is None:
            return
        self._core = None
        if handlers is not None:
            handlers.signaling.stop()
        await self._close_servers()
        core.store.close()
        self._release_lock()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # ----------------------------------------------------------- private

    def _require_started(self) -> None:
        if self._core is None:
            raise ConfigError("the embedded gateway is not started: call start() first")

    def _listen(self, host: str, port: int, what: str) -> GuardedListener:
        sock = open_listener(host, port, self.settings.listen_backlog)
        self._listeners.append(sock)
        sock.arm(fd_shortage_log(log, f"{what} ({host}:{sock.getsockname()[1]})", self.settings.fd_log_interval_s))
        return sock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def _close_servers(self) -> None:
        timeout = self.settings.shutdown_timeout_s
        if self._ws_server is not None:
            self._ws_server.close(close_connections=True)
            try:
                await asyncio.wait_for(self._ws_server.wait_closed(), timeout)
            except TimeoutError:
                log.warning("connections still open %g s after shutdown began", timeout)
            self._ws_server = None
        if self._api_server is not None:
            self._api_server.close()  # stop accepting; the runner closes its connections
            self._api_server = None
        if self._api_runner is not None:
            await self._api_runner.cleanup()
            self._api_runner = None
        if self.api_connections is not None:
            self.api_connections.close_all()
        for sock in self._listeners:  # closed by their servers, unless start failed before
            sock.close()
        self._listeners.clear()

    def _process_request(self, conn: ServerConnection, request: WsRequest) -> WsResponse | None:
        assert isinstance(conn, GatewayConnection)
        ws = conn
        core = self._core
        if core is None:  # still starting or already stopping
            return ws.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "gateway not ready\n")
        try:
            self._check_connection_limit(request)
            ws.params = check_handshake(request.path, dict(request.headers.raw_items()),
                                        core.authority, time.time(), core.faults)
            return None
        except HandshakeRejection as refusal:
            if refusal.err_code == HandshakeCode.CONN_OVER_MAX_NUM:
                self._over_limit.note()  # a flood at the limit is summed up, not logged per handshake
            else:
                log.warning("handshake refused: %s", refusal)
            if refusal.is_msg_resp:
                ws.refusal = refusal
                return None
            response = ws.respond(http.HTTPStatus.OK, refusal.body())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        except HandshakeCrash as crash:
            log.warning("fault handshake-crash: %s, answering HTTP 500", crash)
            return ws.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, "500 Internal Server Error\n")

    def _check_connection_limit(self, request: WsRequest) -> None:
        """Past ``max_connections`` (this one counted), refuse with 1601 as upstream.

        See docs/backends/kkim.md#handshake.
        """
        limit = self.settings.max_connections
        server = self._ws_server
        if limit is None or server is None or len(server.handler_tasks) <= limit:
            return
        raise HandshakeRejection(int(HandshakeCode.CONN_OVER_MAX_NUM), "ConnOverMaxNumLimit",
                               f"the gateway has {limit} connections (setting max_connections)",
                               wants_msg_resp(request.path))

    async def _serve_connection(self, conn: ServerConnection) -> None:
        assert isinstance(conn, GatewayConnection)
        ws = conn
        core, handlers = self._core, self._handlers
        if ws.refusal is not None:
            await refuse_after_upgrade(ws, ws.refusal)
            return
        if core is None or handlers is None or ws.params is None:
            return
        await Session(core, ws, ws.params, handlers.dispatch).run()


class ThreadedGateway:
    """An ``EmbeddedGateway`` on its own event loop in a daemon thread.

    ``with ThreadedGateway(settings) as gw:`` starts it (waiting at most
    ``shutdown_timeout_s`` for the ports) and always stops it on exit.
    """

    def __init__(self, settings: GatewaySettings | None = None) -> None:
        self.gateway = EmbeddedGateway(settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    @property
    def ws_url(self) -> str:
        return self.gateway.ws_url

    @property
    def api_url(self) -> str:
        return self.gateway.api_url

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="callprobe-gateway", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.gateway.settings.shutdown_timeout_s + 5):
            raise ServerStartError("the gateway thread did not start in time")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(self.gateway.settings.shutdown_timeout_s + 5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        async def body() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.gateway.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await self.gateway.stop()
        asyncio.run(body())
