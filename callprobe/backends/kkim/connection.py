"""One WebSocket connection to a KKIM/OpenIM message gateway, and its timers.

This layer moves envelopes (PROTOCOL.md B§1-B§8) and records every frame on
the timeline; it knows nothing about calls. It owns three timers, each a named
``ClientSettings`` deadline: the handshake (``connect_timeout_s``), a request's
reply matched by ``msgIncr`` (``request_timeout_s``) and the text heartbeat
(``heartbeat_interval_s`` / ``heartbeat_reply_timeout_s``).

Frames that are not replies (pushes, kicks, unsolicited 1004 SignalResp) go to
the owner's ``on_frame`` callback; the end of the connection goes to
``on_closed`` with a code, a reason and an explanation in words.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from callprobe.errors import CallprobeError, ConfigError, DeadlineExceeded, ExitCode, ServerUnreachable
from callprobe.timeline.events import Kind, Timeline
from callprobe.backends.kkim.protocol import envelope
from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2
from callprobe.backends.kkim.protocol.constants import (
    CLOSE_CODE_TEXT,
    REQ_IDENTIFIER_TEXT,
    ReqIdentifier,
    explain_err_code,
)
from callprobe.backends.kkim.protocol.envelope import DataEncoding, Request, Response
from callprobe.backends.kkim.protocol.errors import BadCompression, BadDataEncoding, MalformedEnvelope, ProtocolError
from callprobe.backends.kkim.protocol.payloads import parse
from callprobe.settings import ClientSettings

_GZIP_MAGIC = b"\x1f\x8b"
_BODY_PREVIEW = 300

#: Why a server drops a connection right after a request (PROTOCOL.md B§4).
DROP_CAUSES = (
    "the envelope could not be decoded (bad JSON, a non-string msgIncr, bad data encoding)",
    "the envelope sendID differs from the connection's user",
    "the reqIdentifier is not one the server serves (1001-1007, 2003-2005)",
    "a binary frame was not valid gzip while compression=gzip",
    "the frame was over the 51200-byte read limit (close 1009)",
)


class HandshakeRefused(CallprobeError):
    """The gateway refused the WebSocket handshake; carries what it said."""

    code = "WS_REFUSED"
    exit_code = ExitCode.EXPECTATION_FAILED
    hint = "check the token (user and platform must match sendID/platformID) and the URL parameters"

    def __init__(self, url: str, status: int, err_code: int = 0, err_msg: str = "", err_dlt: str = "",
                 body: str = "", reason: str = "") -> None:
        text = f"WebSocket handshake refused by {url}"
        if status:
            text += f": HTTP {status}"
        if err_code:
            text += f", errCode {err_code} {err_msg}".rstrip() + f" = {explain_err_code(err_code)}"
        if err_dlt:
            text += f" ({err_dlt})"
        if reason:
            text += f": {reason}"
        super().__init__(text)
        self.url, self.status, self.err_code, self.err_msg = url, status, err_code, err_msg
        self.err_dlt, self.body, self.reason = err_dlt, body, reason


class ConnectionLost(CallprobeError):
    """The connection ended while a request waited for its reply."""

    code = "CONNECTION_LOST"
    exit_code = ExitCode.EXPECTATION_FAILED

    def __init__(self, what: str, close_code: int, explanation: str) -> None:
        super().__init__(f"{what}: connection closed ({close_code}: {explanation})")
        self.close_code, self.explanation = close_code, explanation


# ------------------------------------------------------------------ pure parts


def build_ws_url(base: str, *, user_id: str, token: str, platform_id: int, operation_id: str,
                 compression: bool = False, is_msg_resp: bool = False) -> str:
    """The gateway URL with every parameter v3.8.3 and main need (B§1)."""
    parts = urlsplit(base)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ConfigError(f"gateway URL {base!r} must look like ws://host:port")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({"sendID": user_id, "token": token, "platformID": str(platform_id), "sdkType": "js",
                  "operationID": operation_id, "isBackground": "false"})
    if compression:
        query["compression"] = "gzip"
    if is_msg_resp:
        query["isMsgResp"] = "true"
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


def redact_url(url: str) -> str:
    """The URL with the token replaced, safe for reports."""
    parts = urlsplit(url)
    query = [(k, "REDACTED" if k == "token" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def parse_refusal(body: bytes | str) -> tuple[int, str, str]:
    """``(errCode, errMsg, errDlt)`` from a refusal body or status frame; zeros if none."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 0, "", ""
    if not isinstance(obj, dict):
        return 0, "", ""
    code = obj.get("errCode", 0)
    return (code if isinstance(code, int) and not isinstance(code, bool) else 0,
            str(obj.get("errMsg") or ""), str(obj.get("errDlt") or ""))


