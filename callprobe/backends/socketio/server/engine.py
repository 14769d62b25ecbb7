"""python-socketio's ``AsyncServer``, hardened against hostile clients.

See ``docs/backends/socketio.md#refusals-and-limits``.

The library parses frames and packets trustingly: some malformed input raises
out of its receive loops and is logged with a traceback, and every event of a
socket is handled however fast it arrives. This module puts a guard at each
door, so that bad input ends in a refusal the client can read and one WARNING
line, never a traceback:

* the HTTP endpoint (``/socket.io/``): a handshake beyond ``max_connections``
  gets 503, a long-polling body that is not a valid Engine.IO payload gets
  400, each with JSON ``{detail}``;
* the WebSocket transport: a frame that is not an Engine.IO packet, or a
  binary frame, closes the socket with code 1008 and a reason; a frame over
  ``max_packet_bytes`` is closed by aiohttp with 1009;
* Socket.IO packets: undecodable, binary or out-of-place packets close the
  socket; every packet spends a token of the socket's rate limit; an event
  that is not ``[name, payload...]``, nests too deep or is over the rate gets
  an error acknowledgement (or an ``error`` event when it asked for none);
* a socket that has not completed a Socket.IO connect ``connect_timeout_s``
  after its handshake is closed.

The libraries' own log lines are re-emitted on one line each under
``callprobe.server.socketio.lib`` (``LibraryLog``). Events are dispatched here rather than by
the library, to the ``dispatch`` coroutine the server sets.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aiohttp import WSMsgType, web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import packet as sio_packet

from callprobe.backends.socketio.server.limits import (
    RateLimit,
    depth_exceeds,
    one_line,
    quote,
)
from callprobe.settings import ChatServerSettings

log = logging.getLogger("callprobe.server.socketio")
lib_log = logging.getLogger("callprobe.server.socketio.lib")

SOCKETIO_PATH = "/socket.io/"
#: Engine.IO payloads (long-polling bodies) hold at most this many packets (the library's own cap)
MAX_PAYLOAD_PACKETS = 16
#: a close reason must fit a control frame (RFC 6455 §5.5: 125 bytes, 2 of them the code)
_MAX_REASON_BYTES = 123
_CLIENT_EIO_TYPES = "123456"       # CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP (not OPEN, not base64 "b")
_POLICY_VIOLATION = 1008

Dispatch = Callable[[str, str, list[Any]], Awaitable[dict[str, Any]]]


class ProtocolViolation(Exception):
    """Input that breaks the Engine.IO/Socket.IO protocol: the socket is closed."""


class LibraryLog:
    """A logger for python-socketio/engineio: one escaped line per record, never a traceback.

    Their chatter goes to DEBUG and their complaints to INFO: every input they
    refuse is refused (and logged at WARNING) by this module as well, so their
    line would be a second one. An exception they log is a WARNING: the guards
    here should have kept its input out.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _line(self, msg: object, args: tuple[Any, ...]) -> str:
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args}"
        return one_line(text)

    def debug(self, msg: object, *args: Any, **_: Any) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("%s", self._line(msg, args))

    info = debug

    def warning(self, msg: object, *args: Any, **_: Any) -> None:
        self._logger.info("%s", self._line(msg, args))

    error = critical = warning

    def exception(self, msg: object, *args: Any, **_: Any) -> None:
        exc = sys.exc_info()[1]
        self._logger.warning("%s (%s: %s)", self._line(msg, args), type(exc).__name__, one_line(str(exc)))


def frame_problem(data: object) -> str | None:
    """Why ``data`` (a WebSocket frame or polling packet) is not a client's Engine.IO packet."""
    if not isinstance(data, str):
        return "binary frames are not part of this protocol"
    if not data:
        return "empty Engine.IO packet"
    if data[0] not in _CLIENT_EIO_TYPES:
        return f"not an Engine.IO packet a client sends (type {quote(data[:1])})"
    try:
        eio_packet.Packet(encoded_packet=data)
    except Exception as exc:
        return f"undecodable Engine.IO packet ({type(exc).__name__})"
    return None


