"""The KKIM/OpenIM gateway driver: calls and messages over one WebSocket.

A tolerant client (PROTOCOL.md Part A): it accepts both ``data`` encodings,
both 1601 dialects (bare SignalInviteReq or SignalReq wrapper), peer actions
by unsolicited 1004 SignalResp *or* by a 1601 push, and both error tables; and
it records which variant it saw. It sends what the seed's client sends: 1004
SignalReq in v3 numbering with the whole invitation, MsgData with status 1 and
msgFrom 100, and adopts the server's roomID from SignalInviteResp.

Frames, heartbeats and the close are handled by ``KkimConnection``; call
bookkeeping is the pure ``kkim_calls.CallBook``; this module turns server
frames into neutral notices and timeline events.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from google.protobuf.message import Message

from callprobe.backends.base import AgentIdentity, Driver, DriverError, InviteResult, MediaKind, Notice
from callprobe.backends.kkim.calls import (
    ACTION_NOTICE,
    PATH_1004,
    PATH_1601,
    CallBook,
    CallRecord,
    invitation_from_1601,
    notice_kind,
    server_reason_1004,
    server_reason_1601,
)
from callprobe.backends.kkim.connection import ConnectionLost, KkimConnection
from callprobe.errors import CallprobeError, DeadlineExceeded, ServerUnreachable
from callprobe.timeline.events import Kind, Timeline
from callprobe.backends.kkim.login import LoginConfig, LoginFailed, LoginResult, config_value
from callprobe.backends.kkim.login import login as login_api
from callprobe.backends.kkim.protocol._pb.openim import push_pb2, rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import decode_1601, from_signal_resp
from callprobe.backends.kkim.protocol.constants import (
    ContentType,
    ErrCode,
    MsgFrom,
    MsgStatus,
    ReqIdentifier,
    SessionType,
    explain_err_code,
)
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from callprobe.backends.kkim.protocol.envelope import DataEncoding, Response
from callprobe.backends.kkim.protocol.payloads import parse
from callprobe.backends.kkim.protocol.rtc_signal import FORM_TOP_LEVEL, WebRtcSignal, decode_signal, encode_signal
from callprobe.settings import ClientSettings

#: Notice kinds that end a call on this side.
_ENDING = ("rejected", "cancelled", "hung_up", "call_timeout")


class InviteRefused(DriverError):
    """The server refused an invite; ``busy`` lists users already in a call (1802)."""

    def __init__(self, err_code: int, err_msg: str, explanation: str, busy: tuple[str, ...]) -> None:
        super().__init__("invite", err_code, err_msg, explanation)
        self.busy = busy


def default_api_url(ws_url: str) -> str:
    """The auth API on the same host, one port up (upstream 10001 -> 10002)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    port = (parts.port or (443 if scheme == "https" else 80)) + 1
    return urlunsplit((scheme, f"{parts.hostname}:{port}", "", "", ""))


def text_content(text: str) -> bytes:
    """A 101 text content as the seed writes it (seed 7.1, 7.4): ``{"text": ...}``."""
    return json.dumps({"text": text}, ensure_ascii=False, separators=(",", ":")).encode()


def read_text(content: bytes) -> tuple[str, str]:
    """Text and form of a 101 content: ``{"text"}`` (seed), ``{"content"}``, or raw."""
    try:
        obj = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        return content.decode("utf-8", "replace"), "raw"
    if isinstance(obj, dict):
        for key in ("text", "content"):
            if isinstance(obj.get(key), str):
                return obj[key], key
    return content.decode("utf-8", "replace"), "raw"