def request_name(req_identifier: int) -> str:
    text = REQ_IDENTIFIER_TEXT.get(req_identifier, "unknown identifier")
    return f"{req_identifier} ({text.split(':')[0]})"


def explain_close(code: int, reason: str, by: str, pending: list[tuple[int, str, float]],
                  last_request: tuple[int, str, float] | None, now_ms: float) -> str:
    """Say in words why a connection ended, naming the request that likely caused it.

    ``pending`` are requests still waiting for a reply (identifier, msgIncr,
    sent at ms); ``last_request`` is the last one sent.
    """
    base = CLOSE_CODE_TEXT.get(code, "unlisted close code")
    if by == "client":
        return f"closed by this client ({base})"
    if last_request is not None and last_request[0] == ReqIdentifier.LOGOUT_MSG:
        return f"{base}; after the logout request 2003, as the server does by design"
    if pending:
        ident, incr, sent = pending[0]
        text = (f"{base}; {now_ms - sent:.0f} ms after request {request_name(ident)} msgIncr {incr}, "
                f"which got no reply")
        if code == 1009:
            return text + ": the request frame was over the server's 51200-byte limit"
        return text + ". Upstream drops a connection without a reply when " + "; or ".join(DROP_CAUSES)
    if reason:
        return f"{base}: {reason}"
    return base


def push_summary(push: sdkws_pb2.PushMessages) -> list[dict[str, Any]]:
    """contentType, sendID, seq of each message in a 2001 push, for FRAME_IN."""
    out: list[dict[str, Any]] = []
    for where, table in (("msgs", push.msgs), ("notificationMsgs", push.notificationMsgs)):
        for conv, pulled in table.items():
            for msg in pulled.Msgs:
                out.append({"map": where, "conversation": conv, "content_type": msg.contentType,
                            "send_id": msg.sendID, "seq": msg.seq, "client_msg_id": msg.clientMsgID})
    return out


@dataclass
class _Pending:
    req_identifier: int
    future: asyncio.Future[Response]
    sent_ms: float
    on_reply: Callable[[Response], None] | None = None


@dataclass
class _Ping:
    number: int
    sent_ms: float
    missed: bool = False
    rtt_ms: float | None = None


FrameHandler = Callable[[Response, "sdkws_pb2.PushMessages | None"], None]
CloseHandler = Callable[[int, str, str, str], None]


# ------------------------------------------------------------------ I/O


