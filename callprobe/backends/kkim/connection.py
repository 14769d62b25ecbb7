"""One WebSocket to a KKIM gateway: the socket and the clock around a ``KkimClient``.

Everything the client decides is in ``client.KkimClient`` (sans I/O); this
layer only moves frames, keeps time and runs three timers, each a named
``ClientSettings`` deadline: the handshake (``connect_timeout_s``), a
request's reply (``request_timeout_s``) and the text heartbeat
(``heartbeat_interval_s`` / ``heartbeat_reply_timeout_s``). After every input
it drains the client's outputs in order: frames go to one writer task,
events to the timeline, notices to ``on_notice``, replies to their waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI, WebSocketException

from callprobe.backends.base import Deliver, DriverNotice, Record
from callprobe.backends.kkim.client import Fail, KkimClient, Reply, Send, parse_refusal, request_name
from callprobe.backends.kkim.handshake import ConnectionLost, HandshakeRefused, build_ws_url
from callprobe.backends.kkim.protocol.constants import explain_err_code
from callprobe.backends.kkim.protocol.envelope import Response
from callprobe.backends.urls import redact
from callprobe.errors import ConfigError, DeadlineExceeded, ServerUnreachable
from callprobe.settings import ClientSettings
from callprobe.timeline.events import FrameIn, WsConnecting, WsOpen, WsRefused, stamped
from callprobe.timeline.recorder import EventSink

_BODY_PREVIEW = 300


class KkimConnection:
    """A connected agent's WebSocket; ``open()`` it, then drive ``client`` and ``flush()``.

    Args:
        client: the sans-I/O client this connection feeds.
        ws_url: the gateway, ``ws://host:port``.
        timeline: where events go.
        on_notice: called with each notice, in order.
        is_msg_resp: ask for the status text frame after the upgrade.
    """

    def __init__(self, *, client: KkimClient, ws_url: str, timeline: EventSink, settings: ClientSettings,
                 on_notice: Callable[[DriverNotice], None], operation_id: str,
                 is_msg_resp: bool = False) -> None:
        self.client = client
        self.timeline, self.settings = timeline, settings
        self.is_msg_resp = is_msg_resp
        self.url = build_ws_url(ws_url, user_id=client.user_id, token=client.token,
                                platform_id=client.platform_id, operation_id=operation_id,
                                compression=client.compression, is_msg_resp=is_msg_resp)
        self._on_notice = on_notice
        self._ws: ClientConnection | None = None
        self._closing = False
        self._closed = asyncio.Event()
        self._writes: asyncio.Queue[bytes | str] = asyncio.Queue()
        self._waiters: dict[str, asyncio.Future[Response]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.close_code: int | None = None

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._closed.is_set()

    def now_ms(self) -> float:
        return self.timeline.now_ms()

    # ---------------------------------------------------------------- outputs

    def flush(self) -> None:
        """Carry out everything the client queued, in order."""
        for out in self.client.outputs():
            if isinstance(out, Send):
                self._writes.put_nowait(out.frame)
            elif isinstance(out, Record):
                self.timeline.record(stamped(out.event, agent=self.client.agent))
            elif isinstance(out, Deliver):
                self._on_notice(out.notice)
            elif isinstance(out, Reply):
                waiter = self._waiters.pop(out.msg_incr, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(out.response)
            elif isinstance(out, Fail):
                waiter = self._waiters.pop(out.msg_incr, None)
                if waiter is not None and not waiter.done():
                    waiter.set_exception(ConnectionLost(
                        f"request {request_name(out.req_identifier)} msgIncr {out.msg_incr}",
                        out.close_code, out.explanation))
                    waiter.exception()  # retrieved: the waiter may already be gone

    # ---------------------------------------------------------------- open

    async def open(self) -> None:
        """Handshake; raise ``HandshakeRefused``, ``ServerUnreachable`` or ``DeadlineExceeded``."""
        shown = redact(self.url)
        self._record(WsConnecting(url=shown, compression=self.client.compression,
                                  data_encoding=self.client.data_encoding, transport="websocket"))
        started = time.monotonic()
        seconds = self.settings.connect_timeout_s
        try:
            ws = await connect(self.url, open_timeout=seconds, ping_interval=None, ping_timeout=None,
                               close_timeout=self.settings.close_timeout_s, max_size=None,
                               compression=None, proxy=None)
        except InvalidStatus as exc:
            body = bytes(exc.response.body or b"")
            code, msg, dlt = parse_refusal(body)
            self._refused(shown, exc.response.status_code, code, msg, dlt, body.decode("utf-8", "replace"))
        except InvalidURI as exc:
            raise ConfigError(f"gateway URL is not usable: {exc}") from None
        except InvalidHandshake as exc:
            self._refused(shown, 0, 0, "", "", "", reason=f"{type(exc).__name__}: {exc}")
        except TimeoutError:
            raise DeadlineExceeded(f"WebSocket handshake with {shown}", "connect_timeout_s", seconds) from None
        except OSError as exc:
            raise ServerUnreachable(f"gateway {shown} unreachable: {exc}") from None
        self._ws = ws
        status_frame: dict[str, Any] | None = None
        if self.is_msg_resp:
            status_frame = await self._read_status_frame(ws, shown, seconds)
        self._record(WsOpen(latency_ms=round((time.monotonic() - started) * 1000.0, 3), status_frame=status_frame))
        self._tasks.append(asyncio.create_task(self._reader(ws), name=f"kkim-reader-{self.client.agent}"))
        self._tasks.append(asyncio.create_task(self._writer(ws), name=f"kkim-writer-{self.client.agent}"))
        if self.settings.heartbeat_interval_s and self.settings.heartbeat_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._heartbeat(), name=f"kkim-heartbeat-{self.client.agent}"))

    def _record(self, event: Any) -> None:
        self.timeline.record(stamped(event, agent=self.client.agent))

    def _refused(self, url: str, status: int, code: int, msg: str, dlt: str, body: str, reason: str = "") -> None:
        explanation = explain_err_code(code) if code else (reason or f"HTTP {status} instead of 101")
        self._record(WsRefused(status=status, err_code=code, err_msg=msg, err_dlt=dlt, body=body[:_BODY_PREVIEW],
                               explanation=explanation))
        raise HandshakeRefused(url, status, code, msg, dlt, body[:_BODY_PREVIEW], reason) from None

    async def _read_status_frame(self, ws: ClientConnection, url: str, seconds: float) -> dict[str, Any]:
        """With ``isMsgResp=true`` the first frame is a JSON status text (``docs/backends/kkim.md#handshake``)."""
        try:
            first = await asyncio.wait_for(ws.recv(), seconds)
        except TimeoutError:
            await ws.close()
            raise DeadlineExceeded("isMsgResp status frame", "connect_timeout_s", seconds) from None
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else 1006
            self._refused(url, 101, 0, "", "", "", reason=f"closed ({code}) before the status frame")
            raise  # unreachable: _refused raises
        raw = first if isinstance(first, str) else first.decode("utf-8", "replace")
        self._record(FrameIn(label="status frame", size=len(raw), data_form="text", status_frame=True))
        code, msg, dlt = parse_refusal(raw)
        if code:
            await ws.close()
            self._refused(url, 101, code, msg, dlt, raw, reason="status frame after the upgrade")
        return {"err_code": code, "err_msg": msg}

    # ---------------------------------------------------------------- requests

    def expect_reply(self, msg_incr: str) -> asyncio.Future[Response]:
        """The future of request ``msg_incr``'s reply (before ``flush``, so nothing is missed)."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiters[msg_incr] = future
        return future

    async def send(self, msg_incr: str) -> Response:
        """Send what the client queued for request ``msg_incr`` and wait ``request_timeout_s`` for its reply.

        A reply with ``errCode`` != 0 is returned, not raised; the client has
        recorded it and the caller decides what a refusal means.
        """
        if not self.is_open:
            self.client.outputs()  # nothing can be sent any more
            raise ConnectionLost(f"request msgIncr {msg_incr}", self.close_code or 1006, "not connected")
        future = self.expect_reply(msg_incr)
        self.flush()
        seconds = self.settings.request_timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(future), seconds)
        except TimeoutError:
            self._waiters.pop(msg_incr, None)
            future.cancel()
            self.client.abandon(msg_incr, "request_timeout_s", seconds)
            self.flush()
            raise DeadlineExceeded(f"reply to request msgIncr {msg_incr}", "request_timeout_s", seconds) from None

    # ---------------------------------------------------------------- tasks

    async def _reader(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                now = self.now_ms()
                try:
                    if isinstance(message, str):
                        self.client.receive_text(message, now)
                    else:
                        self.client.receive_binary(message, now)
                except Exception as exc:  # a handler bug must not kill the connection
                    self.timeline.record(stamped(_note_error(exc), agent=self.client.agent))
                self.flush()
        except ConnectionClosed:
            pass
        finally:
            self._finish(ws)

    async def _writer(self, ws: ClientConnection) -> None:
        while True:
            frame = await self._writes.get()
            try:
                await ws.send(frame)
            except ConnectionClosed:
                return

    async def _heartbeat(self) -> None:
        """Text ping every ``heartbeat_interval_s``; a pong due within ``heartbeat_reply_timeout_s``."""
        while not self._closed.is_set():
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            if not self.is_open:
                return
            self._send_ping()

    def _send_ping(self) -> int:
        number = self.client.ping(self.now_ms())
        self.flush()
        deadline = self.settings.heartbeat_reply_timeout_s
        asyncio.get_running_loop().call_later(deadline, self._ping_due, number, deadline)
        return number

    def _ping_due(self, number: int, deadline: float) -> None:
        self.client.ping_deadline(number, "heartbeat_reply_timeout_s", deadline)
        self.flush()

    async def ping(self) -> float | None:
        """One text heartbeat now; its round trip in ms, or None when no pong
        came within ``heartbeat_reply_timeout_s`` (recorded as HeartbeatMissed)."""
        if not self.is_open:
            return None
        number = self._send_ping()
        loop = asyncio.get_running_loop()
        end = loop.time() + self.settings.heartbeat_reply_timeout_s
        while loop.time() < end and not self._closed.is_set():
            rtt = self.client.pong_rtt(number)
            if rtt is not None:
                return rtt
            await asyncio.sleep(0.005)
        return self.client.pong_rtt(number)

    # ---------------------------------------------------------------- closing

    def _finish(self, ws: ClientConnection) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        rcvd, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
        by = "client" if self._closing else "server"
        if by == "client":
            code, reason = (sent.code, sent.reason) if sent is not None else (1000, "")
        else:
            code, reason = (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "")
        self.close_code = code
        self.client.connection_closed(code, reason, by, self.now_ms())
        self.flush()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close on purpose and wait (``close_timeout_s``) for the reader to finish."""
        ws = self._ws
        if ws is None or self._closed.is_set():
            await self._join_tasks()
            return
        self._closing = True
        with contextlib.suppress(Exception):
            await ws.close(code, reason)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), self.settings.close_timeout_s)
        if not self._closed.is_set():
            self._finish(ws)
        await self._join_tasks()

    async def wait_closed(self, seconds: float, setting: str) -> None:
        """Wait for the server to end the connection; ``DeadlineExceeded`` naming ``setting``."""
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            raise DeadlineExceeded("connection close", setting, seconds) from None

    async def _join_tasks(self) -> None:
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()