class KkimDriver(Driver):
    """One agent on a KKIM gateway.

    Args:
        ws_url: gateway address, ``ws://host:port``.
        api_url: auth API base URL; by default the same host, port + 1.
        login_config: a ``callprobe.backends.kkim.login.LoginConfigLike`` (None: admin_user_token).
        token: a token to connect with; without ``login_config``, ``login()`` keeps it
            (mode ``fixed``).
        password: for a custom login template's ``{password}``.
        data_encoding: request ``data`` as ``"array"`` (default) or ``"base64"``.
        compression: ask for ``compression=gzip``.
        is_msg_resp: ask for the status text frame after the upgrade.
        signal_form: form of contentType 110 contents (``rtc_signal`` forms).
        adopt_server_room_id: keep True; False reproduces the seed 10.6.4 bug
            (the client keeps its temporary roomID).
    """

    family = "kkim"

    def __init__(self, identity: AgentIdentity, timeline: Timeline, settings: ClientSettings, *,
                 ws_url: str, api_url: str = "", login_config: object | None = None, token: str = "",
                 password: str = "", data_encoding: DataEncoding = "array", compression: bool = False,
                 is_msg_resp: bool = False, signal_form: str = FORM_TOP_LEVEL,
                 adopt_server_room_id: bool = True) -> None:
        super().__init__(identity, timeline, settings)
        self.ws_url = ws_url
        self.api_url = api_url or default_api_url(ws_url)
        self.login_config = login_config
        self.token = token
        self._given_token = token
        self.password = password
        self.data_encoding: DataEncoding = data_encoding
        self.compression = compression
        self.is_msg_resp = is_msg_resp
        self.signal_form = signal_form
        self.adopt_server_room_id = adopt_server_room_id
        self.calls = CallBook()
        self.last_login: LoginResult | None = None
        self._conn: KkimConnection | None = None

    # ------------------------------------------------------------ helpers

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    def _record(self, kind: Kind | str, **fields: Any) -> None:
        self.timeline.record(self.identity.name, kind, **fields)

    def _notify(self, notice: Notice) -> None:
        self.notices.put_nowait(notice)

    # ------------------------------------------------------------ login

    async def login(self) -> None:
        """Get a token as ``login_config`` says; a driver given only a token uses it as is."""
        config = self.login_config
        if config is None and self._given_token:
            config = LoginConfig(mode="fixed", token=self._given_token)
        mode = str(config_value(config, "mode", "admin_user_token"))
        try:
            result = await login_api(self.api_url, self.user_id, self.identity.platform_id, config,
                                     self.settings, token=self.token, password=self.password,
                                     nickname=self.identity.nickname)
        except LoginFailed as exc:
            self._record(Kind.LOGIN_FAILED, mode=mode, status=exc.status, err_code=exc.err_code,
                         err_msg=exc.err_msg, reason=exc.reason, url=exc.url, user_id=self.user_id)
            raise
        except (ServerUnreachable, DeadlineExceeded) as exc:
            self._record(Kind.LOGIN_FAILED, mode=mode, status=0, err_code=0, err_msg="", reason=str(exc),
                         url=self.api_url, user_id=self.user_id)
            raise
        self.token = result.token
        self.last_login = result
        self._record(Kind.LOGIN_OK, mode=result.mode, latency_ms=round(result.latency_ms, 3),
                     steps=list(result.steps), expire_s=result.expire_s, user_id=self.user_id,
                     platform=self.identity.platform_id)

    # ------------------------------------------------------------ connection

    async def connect(self) -> None:
        if self.connected:
            return
        if not self.token:
            await self.login()
        conn = KkimConnection(agent=self.identity.name, ws_url=self.ws_url, user_id=self.user_id,
                              platform_id=self.identity.platform_id, token=self.token,
                              timeline=self.timeline, settings=self.settings, on_frame=self._on_frame,
                              on_closed=self._on_closed, data_encoding=self.data_encoding,
                              compression=self.compression, is_msg_resp=self.is_msg_resp)
        await conn.open()
        self._conn = conn

    async def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.is_open

    @property
    def connection(self) -> KkimConnection | None:
        return self._conn

    def _on_closed(self, code: int, reason: str, by: str, explanation: str) -> None:
        self._notify(Notice("disconnected", data={"code": code, "reason": reason, "by": by,
                                                  "explanation": explanation}))

    async def wait_closed(self, seconds: float, setting: str) -> None:
        """Wait until the server ends the connection (after a kick or logout)."""
        if self._conn is not None:
            await self._conn.wait_closed(seconds, setting)

    async def logout(self) -> None:
        """2003 logout request (B§5): the server replies, then closes the connection."""
        req = push_pb2.DelUserPushTokenReq(userID=self.user_id, platformID=self.identity.platform_id)
        resp = await self._request(ReqIdentifier.LOGOUT_MSG, req)
        if resp.err_code:
            raise DriverError("logout", resp.err_code, resp.err_msg, explain_err_code(resp.err_code))
        conn = self._conn
        if conn is not None:
            try:
                await conn.wait_closed(self.settings.close_timeout_s, "close_timeout_s")
            except DeadlineExceeded:
                self._record(Kind.NOTE, note="logout_no_close",
                             text="the server kept the connection open after the 2003 logout reply")
            await self.disconnect()

    async def _request(self, req_identifier: int, payload: Message,
                       on_reply: Callable[[Response], None] | None = None) -> Response:
        conn = self._conn
        if conn is None or not conn.is_open:
            code = (conn.close_code or 1006) if conn is not None else 1006
            raise ConnectionLost(f"{self.identity.name}: request {req_identifier}", code, "not connected")
        return await conn.request(req_identifier, payload.SerializeToString(), on_reply=on_reply)

    # ------------------------------------------------------------ calls

    def _participant(self) -> rtc_pb2.ParticipantMetaData:
        meta = rtc_pb2.ParticipantMetaData()
        meta.userInfo.userID = self.user_id
        meta.userInfo.nickname = self.identity.nickname or self.user_id
        return meta

    async def invite(self, callees: list[str], media: MediaKind, timeout_s: int) -> InviteResult:
        now_ms = int(time.time() * 1000)
        temp_room = f"tmp_{self.user_id}_{now_ms}_{uuid.uuid4().hex[:6]}"
        inv = rtc_pb2.InvitationInfo(
            inviterUserID=self.user_id, inviteeUserIDList=list(callees), roomID=temp_room,
            timeout=int(timeout_s), mediaType=media, platformID=self.identity.platform_id,
            sessionType=int(SessionType.SINGLE_CHAT), initiateTime=now_ms)
        req = rtc_pb2.SignalReq()
        req.invite.invitation.CopyFrom(inv)
        req.invite.offlinePushInfo.title = "incoming call"
        req.invite.offlinePushInfo.desc = f"{media} call from {self.identity.nickname or self.user_id}"
        req.invite.participant.CopyFrom(self._participant())
        req.invite.userID = self.user_id
        self._record(Kind.INVITE_SENT, callees=list(callees), room_id=temp_room, media=media, timeout_s=timeout_s)
        opened = self.timeline.now_ms()
        results: list[InviteResult] = []

        def on_reply(resp: Response) -> None:
            """Runs before any later frame: a ringing or answer push may follow at once."""
            if resp.err_code:
                return
            signal = self._signal_resp(resp, "invite")
            busy = tuple(signal.invite.busyLineUserIDList) if signal is not None else ()
            server_room = signal.invite.roomID if signal is not None else ""
            room = server_room if (server_room and self.adopt_server_room_id) else temp_room
            if not server_room:
                self._record(Kind.NOTE, note="no_server_room_id", room_id=temp_room,
                             text="SignalInviteResp carried no roomID; keeping the client's temporary one")
            self.calls.add(room, inv, "inviter", opened, temp_room_id=temp_room)
            self._record(Kind.INVITE_ACKED, room_id=room, server_room_id=server_room, temp_room_id=temp_room,
                         busy=list(busy), adopted=room == server_room)
            results.append(InviteResult(room, busy))

        resp = await self._request(ReqIdentifier.SEND_SIGNAL_MSG, req, on_reply=on_reply)
        if resp.err_code:
            signal = self._signal_resp(resp, "invite")
            busy = tuple(signal.invite.busyLineUserIDList) if signal is not None else ()
            from_reply = bool(busy)
            if not busy and resp.err_code == ErrCode.USER_BUSY:
                busy = tuple(callees)
            explanation = explain_err_code(resp.err_code)
            self._record(Kind.INVITE_REFUSED, err_code=resp.err_code, err_msg=resp.err_msg,
                         explanation=explanation, busy=list(busy), busy_from_reply=from_reply,
                         room_id=temp_room)
            raise InviteRefused(resp.err_code, resp.err_msg, explanation, busy)
        return results[0]

    def _signal_resp(self, resp: Response, action: str) -> rtc_pb2.SignalResp | None:
        if not resp.data:
            return None
        try:
            return parse(rtc_pb2.SignalResp, resp.data)
        except CallprobeError as exc:
            self._record(Kind.NOTE, note="bad_signal_resp", action=action, text=str(exc))
            return None

    def _invitation_for(self, room_id: str, action: str) -> CallRecord:
        record = self.calls.get(room_id)
        if record is not None:
            return record
        self._record(Kind.NOTE, note="unknown_room", action=action, room_id=room_id,
                     text=f"no invitation known for room {room_id!r}; sending a minimal one")
        inv = rtc_pb2.InvitationInfo(roomID=room_id, sessionType=int(SessionType.SINGLE_CHAT))
        return CallRecord(room_id, inv, "unknown", self.timeline.now_ms())

    async def _act(self, action: str, room_id: str, sent_kind: Kind) -> None:
        record = self._invitation_for(room_id, action)
        req = rtc_pb2.SignalReq()
        inner = getattr(req, action)
        inner.invitation.CopyFrom(record.invitation)
        if action != "hungUp":
            inner.participant.CopyFrom(self._participant())
        if action in ("accept", "reject"):
            inner.opUserPlatformID = self.identity.platform_id
        inner.userID = self.user_id
        self._record(sent_kind, room_id=room_id, peer=record.peer_of(self.user_id))
        resp = await self._request(ReqIdentifier.SEND_SIGNAL_MSG, req)
        if resp.err_code:
            explanation = explain_err_code(resp.err_code)
            self._record(Kind.ACTION_REFUSED, action=action, room_id=room_id, err_code=resp.err_code,
                         err_msg=resp.err_msg, explanation=explanation)
            raise DriverError(action, resp.err_code, resp.err_msg, explanation)
        signal = self._signal_resp(resp, action)
        got = signal.WhichOneof("payload") if signal is not None else None
        self._record(Kind.ACTION_ACKED, action=action, room_id=room_id, resp_payload=got)
        if action != "accept":
            self.calls.end(room_id)

    async def accept(self, room_id: str) -> None:
        await self._act("accept", room_id, Kind.ACCEPT_SENT)

    async def reject(self, room_id: str) -> None:
        await self._act("reject", room_id, Kind.REJECT_SENT)

    async def cancel(self, room_id: str) -> None:
        await self._act("cancel", room_id, Kind.CANCEL_SENT)

    async def hangup(self, room_id: str) -> None:
        await self._act("hungUp", room_id, Kind.HANGUP_SENT)

    # ------------------------------------------------------------ messages

    def _msg_data(self, peer: str, content_type: int, content: bytes) -> sdkws_pb2.MsgData:
        return sdkws_pb2.MsgData(
            sendID=self.user_id, recvID=peer, clientMsgID=uuid.uuid4().hex,
            senderPlatformID=self.identity.platform_id, senderNickname=self.identity.nickname,
            sessionType=int(SessionType.SINGLE_CHAT), msgFrom=int(MsgFrom.USER), contentType=content_type,
            content=content, createTime=int(time.time() * 1000), status=int(MsgStatus.SENDING))

    async def _send_msg(self, action: str, msg: sdkws_pb2.MsgData) -> sdkws_pb2.UserSendMsgResp:
        resp = await self._request(ReqIdentifier.SEND_MSG, msg)
        if resp.err_code:
            explanation = explain_err_code(resp.err_code)
            self._record(Kind.ACTION_REFUSED, action=action, client_msg_id=msg.clientMsgID,
                         err_code=resp.err_code, err_msg=resp.err_msg, explanation=explanation)
            raise DriverError(action, resp.err_code, resp.err_msg, explanation)
        # fields 1-3 only: a field 4 (seq int64 in the seed, modify MsgData upstream) is skipped
        ack = sdkws_pb2.UserSendMsgResp()
        try:
            ack.ParseFromString(resp.data or b"")
        except Exception as exc:
            self._record(Kind.NOTE, note="bad_send_msg_resp", text=str(exc))
        self._record(Kind.ACTION_ACKED, action=action, client_msg_id=msg.clientMsgID,
                     server_msg_id=ack.serverMsgID, send_time=ack.sendTime)
        return ack

    async def send_text(self, peer: str, text: str) -> None:
        msg = self._msg_data(peer, int(ContentType.TEXT), text_content(text))
        self._record(Kind.TEXT_SENT, to=peer, client_msg_id=msg.clientMsgID, length=len(text))
        await self._send_msg("send_text", msg)

    async def send_signal(self, peer: str, room_id: str, signal_type: str, data: Any) -> None:
        content = encode_signal(WebRtcSignal(signal_type, room_id, data, self.signal_form))
        msg = self._msg_data(peer, int(ContentType.CUSTOM), content)
        self._record(Kind.SIGNAL_SENT, signal_type=signal_type, room_id=room_id, to=peer,
                     client_msg_id=msg.clientMsgID, form=self.signal_form)
        await self._send_msg("send_signal", msg)

    async def pull_history(self, peer: str) -> list[sdkws_pb2.MsgData]:
        """Every stored message of the ``si_`` conversation with ``peer`` (1001 then 1002)."""
        conv = single_chat_id(self.user_id, peer)
        resp = await self._request(ReqIdentifier.GET_NEWEST_SEQ, sdkws_pb2.GetMaxSeqReq(userID=self.user_id))
        if resp.err_code:
            raise DriverError("GetNewestSeq", resp.err_code, resp.err_msg, explain_err_code(resp.err_code))
        max_seq = parse(sdkws_pb2.GetMaxSeqResp, resp.data).maxSeqs.get(conv, 0)
        if max_seq <= 0:
            return []
        req = sdkws_pb2.PullMessageBySeqsReq(userID=self.user_id, order=sdkws_pb2.PullOrderAsc)
        req.seqRanges.add(conversationID=conv, begin=1, end=max_seq, num=max_seq)
        resp = await self._request(ReqIdentifier.PULL_MSG_BY_SEQ_LIST, req)
        if resp.err_code:
            raise DriverError("PullMsgBySeqList", resp.err_code, resp.err_msg, explain_err_code(resp.err_code))
        pulled = parse(sdkws_pb2.PullMessageBySeqsResp, resp.data)
        msgs = list(pulled.msgs[conv].Msgs) if conv in pulled.msgs else []
        self._record(Kind.NOTE, note="history_pulled", conversation=conv, max_seq=max_seq, count=len(msgs))
        return msgs

    # ------------------------------------------------------------ inbound

    def _on_frame(self, resp: Response, push: sdkws_pb2.PushMessages | None) -> None:
        ident = resp.req_identifier
        if ident == ReqIdentifier.PUSH_MSG:
            if push is None:
                self._record(Kind.NOTE, note="push_without_messages", data_form=resp.data_form)
                return
            for table in (push.msgs, push.notificationMsgs):
                for conv, pulled in table.items():
                    for msg in pulled.Msgs:
                        self._on_message(msg, conv)
        elif ident == ReqIdentifier.KICK_ONLINE_MSG:
            self._kicked("2002", "another login of this user on this platform took the connection")
        elif ident == ReqIdentifier.LOGOUT_MSG:
            self._kicked("2003", "the server logged this connection out")
        elif ident == ReqIdentifier.SEND_SIGNAL_MSG:
            self._on_unsolicited_1004(resp)
        else:
            self._record(Kind.NOTE, note="unhandled_frame", req_identifier=ident, msg_incr=resp.msg_incr)

    def _kicked(self, by: str, text: str) -> None:
        self._record(Kind.KICKED, by=by, text=text)
        self._notify(Notice("kicked", data={"by": by, "text": text}))

    def _on_unsolicited_1004(self, resp: Response) -> None:
        signal: rtc_pb2.SignalResp | None = None
        if resp.data:
            try:
                signal = parse(rtc_pb2.SignalResp, resp.data)
            except CallprobeError as exc:
                self._record(Kind.NOTICE_UNDECODABLE, content_type=int(ReqIdentifier.SEND_SIGNAL_MSG),
                             reason=f"unsolicited 1004 data is not a SignalResp: {exc}", size=len(resp.data))
                return
        call = from_signal_resp(signal) if signal is not None else None
        if call is None or call.action not in ACTION_NOTICE:
            self._record(Kind.NOTE, note="unsolicited_1004_ignored", err_code=resp.err_code,
                         payload=call.action if call else None)
            return
        self._peer_action(call.action, call.room_id, PATH_1004, op_user=None, dialect=call.dialect,
                          server_reason=server_reason_1004(resp.operation_id))

    def _on_message(self, msg: sdkws_pb2.MsgData, conv: str) -> None:
        own = msg.sendID == self.user_id
        ctype = msg.contentType
        if ctype == ContentType.SIGNALING_NOTIFICATION:
            self._on_1601(msg, own)
        elif ctype == ContentType.CUSTOM:
            signal = decode_signal(msg.content)
            if signal is None:
                self._record(Kind.NOTE, note="custom_message", client_msg_id=msg.clientMsgID,
                             **{"from": msg.sendID})
            elif own:
                self._own_echo(msg, signal_type=signal.signal_type)
            else:
                self._record(Kind.SIGNAL_RECEIVED, signal_type=signal.signal_type, room_id=signal.room_id,
                             form=signal.form, **{"from": msg.sendID}, client_msg_id=msg.clientMsgID,
                             seq=msg.seq)
                self._notify(Notice("signal_received", room_id=signal.room_id, peer=msg.sendID, path="push_110",
                                    data={"signal_type": signal.signal_type, "data": signal.data,
                                          "form": signal.form, "client_msg_id": msg.clientMsgID}))
        elif ctype == ContentType.TEXT:
            if own:
                self._own_echo(msg)
                return
            text, form = read_text(msg.content)
            self._record(Kind.TEXT_RECEIVED, **{"from": msg.sendID}, client_msg_id=msg.clientMsgID, seq=msg.seq,
                         via="push", conversation=conv, form=form, status=msg.status)
            self._notify(Notice("text_received", peer=msg.sendID, path="push",
                                data={"text": text, "client_msg_id": msg.clientMsgID, "seq": msg.seq}))
        else:
            self._record(Kind.NOTE, note="message_ignored", content_type=ctype, client_msg_id=msg.clientMsgID,
                         conversation=conv, **{"from": msg.sendID})

    def _own_echo(self, msg: sdkws_pb2.MsgData, **extra: Any) -> None:
        """Sender sync (Part A row 22): recorded, never acted upon; it carries the seq."""
        self._record(Kind.NOTE, note="own_echo", content_type=msg.contentType, client_msg_id=msg.clientMsgID,
                     seq=msg.seq, status=msg.status, **extra)

    def _on_1601(self, msg: sdkws_pb2.MsgData, own: bool) -> None:
        call = decode_1601(msg.content)
        if call is None:
            self._record(Kind.NOTICE_UNDECODABLE, content_type=int(ContentType.SIGNALING_NOTIFICATION),
                         reason="1601 content is neither a sane SignalInviteReq nor a SignalReq",
                         size=len(msg.content), client_msg_id=msg.clientMsgID, **{"from": msg.sendID})
            return
        if own:
            self._own_echo(msg, action=call.action, room_id=call.room_id, dialect=call.dialect)
            return
        if call.action in ("invite", "inviteInGroup"):
            self._ringing(msg, call.dialect)
            return
        if call.action not in ACTION_NOTICE:
            self._record(Kind.NOTE, note="1601_ignored", action=call.action, room_id=call.room_id)
            return
        self._peer_action(call.action, call.room_id, PATH_1601, op_user=call.op_user_id, dialect=call.dialect,
                          platform=call.platform_id, seq=msg.seq, server_reason=server_reason_1601(msg.ex))

    def _ringing(self, msg: sdkws_pb2.MsgData, dialect: str) -> None:
        inv, _op = invitation_from_1601(msg.content, dialect)
        room = inv.roomID
        if inv.inviteeUserIDList and self.user_id not in inv.inviteeUserIDList:
            self._record(Kind.NOTE, note="invite_not_for_me", room_id=room, invitees=list(inv.inviteeUserIDList))
            return
        now = self.timeline.now_ms()
        earlier = self.calls.first_arrival(room, "invite", PATH_1601, now, "ringing")
        if earlier is not None:
            self._record(Kind.NOTE, note="second_arrival", action="invite", room_id=room, path=PATH_1601,
                         first_path=earlier.path, latency_diff_ms=round(now - earlier.t_ms, 3))
            return
        self.calls.add(room, inv, "invitee", now)
        self._record(Kind.RINGING, room_id=room, inviter=inv.inviterUserID, media=inv.mediaType, dialect=dialect,
                     via=PATH_1601, platform=self.identity.platform_id, timeout_s=inv.timeout, seq=msg.seq,
                     invitees=list(inv.inviteeUserIDList))
        self._notify(Notice("ringing", room_id=room, peer=inv.inviterUserID, path=PATH_1601,
                            data={"media": inv.mediaType, "dialect": dialect, "timeout_s": inv.timeout,
                                  "invitees": list(inv.inviteeUserIDList)}))

    def _peer_action(self, action: str, room_id: str, path: str, *, op_user: str | None, dialect: str,
                     platform: int = 0, seq: int = 0, server_reason: str = "") -> None:
        room, inferred = self.calls.resolve(room_id)
        record = self.calls.get(room)
        now = self.timeline.now_ms()
        kind = notice_kind(action, op_user=op_user, record=record, t_ms=now, server_reason=server_reason)
        earlier = self.calls.first_arrival(room, action, path, now, kind)
        if earlier is not None:
            self._record(Kind.NOTE, note="second_arrival", action=action, room_id=room, path=path,
                         first_path=earlier.path, latency_diff_ms=round(now - earlier.t_ms, 3), notice_kind=kind,
                         first_kind=earlier.kind)
            return
        peer = record.peer_of(self.user_id) if record is not None else ""
        by = "" if kind == "call_timeout" else (op_user or peer)
        fields: dict[str, Any] = {"room_id": room, "path": path, "by": by, "dialect": dialect, "action": action}
        if inferred:
            fields["room_inferred"] = True
        if platform:
            fields["op_platform"] = platform
        if seq:
            fields["seq"] = seq
        if record is None:
            fields["unknown_room"] = True
        if server_reason:
            fields["server_reason"] = server_reason
        self._record(kind, **fields)
        self._notify(Notice(kind, room_id=room, peer=by or peer, path=path,
                            data={"action": action, "dialect": dialect, "room_inferred": inferred,
                                  "server_reason": server_reason}))
        if kind in _ENDING:
            self.calls.end(room)


__all__ = ["InviteRefused", "KkimDriver", "default_api_url", "read_text", "text_content"]