class KkimConnection:
    """A connected agent's WebSocket; ``open()`` it, then ``request()``.

    Args:
        agent: timeline agent name.
        on_frame: called (in the reader task) for every decoded frame that is
            not the reply to a pending request.
        on_closed: called once with (code, reason, by, explanation).
    """

    def __init__(self, *, agent: str, ws_url: str, user_id: str, platform_id: int, token: str,
                 timeline: Timeline, settings: ClientSettings, on_frame: FrameHandler,
                 on_closed: CloseHandler, data_encoding: DataEncoding = "array",
                 compression: bool = False, is_msg_resp: bool = False) -> None:
        self.agent, self.user_id, self.platform_id, self.token = agent, user_id, platform_id, token
        self.timeline, self.settings = timeline, settings
        self.data_encoding: DataEncoding = data_encoding
        self.compression, self.is_msg_resp = compression, is_msg_resp
        self.operation_id = uuid.uuid4().hex
        self.url = build_ws_url(ws_url, user_id=user_id, token=token, platform_id=platform_id,
                                operation_id=self.operation_id, compression=compression,
                                is_msg_resp=is_msg_resp)
        self._on_frame, self._on_closed = on_frame, on_closed
        self._ws: ClientConnection | None = None
        self._pending: dict[str, _Pending] = {}
        self._abandoned: set[str] = set()
        self._last_request: tuple[int, str, float] | None = None
        self._incr = 0
        self._pings: collections.deque[_Ping] = collections.deque()
        self._ping_count = 0
        self._closing = False
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.close_code: int | None = None

    # ---------------------------------------------------------------- state

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._closed.is_set()

    def _record(self, kind: Kind | str, **fields: Any) -> None:
        self.timeline.record(self.agent, kind, **fields)

    # ---------------------------------------------------------------- open

    async def open(self) -> None:
        """Handshake; raise ``HandshakeRefused``, ``ServerUnreachable`` or ``DeadlineExceeded``."""
        shown = redact_url(self.url)
        self._record(Kind.WS_CONNECTING, url=shown, compression=self.compression,
                     data_encoding=self.data_encoding)
        started = time.monotonic()
        seconds = self.settings.connect_timeout_s
        try:
            ws = await connect(self.url, open_timeout=seconds, ping_interval=None, ping_timeout=None,
                               close_timeout=self.settings.close_timeout_s, max_size=None,
                               compression=None, proxy=None)
        except InvalidStatus as exc:
            resp = exc.response
            body = bytes(resp.body or b"")
            code, msg, dlt = parse_refusal(body)
            self._refused(shown, resp.status_code, code, msg, dlt, body.decode("utf-8", "replace"))
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
        self._record(Kind.WS_OPEN, latency_ms=round((time.monotonic() - started) * 1000.0, 3),
                     status_frame=status_frame)
        self._tasks.append(asyncio.create_task(self._reader(), name=f"kkim-reader-{self.agent}"))
        if self.settings.heartbeat_interval_s and self.settings.heartbeat_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._heartbeat(), name=f"kkim-heartbeat-{self.agent}"))

    def _refused(self, url: str, status: int, code: int, msg: str, dlt: str, body: str,
                 reason: str = "") -> None:
        explanation = explain_err_code(code) if code else (reason or f"HTTP {status} instead of 101")
        self._record(Kind.WS_REFUSED, status=status, err_code=code, err_msg=msg, err_dlt=dlt,
                     body=body[:_BODY_PREVIEW], explanation=explanation)
        raise HandshakeRefused(url, status, code, msg, dlt, body[:_BODY_PREVIEW], reason) from None

    async def _read_status_frame(self, ws: ClientConnection, url: str, seconds: float) -> dict[str, Any]:
        """With ``isMsgResp=true`` the server's first frame is a JSON status text (B§2)."""
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
        self._record(Kind.FRAME_IN, size=len(raw), data_form="text", status_frame=True)
        code, msg, dlt = parse_refusal(raw)
        if code:
            await ws.close()
            self._refused(url, 101, code, msg, dlt, raw, reason="status frame after the upgrade")
        return {"err_code": code, "err_msg": msg}

    # ---------------------------------------------------------------- requests

    def next_msg_incr(self) -> str:
        self._incr += 1
        return str(self._incr)

    async def send_request(self, req_identifier: int, data: bytes, *, msg_incr: str | None = None,
                           send_id: str | None = None, on_reply: Callable[[Response], None] | None = None,
                           ) -> tuple[str, asyncio.Future[Response]]:
        """Send one request; return its msgIncr and the future of its reply."""
        ws = self._ws
        if ws is None or self._closed.is_set():
            raise ConnectionLost(f"request {request_name(req_identifier)}", self.close_code or 1006,
                                 "not connected")
        incr = msg_incr if msg_incr is not None else self.next_msg_incr()
        req = Request(req_identifier=req_identifier, send_id=self.user_id if send_id is None else send_id,
                      msg_incr=incr, operation_id=uuid.uuid4().hex, token=self.token, data=data)
        frame = envelope.pack(envelope.encode_request(req, self.data_encoding), self.compression)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        now = self.timeline.now_ms()
        self._pending[incr] = _Pending(int(req_identifier), future, now, on_reply)
        self._last_request = (req_identifier, incr, now)
        fields: dict[str, Any] = {"req_identifier": int(req_identifier), "msg_incr": incr, "size": len(frame),
                                  "encoding": self.data_encoding, "gzip": self.compression,
                                  "operation_id": req.operation_id}
        if len(frame) > envelope.MAX_MESSAGE_SIZE:
            fields["over_limit"] = True
        self._record(Kind.FRAME_OUT, **fields)
        try:
            await ws.send(frame)
        except ConnectionClosed:
            self._pending.pop(incr, None)
            raise ConnectionLost(f"request {request_name(req_identifier)}", self.close_code or 1006,
                                 "closed while sending") from None
        return incr, future

    async def request(self, req_identifier: int, data: bytes,
                      on_reply: Callable[[Response], None] | None = None) -> Response:
        """Send a request and wait ``request_timeout_s`` for the reply with its msgIncr.

        A reply with ``errCode`` != 0 is returned, not raised (and recorded as
        REQUEST_FAILED); the caller decides what a refusal means. ``on_reply``
        runs in the reader as soon as the reply is decoded, before any later
        frame is handled (an invite's roomID must be known before a push that
        follows it).
        """
        incr, future = await self.send_request(req_identifier, data, on_reply=on_reply)
        seconds = self.settings.request_timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(future), seconds)
        except TimeoutError:
            self._pending.pop(incr, None)
            self._abandoned.add(incr)
            future.cancel()
            self._record(Kind.REQUEST_TIMEOUT, req_identifier=int(req_identifier), msg_incr=incr,
                         setting="request_timeout_s", seconds=seconds)
            raise DeadlineExceeded(f"reply to request {request_name(req_identifier)} msgIncr {incr}",
                                   "request_timeout_s", seconds) from None

    # ---------------------------------------------------------------- reading

    async def _reader(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            async for message in ws:
                try:
                    if isinstance(message, str):
                        self._on_text(message)
                    else:
                        self._on_binary(message)
                except Exception as exc:  # a handler bug must not kill the connection
                    self._record(Kind.NOTE, note="frame_handler_error", error=f"{type(exc).__name__}: {exc}")
        except ConnectionClosed:
            pass
        finally:
            self._finish(ws)

    def _on_text(self, text: str) -> None:
        beat: envelope.Heartbeat | None
        try:
            beat = envelope.decode_heartbeat(text)
        except ProtocolError:
            beat = None
        if beat is None:
            code, msg, _ = parse_refusal(text)
            self._record(Kind.FRAME_IN, size=len(text), data_form="text", err_code=code, err_msg=msg,
                         text=text[:120])
            self._record(Kind.NOTE, note="unexpected_text_frame",
                         text=f"server sent a text frame that is not a heartbeat: {text[:120]!r}")
            return
        if beat.type == "ping":  # a server-side text ping: answer as the gateway would
            self._record(Kind.NOTE, note="server_text_ping", body=beat.body)
            task = asyncio.get_running_loop().create_task(self._send_text(envelope.encode_pong(beat)))
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)
            return
        now = self.timeline.now_ms()
        if not self._pings:
            self._record(Kind.NOTE, note="unmatched_pong", text="pong without an outstanding ping")
            return
        ping = self._pings.popleft()
        ping.rtt_ms = round(now - ping.sent_ms, 3)
        form = "pong+body" if "body" in text else "pong"
        self._record(Kind.HEARTBEAT_REPLY, number=ping.number, rtt_ms=round(now - ping.sent_ms, 3),
                     form=form, size=len(text), late=ping.missed)

    async def _send_text(self, text: str) -> None:
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(text)

    def _on_binary(self, frame: bytes) -> None:
        gz = frame.startswith(_GZIP_MAGIC)
        try:
            raw = envelope.decompress(frame) if gz else frame
            resp = envelope.decode_response(raw)
        except (BadCompression, MalformedEnvelope, BadDataEncoding) as exc:
            self._record(Kind.FRAME_IN, size=len(frame), gzip=gz, error=str(exc))
            self._record(Kind.NOTE, note="undecodable_frame", text=f"server frame not decodable: {exc}")
            return
        fields: dict[str, Any] = {"req_identifier": resp.req_identifier, "msg_incr": resp.msg_incr,
                                  "size": len(frame), "err_code": resp.err_code, "data_form": resp.data_form,
                                  "gzip": gz}
        if gz != self.compression:
            fields["gzip_mismatch"] = True
        pending = self._pending.get(resp.msg_incr) if resp.msg_incr else None
        push: sdkws_pb2.PushMessages | None = None
        if pending is not None and pending.req_identifier == resp.req_identifier:
            fields["latency_ms"] = round(self.timeline.now_ms() - pending.sent_ms, 3)
            self._record(Kind.FRAME_IN, **fields)
            del self._pending[resp.msg_incr]
            if resp.err_code:
                self._record(Kind.REQUEST_FAILED, req_identifier=resp.req_identifier, msg_incr=resp.msg_incr,
                             err_code=resp.err_code, err_msg=resp.err_msg,
                             explanation=explain_err_code(resp.err_code))
            if not pending.future.done():
                try:
                    if pending.on_reply is not None:
                        pending.on_reply(resp)
                finally:
                    pending.future.set_result(resp)
            return
        if resp.msg_incr and resp.msg_incr in self._abandoned:
            self._abandoned.discard(resp.msg_incr)
            fields["late"] = True
            self._record(Kind.FRAME_IN, **fields)
            self._record(Kind.NOTE, note="late_reply", req_identifier=resp.req_identifier,
                         msg_incr=resp.msg_incr, text="reply arrived after request_timeout_s")
            return
        if resp.req_identifier == ReqIdentifier.PUSH_MSG and resp.data:
            try:
                push = parse(sdkws_pb2.PushMessages, resp.data)
                fields["msgs"] = push_summary(push)
            except CallprobeError as exc:
                fields["error"] = str(exc)
        self._record(Kind.FRAME_IN, **fields)
        self._on_frame(resp, push)

    # ---------------------------------------------------------------- heartbeat

    async def _heartbeat(self) -> None:
        """Text ping every ``heartbeat_interval_s``; a pong due within ``heartbeat_reply_timeout_s``."""
        while not self._closed.is_set():
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            if self._ws is None or self._closed.is_set():
                return
            if not await self._send_ping():
                return

    async def _send_ping(self) -> _Ping | None:
        ws = self._ws
        if ws is None:
            return None
        deadline = self.settings.heartbeat_reply_timeout_s
        self._ping_count += 1
        ping = _Ping(self._ping_count, self.timeline.now_ms())
        self._pings.append(ping)
        self._record(Kind.HEARTBEAT_SENT, number=ping.number, size=len(envelope.PING_TEXT))
        try:
            await ws.send(envelope.PING_TEXT)
        except ConnectionClosed:
            return None
        asyncio.get_running_loop().call_later(deadline, self._check_ping, ping, deadline)
        return ping

    async def ping(self) -> float | None:
        """One text heartbeat now; its round trip in ms, or None when no pong
        came within ``heartbeat_reply_timeout_s`` (recorded as HEARTBEAT_MISSED)."""
        ping = await self._send_ping()
        if ping is None:
            return None
        deadline = self.settings.heartbeat_reply_timeout_s
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while ping in self._pings and loop.time() < end and not self._closed.is_set():
            await asyncio.sleep(0.005)
        if ping in self._pings:
            return None
        return ping.rtt_ms

    def _check_ping(self, ping: _Ping, deadline: float) -> None:
        if ping in self._pings and not self._closed.is_set():
            ping.missed = True
            self._record(Kind.HEARTBEAT_MISSED, number=ping.number, setting="heartbeat_reply_timeout_s",
                         seconds=deadline)

    # ---------------------------------------------------------------- closing

    def _finish(self, ws: ClientConnection) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        rcvd, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
        by = "client" if self._closing else "server"
        if by == "client":
            code = sent.code if sent is not None else 1000
            reason = sent.reason if sent is not None else ""
        else:
            code = rcvd.code if rcvd is not None else 1006
            reason = rcvd.reason if rcvd is not None else ""
        now = self.timeline.now_ms()
        pending = [(p.req_identifier, incr, p.sent_ms) for incr, p in self._pending.items()]
        explanation = explain_close(code, reason, by, pending, self._last_request, now)
        self.close_code = code
        fields: dict[str, Any] = {"code": code, "reason": reason, "by": by, "explanation": explanation}
        if pending and by == "server":
            fields["after_request"] = {"req_identifier": pending[0][0], "msg_incr": pending[0][1],
                                       "ms_before_close": round(now - pending[0][2], 3)}
        self._record(Kind.WS_CLOSED, **fields)
        for incr, p in list(self._pending.items()):
            if not p.future.done():
                p.future.set_exception(ConnectionLost(
                    f"request {request_name(p.req_identifier)} msgIncr {incr}", code, explanation))
                p.future.exception()  # mark retrieved: the waiter may already be gone
        self._pending.clear()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._on_closed(code, reason, by, explanation)

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


__all__ = [
    "ConnectionLost", "HandshakeRefused", "KkimConnection", "build_ws_url", "explain_close",
    "parse_refusal", "push_summary", "redact_url",
]