def _note_error(exc: Exception) -> Any:
    from callprobe.timeline.events import Note

    return Note(note="frame_handler_error", text=f"{type(exc).__name__}: {exc}")


async def probe_handshake(url: str, settings: ClientSettings) -> dict[str, Any]:
    """Try a handshake that must be refused, and say how it went (``analysis.diagnostics.links``).

    Returns the probe marker fields: ``outcome`` (accepted / refused /
    failed), ``status``, ``err_code``, ``err_msg``, ``close_code``.
    """
    deadline = settings.connect_timeout_s
    try:
        async with asyncio.timeout(deadline):
            ws = await connect(url, open_timeout=deadline, max_size=None, proxy=None)
    except InvalidStatus as exc:
        code, msg, _ = parse_refusal(bytes(exc.response.body or b""))
        return {"outcome": "refused", "status": exc.response.status_code, "err_code": code, "err_msg": msg}
    except (TimeoutError, OSError, WebSocketException) as exc:
        return {"outcome": "failed", "status": None, "error": f"{type(exc).__name__}: {exc}"}
    try:
        # an isMsgResp-style refusal upgrades, sends its error JSON, then closes
        with contextlib.suppress(asyncio.TimeoutError, WebSocketException):
            first = await asyncio.wait_for(ws.recv(), settings.probe_settle_s)
            code, msg, _ = parse_refusal(first if isinstance(first, (str, bytes)) else b"")
            if code:
                return {"outcome": "refused", "status": 101, "err_code": code, "err_msg": msg}
        if ws.close_code is not None and ws.close_code != 1000:
            return {"outcome": "refused", "status": 101, "close_code": ws.close_code}
        return {"outcome": "accepted", "status": 101}
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), settings.close_timeout_s)


__all__ = ["ConnectionLost", "HandshakeRefused", "KkimConnection", "probe_handshake"]
