"""A small raw KKIM client for gateway tests: speaks the protocol, or breaks it on purpose.

It sends whatever bytes or text it is told to (malformed envelopes, bad gzip,
wrong sendID), matches replies by ``msgIncr``, and keeps unsolicited frames
(2001 pushes, 2002 kicks, 1004 call notices) and text frames in queues.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from google.protobuf.message import Message
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.envelope import (
    DataEncoding,
    Request,
    Response,
    decode_response,
    encode_request,
    pack,
    unpack,
)

#: every wait in the gateway tests
WAIT_S = 5.0
#: how long "nothing arrives" is watched
QUIET_S = 0.3

_incr = itertools.count(1)


async def until(condition: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; its last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.01)
    return True


async def api_post(api_url: str, path: str, body: Any, headers: dict[str, str] | None = None,
                   raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """POST to the auth API; returns the HTTP status and the JSON body."""
    hdrs = {"operationID": "test-op"} if headers is None else headers
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
        data = raw if raw is not None else json.dumps(body).encode()
        async with http.post(api_url + path, data=data, headers=hdrs) as resp:
            return resp.status, await resp.json(content_type=None)


async def admin_token(api_url: str, secret: str = "openIM123", admin: str = "imAdmin") -> str:
    status, body = await api_post(api_url, "/auth/get_admin_token", {"secret": secret, "userID": admin})
    assert status == 200 and body["errCode"] == 0, body
    return str(body["data"]["token"])


async def user_token(api_url: str, user_id: str, platform_id: int = 5) -> str:
    admin = await admin_token(api_url)
    status, body = await api_post(api_url, "/auth/get_user_token",
                                  {"platformID": platform_id, "userID": user_id},
                                  headers={"operationID": "test-op", "token": admin})
    assert status == 200 and body["errCode"] == 0, body
    return str(body["data"]["token"])


def ws_query(user_id: str, token: str | None, platform_id: int | str = 5, **extra: Any) -> str:
    params: dict[str, Any] = {"sendID": user_id, "platformID": platform_id, "sdkType": "js"}
    if token is not None:
        params["token"] = token
    params.update({k: v for k, v in extra.items() if v is not None})
    return "/?" + urlencode(params)


@dataclass
class Closed:
    code: int | None
    reason: str


class RawClient:
    """One connection; ``request()`` for well-formed traffic, ``send_raw()`` for the rest."""

    def __init__(self, ws: ClientConnection, user_id: str, token: str, gzip: bool) -> None:
        self.ws = ws
        self.user_id = user_id
        self.token = token
        self.gzip = gzip
        self.pending: dict[str, asyncio.Future[Response]] = {}
        self.unsolicited: asyncio.Queue[Response] = asyncio.Queue()
        self.texts: asyncio.Queue[str] = asyncio.Queue()
        self.reply_order: list[str] = []   # msgIncr of every reply, in the order they arrived
        self.closed: asyncio.Future[Closed] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, ws_url: str, user_id: str, token: str, platform_id: int = 5, *,
                      gzip: bool = False, gzip_header: bool = False, **query: Any) -> RawClient:
        extra = dict(query)
        if gzip and not gzip_header:
            extra["compression"] = "gzip"
        headers = {"compression": "gzip"} if gzip_header else None
        url = ws_url + ws_query(user_id, token, platform_id, **extra)
        ws = await asyncio.wait_for(connect(url, additional_headers=headers, compression=None,
                                            ping_interval=None, max_size=None), WAIT_S)
        return cls(ws, user_id, token, gzip or gzip_header)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    self.texts.put_nowait(frame)
                    continue
                resp = decode_response(unpack(frame, self.gzip))
                if resp.msg_incr:
                    self.reply_order.append(resp.msg_incr)
                waiter = self.pending.pop(resp.msg_incr, None) if resp.msg_incr else None
                if waiter is not None and not waiter.done():
                    waiter.set_result(resp)
                else:
                    self.unsolicited.put_nowait(resp)
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            if not self.closed.done():
                self.closed.set_result(Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else ""))
            for waiter in self.pending.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("connection closed before the reply"))

    # sending

    async def send_raw(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    def envelope(self, ident: int, payload: Message | bytes | None = None, *, encoding: DataEncoding = "array",
                 token: str | None = None, send_id: str | None = None,
                 msg_incr: str | None = None) -> tuple[str, bytes]:
        data = payload.SerializeToString() if isinstance(payload, Message) else (payload or b"")
        incr = msg_incr if msg_incr is not None else f"{self.user_id}-{next(_incr)}"
        req = Request(req_identifier=ident, send_id=self.user_id if send_id is None else send_id,
                      msg_incr=incr, operation_id=f"op-{incr}",
                      token=self.token if token is None else token, data=data)
        return incr, pack(encode_request(req, encoding), self.gzip)

    async def request(self, ident: int, payload: Message | bytes | None = None, **kw: Any) -> Response:
        incr, frame = self.envelope(ident, payload, **kw)
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.pending[incr] = waiter
        await self.ws.send(frame)
        return await asyncio.wait_for(waiter, WAIT_S)

    async def ping_text(self, body: Any = None) -> str:
        await self.ws.send(json.dumps({"type": "ping", "body": body}) if body is not None else '{"type":"ping"}')
        return await asyncio.wait_for(self.texts.get(), WAIT_S)

    # receiving

    async def next_unsolicited(self, ident: int | None = None, timeout: float = WAIT_S) -> Response:
        """The next frame that answered no request (skipping other identifiers if ``ident``)."""
        async with asyncio.timeout(timeout):
            while True:
                resp = await self.unsolicited.get()
                if ident is None or resp.req_identifier == ident:
                    return resp

    async def next_push(self, timeout: float = WAIT_S) -> list[sdkws_pb2.MsgData]:
        resp = await self.next_unsolicited(2001, timeout)
        push = payloads.parse(sdkws_pb2.PushMessages, resp.data)
        return [m for pulled in push.msgs.values() for m in pulled.Msgs]

    async def next_call_notice(self, timeout: float = WAIT_S) -> tuple[str, Response]:
        """The next unsolicited 1004 SignalResp: (oneof name, envelope)."""
        resp = await self.next_unsolicited(1004, timeout)
        sresp = payloads.parse(rtc_pb2.SignalResp, resp.data)
        return str(sresp.WhichOneof("payload")), resp

    async def quiet(self, seconds: float = QUIET_S) -> list[Response]:
        """Wait ``seconds`` and return whatever unsolicited frames arrived."""
        await asyncio.sleep(seconds)
        out = []
        while not self.unsolicited.empty():
            out.append(self.unsolicited.get_nowait())
        return out

    async def wait_closed(self, timeout: float = WAIT_S) -> Closed:
        return await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), WAIT_S)
        except (TimeoutError, ConnectionClosed):
            pass
        self._reader.cancel()
        try:
            await self._reader
        except (asyncio.CancelledError, Exception):
            pass


async def refused(ws_url: str, path: str) -> tuple[int, dict[str, Any]]:
    """Attempt a handshake that must be refused without an upgrade: (HTTP status, JSON body)."""
    try:
        ws = await asyncio.wait_for(connect(ws_url + path, compression=None), WAIT_S)
    except InvalidStatus as exc:
        body = exc.response.body or b""
        try:
            return exc.response.status_code, json.loads(body)
        except ValueError:
            return exc.response.status_code, {"raw": body.decode(errors="replace")}
    await ws.close()
    raise AssertionError(f"handshake {path} was accepted")


# ------------------------------------------------------------------ builders


def text_msg(send_id: str, recv_id: str, text: str = "hello", client_msg_id: str = "",
             content_type: int = 101) -> sdkws_pb2.MsgData:
    """A MsgData as the official SDK sends it (status 1, msgFrom 100)."""
    return sdkws_pb2.MsgData(sendID=send_id, recvID=recv_id, clientMsgID=client_msg_id or f"c-{next(_incr)}",
                             sessionType=1, msgFrom=100, contentType=content_type,
                             content=text.encode(), status=1)


def invite_req(inviter: str, *invitees: str, timeout: int = 0, media: str = "audio",
               room: str = "") -> rtc_pb2.SignalReq:
    req = rtc_pb2.SignalReq()
    inv = req.invite.invitation
    inv.inviterUserID = inviter
    inv.inviteeUserIDList.extend(invitees)
    inv.mediaType = media
    inv.timeout = timeout
    inv.roomID = room
    inv.sessionType = 1
    req.invite.userID = inviter
    return req


def action_req(action: str, room: str, user_id: str = "") -> rtc_pb2.SignalReq:
    """accept / reject / cancel / hungUp for ``room``."""
    req = rtc_pb2.SignalReq()
    inner = getattr(req, action)
    inner.invitation.roomID = room
    inner.userID = user_id
    return req


def signal_resp(resp: Response) -> rtc_pb2.SignalResp:
    return payloads.parse(rtc_pb2.SignalResp, resp.data)