def payload_problem(body: bytes) -> str | None:
    """Why a long-polling request body is not a valid Engine.IO payload."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return "payload is not UTF-8"
    if text.startswith("d="):
        return "JSONP payloads are not served"
    frames = text.split("\x1e") if text else []
    if len(frames) > MAX_PAYLOAD_PACKETS:
        return f"payload of more than {MAX_PAYLOAD_PACKETS} packets"
    return next((p for p in map(frame_problem, frames) if p), None)


def _library_detail(response: web.Response) -> str:
    """The text of one of the library's error replies (a JSON string, or plain text)."""
    raw = response.body if isinstance(response.body, bytes) else b""
    try:
        detail = json.loads(raw)
    except ValueError:
        detail = raw.decode(errors="replace")
    return detail if isinstance(detail, str) else str(detail)


class _Body:
    """``wsgi.input`` for the library, over a body the guard has already read and checked."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, length: int = -1) -> bytes:
        return self._data if length < 0 else self._data[:length]


async def _translate_request(request: web.Request) -> dict[str, Any]:
    environ: dict[str, Any] = eio_aiohttp.translate_request(request)
    if request.method == "POST":
        environ["wsgi.input"] = _Body(await request.read())
    return environ


class GuardedWebSocket:
    """The Engine.IO WebSocket transport over aiohttp, refusing bad frames itself."""

    def __init__(self, owner: GuardedServer, handler: Callable[[Any], Awaitable[None]], server: Any) -> None:
        self.owner, self.handler, self.server = owner, handler, server
        self.eio_sid: str = getattr(getattr(handler, "__self__", None), "sid", "?")
        self._sock: web.WebSocketResponse | None = None

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request: web.Request = environ["aiohttp.request"]
        sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size)
        await sock.prepare(request)
        self._sock = sock
        self.owner.websockets[self.eio_sid] = self
        self.environ = environ
        try:
            await self.handler(self)
        finally:
            self.owner.websockets.pop(self.eio_sid, None)
        return sock

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._sock is not None:
            await self._sock.close(code=code, message=reason.encode()[:_MAX_REASON_BYTES])

    async def send(self, message: str | bytes) -> None:
        assert self._sock is not None
        if isinstance(message, bytes):
            await self._sock.send_bytes(message)
        else:
            await self._sock.send_str(message)

    async def wait(self) -> str:
        """The next frame; ``OSError`` ends the library's receive loop on close or refusal."""
        assert self._sock is not None
        msg = await self._sock.receive()
        if msg.type is WSMsgType.ERROR:
            log.warning("socket %s: WebSocket error from the client: %s; closing it", self.eio_sid,
                        one_line(str(msg.data)))
            raise OSError("websocket error")
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            raise OSError("websocket closed")
        problem = frame_problem(msg.data)
        if problem is not None:
            log.warning("socket %s: %s: %s; closing it", self.eio_sid, problem, quote(msg.data))
            await self.close(_POLICY_VIOLATION, problem)
            raise OSError(problem)
        assert isinstance(msg.data, str)
        return msg.data


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` (aiohttp mode) with every input checked before the library sees it."""

    def __init__(self, settings: ChatServerSettings) -> None:
        library = LibraryLog(lib_log)
        super().__init__(async_mode="aiohttp", async_handlers=False, namespaces=["/"], logger=library,
                         engineio_logger=library, ping_interval=settings.ping_interval_s,
                         ping_timeout=settings.ping_timeout_s, max_http_buffer_size=settings.max_packet_bytes)
        self.settings = settings
        self.dispatch: Dispatch | None = None
        self.gone: Callable[[str, Any], Awaitable[None]] | None = None
        self.websockets: dict[str, GuardedWebSocket] = {}
        self._limits: dict[str, RateLimit] = {}
        self._deadlines: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # the library's aiohttp driver, with this module's reader of request bodies and WebSockets
        self.eio._async = {**self.eio._async, "translate_request": _translate_request,
                           "websocket": functools.partial(GuardedWebSocket, self)}

    def add_route(self, app: web.Application) -> None:
        app.router.add_route("*", SOCKETIO_PATH, self._endpoint)

    @property
    def open_sockets(self) -> int:
        return sum(1 for s in self.eio.sockets.values() if not s.closed)

    async def close_all(self, timeout: float) -> None:
        """Disconnect every socket (each user's last one broadcasts offline), then stop the library."""
        for handle in self._deadlines.values():
            handle.cancel()
        sockets = [s for s in self.eio.sockets.values() if not s.closed]
        closing = [s.close(wait=False, abort=False, reason=self.reason.SERVER_DISCONNECT) for s in sockets]
        closing += [ws.close(1001, "server shutting down") for ws in list(self.websockets.values())]
        if closing:
            try:
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), timeout)
            except TimeoutError:
                log.warning("sockets still open %g s after shutdown began", timeout)
        self.eio.sockets.clear()
        await self.shutdown()
        for task in self._tasks:
            task.cancel()

    # ------------------------------------------------------------ HTTP

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        """``/socket.io/``: the library's handler behind the connection limit and payload check.

        The library's own refusals (a bad ``sid``, transport or ``EIO`` version)
        are re-sent as JSON ``{detail}`` like every other refusal of this server.
        """
        refusal = await self._http_refusal(request)
        if refusal is None:
            try:
                response: web.StreamResponse = await self.handle_request(request)
            except Exception as exc:
                refusal = 400, f"request not understood ({type(exc).__name__})"
            else:
                if response.status < 400 or not isinstance(response, web.Response) or response.prepared:
                    return response
                refusal = response.status, _library_detail(response)
        status, detail = refusal
        log.warning("%s %s from %s refused %d: %s", request.method, quote(request.path_qs), request.remote, status,
                    one_line(detail))
        return web.json_response({"detail": detail}, status=status)

    async def _http_refusal(self, request: web.Request) -> tuple[int, str] | None:
        cap = self.settings.max_packet_bytes
        if "sid" not in request.query and self.open_sockets >= self.settings.max_connections:
            return 503, f"too many connections (limit {self.settings.max_connections})"
        if request.method != "POST":
            return None
        if request.content_length is None:
            return 411, "a long-polling POST needs a Content-Length"
        if request.content_length > cap:
            return 413, f"payload larger than {cap} bytes"
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return 413, f"payload larger than {cap} bytes"
        problem = payload_problem(body)
        return None if problem is None else (400, problem)

    # ------------------------------------------------------ Engine.IO events

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> None:
        await super()._handle_eio_connect(eio_sid, environ)
        self._limits[eio_sid] = RateLimit(self.settings.event_rate_per_s, self.settings.event_burst)
        loop = asyncio.get_running_loop()
        self._deadlines[eio_sid] = loop.call_later(self.settings.connect_timeout_s, self._connect_expired, eio_sid)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        handle = self._deadlines.pop(eio_sid, None)
        if handle is not None:
            handle.cancel()
        self._limits.pop(eio_sid, None)
        self._closing.discard(eio_sid)
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        await super()._handle_eio_disconnect(eio_sid, reason)
        # the library skips the disconnect handler for a socket that closed while its connect was being
        # accepted; the handler is idempotent, so call it again to never leave a ghost online
        if sid is not None and self.gone is not None:
            await self.gone(sid, reason)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._closing:
            return
        try:
            await self._message(eio_sid, data)
        except ProtocolViolation as exc:
            self._drop(eio_sid, str(exc))

    # ------------------------------------------------------ Socket.IO packets

    def _decode(self, data: Any) -> Any:
        if not isinstance(data, str):
            raise ProtocolViolation("binary Socket.IO packets are not part of this protocol")
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception as exc:
            raise ProtocolViolation(f"undecodable Socket.IO packet {quote(data)} "
                                    f"({type(exc).__name__})") from None
        if pkt.packet_type not in (sio_packet.CONNECT, sio_packet.DISCONNECT, sio_packet.EVENT, sio_packet.ACK):
            raise ProtocolViolation(f"Socket.IO packet type {pkt.packet_type} is not accepted from a client")
        return pkt

    async def _message(self, eio_sid: str, data: Any) -> None:
        pkt = self._decode(data)
        limit = self._limits.get(eio_sid)
        if limit is not None and not limit.take(time.monotonic()):
            await self._over_rate(eio_sid, pkt, limit)
            return
        namespace = pkt.namespace or "/"
        if pkt.packet_type == sio_packet.CONNECT:
            if depth_exceeds(pkt.data, self.settings.max_json_depth):
                raise ProtocolViolation(f"connect data nested deeper than {self.settings.max_json_depth} levels")
            if namespace != "/" or self.manager.sid_from_eio_sid(eio_sid, "/") is not None:
                why = "no such namespace" if namespace != "/" else "already connected"
                log.warning("socket %s: connect to %s refused: %s", eio_sid, quote(namespace), why)
                await self._send_packet(eio_sid, self.packet_class(sio_packet.CONNECT_ERROR, namespace=namespace,
                                                                   data={"message": why}))
                return
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
            if self.manager.sid_from_eio_sid(eio_sid, "/") is not None:
                handle = self._deadlines.pop(eio_sid, None)
                if handle is not None:
                    handle.cancel()
        elif pkt.packet_type == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif pkt.packet_type == sio_packet.ACK:
            log.warning("socket %s: acknowledgement %s for nothing (this server asks for none); ignored",
                        eio_sid, quote(pkt.id))
        else:
            await self._event(eio_sid, namespace, pkt)

    async def _event(self, eio_sid: str, namespace: str, pkt: Any) -> None:
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.manager.is_connected(sid, namespace):
            raise ProtocolViolation(f"event on namespace {quote(namespace)} before a connect to it")
        data = pkt.data
        name = data[0] if isinstance(data, list) and data else None
        if not isinstance(name, str):
            reply = {"error": "an event is an array whose first element is the event name (a string)"}
        elif depth_exceeds(data, self.settings.max_json_depth + 1):
            reply = {"error": f"payload nested deeper than {self.settings.max_json_depth} levels"}
        else:       # the handlers log their own refusals
            await self._reply(eio_sid, sid, namespace, pkt.id, name, await self._run(sid, name, data[1:]))
            return
        log.warning("socket %s: event %s refused: %s", eio_sid, quote(data), reply["error"])
        await self._reply(eio_sid, sid, namespace, pkt.id, name, reply)

    async def _run(self, sid: str, name: str, args: list[Any]) -> dict[str, Any]:
        """The handler's acknowledgement; a handler's own failure is a bug, logged with its traceback."""
        assert self.dispatch is not None
        try:
            return await self.dispatch(sid, name, args)
        except Exception:
            log.exception("internal error handling event %s", quote(name))
            return {"error": "internal error"}

    async def _reply(self, eio_sid: str, sid: str, namespace: str, ack_id: int | None, name: object,
                     reply: dict[str, Any]) -> None:
        """The acknowledgement; a refusal the client asked no acknowledgement for is an ``error`` event."""
        if ack_id is not None:
            await self._send_packet(eio_sid, self.packet_class(sio_packet.ACK, namespace=namespace, id=ack_id,
                                                               data=[reply]))
        elif "error" in reply:
            shown = name if isinstance(name, str) and len(name) <= 64 else None
            await self.emit("error", {"event": shown, **reply}, to=sid, namespace=namespace)

    async def _over_rate(self, eio_sid: str, pkt: Any, limit: RateLimit) -> None:
        """Refuse a packet over the socket's rate; drop the socket after too many in a row."""
        settings = self.settings
        if limit.refused == 1:
            log.warning("socket %s: more than %d packets at once or %g a second: refusing them until it "
                        "slows down", eio_sid, settings.event_burst, settings.event_rate_per_s)
        if limit.refused >= settings.flood_disconnect_after:
            sid = self.manager.sid_from_eio_sid(eio_sid, "/")
            if sid is not None:
                await self.emit("error", {"event": None, "error": "disconnected: too many packets over the "
                                          "rate limit"}, to=sid)
            self._drop(eio_sid, f"{limit.refused} packets in a row over the rate limit")
            return
        if pkt.packet_type == sio_packet.EVENT and pkt.id is not None:
            reply = {"error": f"rate limit: at most {settings.event_burst} events at once, "
                              f"{settings.event_rate_per_s:g} a second"}
            await self._send_packet(eio_sid, self.packet_class(sio_packet.ACK, namespace=pkt.namespace or "/",
                                                               id=pkt.id, data=[reply]))

    # ----------------------------------------------------------- closing

    def _connect_expired(self, eio_sid: str) -> None:
        self._deadlines.pop(eio_sid, None)
        if self.manager.sid_from_eio_sid(eio_sid, "/") is None and eio_sid in self.eio.sockets:
            self._drop(eio_sid, f"no Socket.IO connect within {self.settings.connect_timeout_s:g} s")

    def _drop(self, eio_sid: str, why: str) -> None:
        """Close a socket that broke the rules (one WARNING line), without waiting on the client."""
        if eio_sid in self._closing:
            return
        self._closing.add(eio_sid)
        log.warning("socket %s: %s; closing it", eio_sid, why)
        task = asyncio.get_running_loop().create_task(self._close(eio_sid, why))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self, eio_sid: str, why: str) -> None:
        websocket = self.websockets.get(eio_sid)
        if websocket is not None:       # the receive loop ends, the library cleans up
            await websocket.close(_POLICY_VIOLATION, why)
            return
        sock = self.eio.sockets.pop(eio_sid, None)
        if sock is not None:            # long-polling: the pending poll gets a CLOSE packet
            await sock.close(wait=False, abort=False, reason=self.reason.SERVER_DISCONNECT)
