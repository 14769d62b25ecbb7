"""Call rooms: who is in each, and the notices they get (``docs/backends/rooms.md#join-notices``).

A room holds one entry per identity, in join order. On a join the newcomer
gets ``connection`` (everyone in the room, itself included) and everyone
already there gets ``join``, whichever party came first; on a leave the
others get ``leave``. A second socket of the same identity takes the entry
over: the older socket stays open but is no longer in the room, so it gets
no notices and its leaving tells nobody (this is also how two
``default-identity`` joins collapse into one entry).

Every socket has an outbox written by its own task, so a client that does
not read delays nobody else: past ``outbox_bytes`` it is closed 1008, and a
frame not written within ``ws_write_timeout_s`` drops its connection.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from callprobe.backends.rooms.server import jsontext, messages
from callprobe.backends.rooms.server.errors import CloseCode
from callprobe.backends.rooms.server.faults import Faults
from callprobe.backends.rooms.server.identity import Identity
from callprobe.backends.rooms.server.log import log, who, whos
from callprobe.backends.rooms.server.messages import UserKey
from callprobe.backends.rooms.server.store import Call
from callprobe.settings import RoomServerSettings

#: RFC 6455 §5.5: a close frame's reason fits in 123 bytes
_MAX_REASON = 123


class Connection:
    """One room socket: who it is, and an outbox its own task writes in order."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, identity: Identity,
                 call_uuid: str, settings: RoomServerSettings) -> None:
        self.ws = ws
        self.identity = identity
        self.call_uuid = call_uuid
        self.settings = settings
        self.label = f"user {who(identity.key)} from {request.remote} in room {call_uuid}"
        self._request = request
        self._queue: collections.deque[str] = collections.deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._closing: tuple[CloseCode, str] | None = None
        self._writer = asyncio.create_task(self._write_loop(), name=f"room-writer {self.label}")

    @property
    def key(self) -> UserKey:
        return self.identity.key

    @property
    def open(self) -> bool:
        return self._closing is None and not self._writer.done()

    def send(self, message: dict[str, Any]) -> None:
        """Queue ``message``; a socket over its outbox limit is closed instead."""
        if not self.open:
            return
        text = jsontext.dumps(message)
        if self._queued + len(text) > self.settings.outbox_bytes:
            log.warning("%s does not read: over %d bytes queued, closing %d", self.label,
                        self.settings.outbox_bytes, CloseCode.POLICY)
            self.request_close(CloseCode.POLICY, f"not reading: over {self.settings.outbox_bytes} bytes queued")
            return
        self._queue.append(text)
        self._queued += len(text)
        self._wake.set()

    def request_close(self, code: CloseCode, reason: str) -> None:
        """Drop what is queued and close with ``code`` and ``reason`` (once; later calls do nothing)."""
        if self._closing is not None:
            return
        self._closing = (code, reason)
        self._queue.clear()
        self._queued = 0
        self._wake.set()

    async def close(self, code: CloseCode, reason: str) -> None:
        """``request_close``, then wait (bounded) until the close frame is out."""
        self.request_close(code, reason)
        await self.finish()

    async def finish(self) -> None:
        """Wait for the writer to end, at most the write and close timeouts; then it is cancelled."""
        if not self._writer.done():
            self.request_close(CloseCode.NORMAL, "")
        limit = self.settings.ws_write_timeout_s + self.settings.ws_close_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), limit)
        except TimeoutError:
            self._writer.cancel()
            self._abort()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue and self._closing is None:
                text = self._queue.popleft()
                self._queued -= len(text)
                if not await self._timed(self.ws.send_str(text), self.settings.ws_write_timeout_s):
                    return
            if self._closing is not None:
                code, reason = self._closing
                await self._timed(self.ws.close(code=code, message=reason.encode()[:_MAX_REASON]),
                                  self.settings.ws_write_timeout_s + self.settings.ws_close_timeout_s)
                return

    async def _timed(self, step: Awaitable[Any], limit: float) -> bool:
        """Run one write; ``False`` when the socket is gone or the write took over ``limit``."""
        try:
            async with asyncio.timeout(limit):
                await step
        except TimeoutError:
            log.warning("%s: a write took over %g s, dropping the connection", self.label, limit)
            self._abort()
            return False
        except (ConnectionError, RuntimeError):  # closed under us: the read side sees it too
            return False
        return True

    def _abort(self) -> None:
        transport = self._request.transport
        if transport is not None:
            transport.abort()


