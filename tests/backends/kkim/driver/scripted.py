"""Small scripted gateways for client-only variants the embedded gateway never sends.

A ``ScriptedGateway`` is a real ``websockets`` server on 127.0.0.1 whose
connection handler is a coroutine written in the test. Helpers read requests
and write replies and pushes exactly as bytes on the wire, so a test can send
an OpenIM-style SignalReq wrapper, ``data`` as a number array, or drop the TCP
connection without a close frame.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from callprobe.backends.kkim.protocol import envelope
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.envelope import Request

#: Deadline for every wait inside a scripted handler or a test step.
STEP_S = 3.0

Handler = Callable[[ServerConnection], Awaitable[None]]


class ScriptedGateway:
    """``async with ScriptedGateway(handler) as gw``: ``gw.url`` is ``ws://127.0.0.1:port``."""

    def __init__(self, handler: Handler, *, refuse: tuple[int, bytes] | None = None) -> None:
        self.handler = handler
        self.refuse = refuse
        self.server: Server | None = None
        self.requests: list[Request] = []
        self.paths: list[str] = []
        self.errors: list[BaseException] = []

    def _process(self, conn: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        self.paths.append(request.path)
        if self.refuse is None:
            return None
        status, body = self.refuse
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return HttpResponse(status, "OK", headers, body)

    async def _handle(self, conn: ServerConnection) -> None:
        try:
            await self.handler(conn)
        except Exception as exc:  # surfaced by the test through gw.errors
            self.errors.append(exc)

    async def __aenter__(self) -> ScriptedGateway:
        self.server = await serve(self._handle, "127.0.0.1", 0, process_request=self._process,
                                  compression=None, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), STEP_S)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"


# ------------------------------------------------------------------ wire helpers


async def recv_request(conn: ServerConnection, *, gzip_on: bool = False, answer_pings: bool = True,
                       raw_sink: list[Any] | None = None) -> Request:
    """Next binary request; text pings are answered (or skipped) on the way."""
    while True:
        frame = await asyncio.wait_for(conn.recv(), STEP_S)
        if isinstance(frame, str):
            if answer_pings:
                await conn.send('{"type":"pong","body":null}')
            continue
        raw = gzip.decompress(frame) if gzip_on else frame
        if raw_sink is not None:
            raw_sink.append(json.loads(raw))
        return envelope.decode_request(raw)


def resp_frame(req_identifier: int, *, msg_incr: str = "", data: Any = None, err_code: int = 0,
               err_msg: str = "", operation_id: str = "op") -> bytes:
    """A Resp JSON frame; ``data`` is put on the wire as given (bytes become base64)."""
    if isinstance(data, (bytes, bytearray)):
        data = base64.b64encode(bytes(data)).decode()
    obj = {"reqIdentifier": req_identifier, "msgIncr": msg_incr, "operationID": operation_id,
           "errCode": err_code, "errMsg": err_msg, "data": data}
    return json.dumps(obj).encode()


async def reply(conn: ServerConnection, req: Request, payload: bytes | None = b"", *, err_code: int = 0,
                err_msg: str = "", data: Any = ..., gzip_on: bool = False) -> None:
    """Answer ``req``; ``data`` overrides the wire form of the payload."""
    wire = payload if data is ... else data
    frame = resp_frame(req.req_identifier, msg_incr=req.msg_incr, data=wire, err_code=err_code,
                       err_msg=err_msg, operation_id=req.operation_id)
    await conn.send(gzip.compress(frame) if gzip_on else frame)


def push_frame(msgs: list[sdkws_pb2.MsgData], *, notification: bool = False) -> bytes:
    push = sdkws_pb2.PushMessages()
    table = push.notificationMsgs if notification else push.msgs
    for msg in msgs:
        lo, hi = sorted((msg.sendID, msg.recvID))
        table[f"si_{lo}_{hi}"].Msgs.append(msg)
    return resp_frame(2001, data=push.SerializeToString())


def msg(send_id: str, recv_id: str, content_type: int, content: bytes, seq: int = 1,
        msg_from: int = 100) -> sdkws_pb2.MsgData:
    return sdkws_pb2.MsgData(sendID=send_id, recvID=recv_id, contentType=content_type, content=content,
                             seq=seq, sessionType=1, msgFrom=msg_from, status=2,
                             clientMsgID=f"c{seq}", serverMsgID=f"s{seq}")


def invitation(inviter: str, invitee: str, room: str, timeout: int = 30,
               media: str = "audio") -> rtc_pb2.InvitationInfo:
    return rtc_pb2.InvitationInfo(inviterUserID=inviter, inviteeUserIDList=[invitee], roomID=room,
                                  timeout=timeout, mediaType=media, platformID=5, sessionType=1,
                                  initiateTime=1_700_000_000_000)


def signal_req(action: str, inv: rtc_pb2.InvitationInfo, user_id: str) -> rtc_pb2.SignalReq:
    req = rtc_pb2.SignalReq()
    inner = getattr(req, action)
    inner.invitation.CopyFrom(inv)
    inner.userID = user_id
    return req
