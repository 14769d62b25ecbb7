"""The embedded Socket.IO chat backend: REST API and Socket.IO on one aiohttp port.

``EmbeddedChatServer`` runs in the current event loop (the engine embeds it
in-process; ``callprobe serve --backend socketio`` runs it through
``create_server``). Port 0 picks a free port; the URL is known after
``start()``. Everything it logs goes to the ``callprobe.server.socketio``
logger or its children (``.api``, ``.http`` for aiohttp, ``.lib`` for
python-socketio/engineio): one WARNING line per refused input, INFO for
connections and call transitions.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from socketio.exceptions import ConnectionRefusedError as SioConnectionRefused

from callprobe.backends.base import Endpoints
from callprobe.backends.listen import listen_error
from callprobe.backends.socketio.server.api import ChatApi, json_errors
from callprobe.backends.socketio.server.auth import Tokens
from callprobe.backends.socketio.server.engine import GuardedServer
from callprobe.backends.socketio.server.faults import Faults
from callprobe.backends.socketio.server.handlers import ChatHandlers
from callprobe.backends.socketio.server.store import Store
from callprobe.backends.store_lock import DatabaseLock
from callprobe.errors import ConfigError
from callprobe.settings import ChatServerSettings

#: the logger every module of this server writes to, directly or through a child
LOGGER_NAME = "callprobe.server.socketio"
#: python-socketio's and python-engineio's own lines (DEBUG chatter, WARNING complaints)
LIBRARY_LOGGER = f"{LOGGER_NAME}.lib"
#: aiohttp's lines about this server's HTTP connections
HTTP_LOGGER = f"{LOGGER_NAME}.http"

log = logging.getLogger(LOGGER_NAME)


class EmbeddedChatServer:
    """A Socket.IO chat backend on loopback; ``async with`` or ``start()``/``stop()``."""

    def __init__(self, settings: ChatServerSettings | None = None) -> None:
        self.settings = settings or ChatServerSettings()
        self._faults = Faults.from_pairs(self.settings.faults)
        self._lock = DatabaseLock(self.settings.db_path)
        self._store: Store | None = None
        self._handlers: ChatHandlers | None = None
        self._sio: GuardedServer | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ------------------------------------------------------------ public

    @property
    def url(self) -> str:
        """``http://host:port``, the base of the REST API and of ``/socket.io`` (after ``start()``)."""
        self._require_started()
        return f"http://{self.settings.host}:{self._port}"

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.url)

    def active_faults(self) -> list[str]:
        return self._faults.active()

    @property
    def handlers(self) -> ChatHandlers:
        """Presence, open calls and store, for inspection in tests."""
        self._require_started()
        assert self._handlers is not None
        return self._handlers

    @property
    def started(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        """Lock and open the database, bind the port, restore open calls.

        Raises:
            ServerStartError: the port is in use, or another server holds ``--db``.
            ConfigError: the database file is unusable, or the host is not on this machine.
        """
        if self._runner is not None:
            return
        settings = self.settings
        self._lock.acquire()
        try:
            store = Store(settings.db_path)
        except BaseException:
            self._lock.release()
            raise
        sio = GuardedServer(settings)
        handlers = ChatHandlers(sio, store, Tokens(settings.secret, settings.token_expire_s), self._faults,
                                settings)
        sio.on("connect", self._guard_connect(handlers))
        sio.on("disconnect", handlers.disconnect)
        sio.dispatch, sio.gone = handlers.event, handlers.disconnect
        runner = web.AppRunner(self._app(sio, handlers), handle_signals=False, access_log=None,
                               shutdown_timeout=settings.shutdown_timeout_s,
                               logger=logging.getLogger(HTTP_LOGGER))
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.host, settings.port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            store.close()
            self._lock.release()
            raise listen_error(exc, settings.host, settings.port) from None
        self._port = int(runner.addresses[0][1])
        self._store, self._sio, self._handlers, self._runner = store, sio, handlers, runner
        handlers.restore_calls()
        active = self.active_faults()
        log.info("socketio chat server on %s, db %s, faults: %s", self.url, settings.db_path or "(in memory)",
                 ", ".join(active) if active else "none")

    async def stop(self) -> None:
        """Disconnect every socket, close the port, the store and the lock; safe to call twice."""
        runner, sio, handlers, store = self._runner, self._sio, self._handlers, self._store
        if runner is None:
            return
        self._runner = None
        if handlers is not None:
            handlers.stop()
        if sio is not None:
            await sio.close_all(self.settings.shutdown_timeout_s)
        await runner.cleanup()
        if store is not None:
            store.close()
        self._lock.release()
        self._store = self._sio = self._handlers = None
        log.info("socketio chat server stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # ----------------------------------------------------------- private

    def _require_started(self) -> None:
        if self._runner is None:
            raise ConfigError("the embedded chat server is not started: call start() first")

    def _app(self, sio: GuardedServer, handlers: ChatHandlers) -> web.Application:
        settings = self.settings
        app = web.Application(client_max_size=max(settings.max_body_bytes, settings.max_packet_bytes),
                              middlewares=[json_errors])
        ChatApi(handlers.store, handlers.tokens, settings, self._faults).add_routes(app)
        sio.add_route(app)
        return app

    @staticmethod
    def _guard_connect(handlers: ChatHandlers) -> Any:
        """The connect handler; its own failure is a bug: logged with its traceback, connect refused."""
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            try:
                await handlers.connect(sid, environ, auth)
            except SioConnectionRefused:
                raise
            except Exception:
                log.exception("internal error accepting a connect")
                raise SioConnectionRefused("internal error") from None
        return connect


def create_server(*, host: str, port: int, db_path: str | None, secret: str | None,
                  faults: tuple[tuple[str, str], ...], verbose: int = 0) -> EmbeddedChatServer:
    """The server ``callprobe serve --backend socketio`` runs.

    ``secret`` ``None`` keeps the settings' default; ``verbose`` > 1 shows the
    Socket.IO libraries' own DEBUG lines.
    """
    logging.getLogger(LIBRARY_LOGGER).setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    settings = ChatServerSettings(host=host, port=port, db_path=db_path,
                                  secret=ChatServerSettings.secret if secret is None else secret, faults=faults)
    return EmbeddedChatServer(settings)