class Room:
    """The entries of one call's room, in join order."""

    def __init__(self, call: Call, faults: Faults) -> None:
        self.call_uuid = call.uuid
        self.caller_id = call.caller_id
        self.callee_id = call.callee_id
        self.faults = faults
        self.members: dict[UserKey, Connection] = {}

    def join(self, conn: Connection, now: float) -> None:
        """Enter ``conn``: ``connection`` to it, ``join`` to everyone already here."""
        others = self.others(conn.key)
        replaced = self.members.get(conn.key)
        self.members[conn.key] = conn
        if replaced is not None:
            log.info("%s takes over the room entry of an older socket", conn.label)
        conn.send(messages.connection(self.call_uuid, conn.key, list(self.members), now))
        notice = messages.join(self.call_uuid, conn.key, conn.identity.username, now)
        for other in others:
            if self._join_lost(conn.key, other.key):
                log.info("fault join-lost-callee-first: no join to the callee %s in room %s",
                         other.key, self.call_uuid)
                continue
            other.send(notice)

    def _join_lost(self, newcomer: UserKey, present: UserKey) -> bool:
        return (self.faults.join_lost_callee_first and newcomer == self.caller_id
                and present == self.callee_id)

    def leave(self, conn: Connection, now: float) -> bool:
        """Take ``conn`` out (if it still holds its entry) and tell the others; ``False`` if it did not."""
        if self.members.get(conn.key) is not conn:
            return False
        del self.members[conn.key]
        notice = messages.leave(self.call_uuid, conn.key, conn.identity.username, now)
        for other in self.members.values():
            other.send(notice)
        return True

    def others(self, key: UserKey) -> list[Connection]:
        return [c for k, c in self.members.items() if k != key]


class RoomHub:
    """Every room with someone in it, by call uuid."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rooms: dict[str, Room] = {}
        self._sockets: set[Connection] = set()

    def join(self, call: Call, conn: Connection) -> Room:
        room = self._rooms.get(call.uuid)
        if room is None:
            room = self._rooms[call.uuid] = Room(call, self.faults)
        self._sockets.add(conn)
        room.join(conn, time.time())
        log.info("%s joined via %s; in the room: %s", conn.label, conn.identity.via,
                 whos(list(room.members)))
        return room

    def leave(self, room: Room, conn: Connection) -> None:
        self._sockets.discard(conn)
        if room.leave(conn, time.time()):
            log.info("%s left; in the room: %s", conn.label, whos(list(room.members)))
        if not room.members and self._rooms.get(room.call_uuid) is room:
            del self._rooms[room.call_uuid]

    def notify(self, call_uuid: str, user_id: UserKey, message: dict[str, Any]) -> bool:
        """Send ``message`` to ``user_id``'s entry in the room of ``call_uuid``; ``False`` if not there."""
        room = self._rooms.get(call_uuid)
        conn = room.members.get(user_id) if room else None
        if conn is None:
            return False
        conn.send(message)
        return True

    def room(self, call_uuid: str) -> Room | None:
        return self._rooms.get(call_uuid)

    @property
    def socket_count(self) -> int:
        return len(self._sockets)

    async def close_all(self, code: CloseCode, reason: str) -> None:
        """Close every room socket (server shutdown); each close is bounded by the socket timeouts."""
        await asyncio.gather(*(conn.close(code, reason) for conn in list(self._sockets)))
