"""The room socket, ``GET /ws/call/{call_uuid}`` (``docs/backends/rooms.md#the-room-socket``).

Before the upgrade: the identity (``identity.resolve``: 401, 403, or the
``handshake-crash`` 500), the call (404) and, for a checked identity, that it
is a party of the call (403); a request that passes but is no WebSocket
upgrade gets 400. After it: the read loop below. A frame the server cannot
act on gets an ``error`` message back and the socket stays open; binary
frames (1003), frames over ``max_frame_bytes`` (1009), invalid UTF-8 (1007)
and sending faster than ``frame_rate_per_s``/``frame_burst`` (1008) close it.
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus

from aiohttp import WebSocketError, WSMsgType, web

from callprobe.backends.rooms.server import messages
from callprobe.backends.rooms.server.auth import Authority, TokenRefused
from callprobe.backends.rooms.server.errors import CloseCode, HandshakeCrash, Refusal
from callprobe.backends.rooms.server.faults import Faults
from callprobe.backends.rooms.server.identity import VIA_TOKEN, Identity, resolve
from callprobe.backends.rooms.server.log import log, shown, who
from callprobe.backends.rooms.server.messages import BadMessage
from callprobe.backends.rooms.server.ratelimit import TokenBucket
from callprobe.backends.rooms.server.room import Connection, Room, RoomHub
from callprobe.backends.rooms.server.service import CallService
from callprobe.backends.rooms.server.store import Call, User
from callprobe.settings import RoomServerSettings

#: close codes aiohttp itself uses when it refuses a frame
_AIOHTTP_CLOSES = (CloseCode.PROTOCOL_ERROR, CloseCode.INVALID_DATA, CloseCode.TOO_BIG)


class RoomSocket(web.WebSocketResponse):
    """aiohttp closes a socket over a bad frame without a reason; this one always gives one."""

    def __init__(self, settings: RoomServerSettings) -> None:
        super().__init__(max_msg_size=settings.max_frame_bytes, heartbeat=settings.ws_heartbeat_s,
                         compress=False, timeout=settings.ws_close_timeout_s)
        self._reasons = {
            CloseCode.PROTOCOL_ERROR: "protocol error",
            CloseCode.INVALID_DATA: "text frame is not valid UTF-8",
            CloseCode.TOO_BIG: f"message over {settings.max_frame_bytes} bytes",
        }

    async def close(self, *, code: int = CloseCode.NORMAL, message: bytes = b"", drain: bool = True) -> bool:
        if not message and code in self._reasons:
            message = self._reasons[CloseCode(code)].encode()
        return await super().close(code=code, message=message, drain=drain)


class RoomEndpoint:
    """Admits room joins and runs each socket's read loop."""

    def __init__(self, service: CallService, hub: RoomHub, authority: Authority,
                 settings: RoomServerSettings, faults: Faults) -> None:
        self.service = service
        self.hub = hub
        self.authority = authority
        self.settings = settings
        self.faults = faults

    def route(self) -> web.RouteDef:
        return web.get("/ws/call/{call_uuid}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        call_uuid = request.match_info["call_uuid"]
        try:
            identity = resolve(call_uuid, request.query, request.headers, self.faults,
                               self._token_user, self.service.store.user)
        except HandshakeCrash as crash:
            log.warning("fault handshake-crash: %s from %s (call %s), answering HTTP 500 with no body",
                        crash, request.remote, shown(call_uuid))
            return web.Response(status=HTTPStatus.INTERNAL_SERVER_ERROR)
        call = self.service.find(call_uuid)
        if identity.checked and not call.party(identity.key):
            raise Refusal(HTTPStatus.FORBIDDEN, "not a party of this call")
        ws = RoomSocket(self.settings)
        if not ws.can_prepare(request).ok:
            raise Refusal(HTTPStatus.BAD_REQUEST, "expected a WebSocket upgrade")
        if identity.via != VIA_TOKEN:
            log.warning("room %s admits %s from %s without a token check (via %s)", call.uuid,
                        who(identity.key), request.remote, identity.via)
        await ws.prepare(request)
        await self._serve(ws, request, identity, call)
        return ws

    def _token_user(self, token: str) -> User:
        try:
            return self.authority.user(token, time.time())
        except TokenRefused as exc:
            raise Refusal(HTTPStatus.UNAUTHORIZED, str(exc)) from None

    async def _serve(self, ws: RoomSocket, request: web.Request, identity: Identity, call: Call) -> None:
        conn = Connection(ws, request, identity, call.uuid, self.settings)
        room = self.hub.join(call, conn)
        try:
            await self._read_loop(conn, room, call)
        finally:
            self.hub.leave(room, conn)
            await conn.finish()

    async def _read_loop(self, conn: Connection, room: Room, call: Call) -> None:
        settings = self.settings
        loop_time = asyncio.get_running_loop().time
        bucket = TokenBucket(settings.frame_rate_per_s, settings.frame_burst, loop_time())
        while True:
            msg = await conn.ws.receive()
            if msg.type is WSMsgType.TEXT:
                if not bucket.take(loop_time()):
                    log.warning("%s sends over %g messages/s (burst %d), closing %d", conn.label,
                                settings.frame_rate_per_s, settings.frame_burst, CloseCode.POLICY)
                    await conn.close(CloseCode.POLICY, f"rate limit: over {settings.frame_rate_per_s:g} "
                                                       f"messages/s or {settings.frame_burst} at once")
                    return
                self._on_text(conn, room, call, msg.data)
            elif msg.type is WSMsgType.BINARY:
                log.warning("%s sent a binary frame, closing %d", conn.label, CloseCode.UNSUPPORTED_DATA)
                await conn.close(CloseCode.UNSUPPORTED_DATA, "binary frames are not supported: send JSON text")
                return
            elif msg.type is WSMsgType.ERROR:
                code = msg.data.code if isinstance(msg.data, WebSocketError) else None
                if code in _AIOHTTP_CLOSES:
                    log.warning("%s: %s, closed %d", conn.label, shown(msg.data), code)
                else:
                    log.info("%s: connection lost: %s", conn.label, shown(msg.data))
                return
            else:  # CLOSE, CLOSING, CLOSED
                return

    def _on_text(self, conn: Connection, room: Room, call: Call, text: str) -> None:
        now = time.time()
        try:
            msg = messages.parse(text, self.settings.max_json_depth)
        except BadMessage as exc:
            log.warning("%s: bad message: %s", conn.label, shown(exc, 160))
            conn.send(messages.error(call.uuid, conn.key, str(exc), now))
            return
        if msg.type == messages.END:
            self.service.end_from_room(call, conn.key)  # anyone in the room may end: never refused
        targets = room.others(conn.key)
        if msg.type == "ice-candidate" and self.faults.relay_drops_candidates:
            log.info("fault relay-drops-candidates: ice-candidate from %s relayed to nobody", conn.label)
            targets = []
        relayed = messages.relayed(msg, call.uuid, conn.key, now)
        for target in targets:
            target.send(relayed)

