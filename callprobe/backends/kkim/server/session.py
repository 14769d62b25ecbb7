"""One client connection: frames in, replies and pushes out, deadlines, heartbeats.

Rules (docs/backends/kkim.md#frames, docs/backends/kkim.md#heartbeat):

* Binary frames carry envelopes (gunzipped first when ``compression=gzip``);
  text frames are only the heartbeat: ``{"type":"ping"}`` is answered with a
  text pong echoing ``body``, a ``pong`` is ignored, anything else is fatal.
* A fatal frame (bad envelope, bad ``data``, bad gzip, wrong ``sendID``,
  unknown identifier, bad text frame) closes the connection with the error's
  close code and a reason, and is logged on one line. Business errors are
  answered with a Resp and the connection stays.
* Every frame (data, ping, pong) re-arms the read deadline; Web connections
  (platform 5) get a WebSocket ping every ``web_ping_interval_s``.
* What one frame may cost is bounded (``docs/backends/kkim.md#limits``): a
  gzip frame is inflated to at most ``max_message_size`` bytes (past it:
  close 1009, as for a frame over the limit on the wire), and a connection
  sending data frames faster than ``max_frames_per_s`` after its
  ``frame_burst`` is closed with 1008 and a reason.
* Everything this connection sends goes through one queue and one writer task,
  so replies and pushes keep their order and a slow client never blocks
  another connection; a write that takes longer than ``write_timeout_s``
  closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode as WsCloseCode
from websockets.protocol import State

from callprobe.backends.kkim.protocol.constants import (
    CLIENT_REQUESTS,
    CloseCode,
    Platform,
    ReqIdentifier,
)
from callprobe.backends.kkim.protocol.envelope import (
    Request,
    Response,
    decode_heartbeat,
    decode_request,
    encode_pong,
    encode_response,
    pack,
    unpack,
)
from callprobe.backends.kkim.protocol.errors import (
    FatalFrameError,
    SendIDMismatch,
    UnknownIdentifier,
)
from callprobe.backends.kkim.server.core import GatewayCore
from callprobe.backends.kkim.server.handshake import (
    ConnParams,
    HandshakeRejection,
    success_body,
)
from callprobe.backends.kkim.server.limits import RateLimited, TokenBucket
from callprobe.backends.kkim.server.logsafe import quoted

log = logging.getLogger("callprobe.server.kkim")

#: close reasons are limited to 123 bytes of UTF-8 (RFC 6455 5.5)
_REASON_MAX = 123
#: below this many buffered bytes a send cannot block, so it needs no write deadline
_HIGH_WATER = 2**15


class GatewayConnection(ServerConnection):
    """A websockets connection that remembers when it last received any frame."""

    last_frame_at: float = 0.0
    params: ConnParams | None = None
    refusal: HandshakeRejection | None = None

    def process_event(self, event: Any) -> None:
        self.last_frame_at = self.loop.time()
        super().process_event(event)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """The websockets handshake, plus one log line when the request was not a valid one.

        websockets answers a bad HTTP request or upgrade by itself (400, 426,
        ...) and logs it only at DEBUG; gateway-level refusals are logged by
        the server's ``process_request``.
        """
        await super().handshake(*args, **kwargs)
        exc = self.protocol.handshake_exc
        if exc is None:
            return
        cause = exc.__cause__
        peer = _address(self.remote_address)
        if isinstance(cause, EOFError) and self.request is None:
            log.info("connection from %s closed before a handshake request: %s", peer, cause)
            return
        answer = f", answered HTTP {self.response.status_code}" if self.response is not None else ""
        detail = f"{exc}: {cause}" if cause is not None else str(exc)
        log.warning("bad handshake from %s: %s%s", peer, quoted(detail, 200), answer)

    def write_now(self, message: bytes | str) -> bool:
        """Write one unfragmented message synchronously if nothing can block it.

        This is what ``send()`` does inside ``send_context()`` when the
        connection is open and the buffer is below the high-water mark, minus
        the coroutine: a push to many connections costs a third as much.
        Returns ``False`` (nothing written) whenever ``send()`` would have to
        wait or fail, so the caller queues the message for the writer task.
        """
        if self.protocol.state is not State.OPEN or self.transport.get_write_buffer_size() >= _HIGH_WATER:
            return False
        if isinstance(message, str):
            self.protocol.send_text(message.encode())
        else:
            self.protocol.send_binary(message)
        self.send_data()
        return True


def _address(addr: Any) -> str:
    try:
        return f"{addr[0]}:{addr[1]}"
    except (TypeError, IndexError):
        return str(addr)


class _Close:
    def __init__(self, code: int, reason: str) -> None:
        self.code, self.reason = code, _clip(reason)


def _clip(reason: str) -> str:
    data = reason.encode()
    if len(data) <= _REASON_MAX:
        return reason
    return data[:_REASON_MAX - 3].decode(errors="ignore") + "..."


#: A request handler: returns the reply, then runs the follow-ups (pushes) in order.
Dispatch = Callable[["Session", Request], Awaitable[tuple[Response, list[Callable[[], None]]]]]


class Session:
    """The gateway side of one WebSocket connection."""

    def __init__(self, core: GatewayCore, ws: GatewayConnection, params: ConnParams, dispatch: Dispatch) -> None:
        self.core = core
        self.ws = ws
        self.params = params
        self.dispatch = dispatch
        self.user_id = params.user_id
        self.platform_id = params.platform_id
        self.token = params.token
        self.background = params.background
        self.conn_id = core.next_conn_id(params.user_id, params.platform_id)
        self.closing = False
        self._queue: asyncio.Queue[bytes | str | _Close] = asyncio.Queue()
        self._writing = False  # the writer task holds an item it has not finished sending
        self._gzip_cache: tuple[bytes, bytes] | None = None
        settings = core.settings
        self._bucket = TokenBucket(settings.max_frames_per_s, settings.frame_burst, asyncio.get_running_loop().time())
        self._fatal_logged = False  # the close that follows a logged bad frame is not logged again

    # --------------------------------------------------------------- Peer

    def send_envelope(self, envelope: bytes) -> None:
        if self.closing:
            return
        if self.params.gzip:
            cached = self._gzip_cache
            if cached is None or cached[0] is not envelope:
                cached = (envelope, pack(envelope, True))
                self._gzip_cache = cached
            self._send(cached[1])
        else:
            self._send(envelope)

    def _send(self, item: bytes | str) -> None:
        """In order: straight to the socket when nothing is queued, else behind the queue."""
        if self._writing or not self._queue.empty() or not self.ws.write_now(item):
            self._queue.put_nowait(item)

    def kick(self, identifier: int = ReqIdentifier.KICK_ONLINE_MSG, reason: str = "") -> None:
        """2002 (or 2003 on a forced logout) with every other field empty, then close.

        See docs/backends/kkim.md#multi-login and docs/backends/kkim.md#logout.
        """
        if self.closing:
            return
        self.send_envelope(encode_response(Response(identifier)))
        self.core.disconnect(self)
        self.close(CloseCode.NORMAL,
                   reason or f"kicked: another login of {self.user_id} on platform {self.platform_id}")

    def close(self, code: int, reason: str) -> None:
        """Queue a close after everything already queued."""
        if not self.closing:
            self.closing = True
            self._queue.put_nowait(_Close(code, reason))

    def send_text(self, text: str) -> None:
        if not self.closing:
            self._send(text)

    # ---------------------------------------------------------------- run

    async def run(self) -> None:
        """Serve the connection until it closes; never raises."""
        writer = asyncio.create_task(self._writer(), name=f"writer {self.conn_id}")
        pinger = None
        try:
            self.core.connect(self)
            log.info("open %s gzip=%s", self.conn_id, self.params.gzip)
            if self.params.is_msg_resp:
                self.send_text(success_body())
            if self.platform_id == Platform.WEB and self.core.settings.web_ping_interval_s:
                pinger = asyncio.create_task(self._pinger(), name=f"pinger {self.conn_id}")
            await self._reader()
        except Exception:  # a bug here must not take the server down
            log.exception("session %s failed", self.conn_id)
            self.close(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            self.core.disconnect(self)
            if pinger is not None:
                pinger.cancel()
            self.close(CloseCode.NORMAL, "")
            try:
                await asyncio.wait_for(writer, self.core.settings.write_timeout_s + 1)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
            self._log_close()

    def _log_close(self) -> None:
        rcvd = self.ws.protocol.close_rcvd
        sent = self.ws.protocol.close_sent
        if sent is not None and sent.code == WsCloseCode.MESSAGE_TOO_BIG and not self._fatal_logged:
            log.warning("bad input on %s: frame over the %d-byte limit, closed 1009",
                        self.conn_id, self.core.settings.max_message_size)
            self.core.stats["bad_frames"] += 1
        log.info("close %s sent=%s rcvd=%s", self.conn_id,
                 sent.code if sent else None, rcvd.code if rcvd else None)

    async def _reader(self) -> None:
        ws = self.ws
        watchdog = asyncio.create_task(self._watchdog(), name=f"deadline {self.conn_id}")
        try:
            while not self.closing:
                try:
                    message = await ws.recv()
                except ConnectionClosed:
                    return
                try:
                    if not self._bucket.take(asyncio.get_running_loop().time()):
                        raise RateLimited(f"rate limit: over {self._bucket.rate:g} frames/s after a burst of "
                                          f"{self._bucket.burst}")
                    if isinstance(message, str):
                        self._on_text(message)
                    else:
                        await self._on_binary(message)
                except FatalFrameError as exc:
                    self._fatal_logged = True
                    self.core.stats["bad_frames"] += 1
                    log.warning("bad input on %s: %s (%s), closing %d", self.conn_id, exc,
                                exc.code, int(exc.close_code or CloseCode.PROTOCOL_ERROR))
                    self.close(int(exc.close_code or CloseCode.PROTOCOL_ERROR), str(exc))
                    return
        finally:
            watchdog.cancel()

    async def _watchdog(self) -> None:
        """The read deadline: one timer per deadline period, not one per frame."""
        ws = self.ws
        loop = asyncio.get_running_loop()
        deadline_s = self.core.settings.read_deadline_s
        while not self.closing:
            left = ws.last_frame_at + deadline_s - loop.time()
            if left <= 0:
                log.info("read deadline on %s: no frame for %g s", self.conn_id, deadline_s)
                self.close(CloseCode.NORMAL, f"read deadline: no frame for {deadline_s:g} s")
                return
            await asyncio.sleep(left)

    def _on_text(self, text: str) -> None:
        beat = decode_heartbeat(text)  # raises BadTextFrame
        if beat.type == "ping" and not self.core.faults.no_heartbeat_reply:
            self.send_text(encode_pong(beat))

    async def _on_binary(self, frame: bytes) -> None:
        req = decode_request(unpack(frame, self.params.gzip, self.core.settings.max_message_size))
        if req.send_id != self.user_id:
            raise SendIDMismatch(f"request sendID {req.send_id!r} is not the connection's user "
                                 f"{self.user_id!r} (reqIdentifier {req.req_identifier})")
        if req.req_identifier not in CLIENT_REQUESTS:
            raise UnknownIdentifier(f"reqIdentifier {req.req_identifier} is not a request this gateway serves")
        self.core.stats["requests"] += 1
        resp, then = await self.dispatch(self, req)
        self.send_envelope(encode_response(resp))
        for action in then:
            action()

    async def _writer(self) -> None:
        timeout = self.core.settings.write_timeout_s
        ws = self.ws
        queue = self._queue
        while True:
            self._writing = False
            item = await queue.get()
            self._writing = True
            try:
                if isinstance(item, _Close):
                    await ws.close(item.code, item.reason)
                    return
                if ws.transport.get_write_buffer_size() < _HIGH_WATER:
                    await ws.send(item)  # goes straight to the socket buffer, no wait
                else:
                    async with asyncio.timeout(timeout):  # writeWait (docs/backends/kkim.md#heartbeat)
                        await ws.send(item)
            except ConnectionClosed:
                self.closing = True
                return
            except TimeoutError:
                log.warning("write timeout on %s after %g s, closing", self.conn_id, timeout)
                self.closing = True
                ws.transport.abort()
                return

    async def _pinger(self) -> None:
        interval = self.core.settings.web_ping_interval_s
        while not self.closing:
            await asyncio.sleep(interval)
            try:
                await self.ws.ping()
            except ConnectionClosed:
                return


async def refuse_after_upgrade(ws: GatewayConnection, refusal: HandshakeRejection) -> None:
    """``isMsgResp=true`` refusal: one text frame with the error JSON, then close (docs/backends/kkim.md#handshake)."""
    try:
        await ws.send(refusal.body())
        await ws.close(CloseCode.POLICY_VIOLATION, _clip(f"handshake refused: {refusal.err_code} {refusal.err_msg}"))
    except ConnectionClosed:
        pass

