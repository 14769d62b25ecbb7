"""The KKIM client, sans I/O: frames in; frames to send, timeline events, notices and replies out.

``KkimClient`` holds everything one connection's client side knows and
decides, and nothing that waits: reply matching by ``msgIncr`` (pending,
abandoned and late replies), heartbeat bookkeeping, frame decoding, the calls
this agent knows (``calls.KnownCalls``) and the translation of pushes into
neutral notices. Time is passed in (``now_ms``), never read. The thin
``connection.KkimConnection`` owns the socket and the clock and feeds it, as
websockets splits its protocol from its asyncio connection
(``docs/architecture.md#new-backend``).

Every input queues *outputs*, drained in order by ``outputs()``:
``Send`` (a frame for the socket), ``Record`` (a timeline event), ``Deliver``
(a notice for the agent), ``Reply`` (the answer to a pending request) and
``Fail`` (a request that will never be answered). Order matters: an invite's
reply is handled, and its room adopted, before any frame that follows it.

The client is tolerant (``docs/backends/kkim.md#where-servers-differ``): both
``data`` encodings, both 1601 dialects, peer actions by unsolicited 1004 *or*
by 1601 push, both error tables; it records which variant it saw.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from callprobe.backends.base import ClientCore, Deliver, DriverNotice, Record
from callprobe.backends.kkim import requests
from callprobe.backends.kkim.calls import (
    ACTION_NOTICE,
    PATH_1004,
    PATH_1601,
    CallRecord,
    KnownCalls,
    invitation_from_1601,
    notice_kind,
    server_reason_1004,
    server_reason_1601,
)
from callprobe.backends.kkim.protocol import envelope
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import decode_1601, from_signal_resp
from callprobe.backends.kkim.protocol.constants import (
    CLOSE_CODE_TEXT,
    REQ_IDENTIFIER_TEXT,
    ContentType,
    ErrCode,
    ReqIdentifier,
    explain_err_code,
)
from callprobe.backends.kkim.protocol.envelope import DataEncoding, Request, Response
from callprobe.backends.kkim.protocol.errors import BadCompression, BadDataEncoding, MalformedEnvelope, ProtocolError
from callprobe.backends.kkim.protocol.payloads import parse
from callprobe.backends.kkim.protocol.rtc_signal import FORM_TOP_LEVEL, WebRtcSignal, decode_signal, encode_signal
from callprobe.errors import CallprobeError
from callprobe.timeline.events import (
    AcceptSent,
    ActionAcked,
    ActionRefused,
    ActionSent,
    CancelSent,
    FrameIn,
    FrameOut,
    HangupSent,
    HeartbeatMissed,
    HeartbeatReply,
    HeartbeatSent,
    InviteAcked,
    InviteRefused,
    InviteSent,
    Kicked,
    Note,
    NoticeUndecodable,
    RejectSent,
    RequestFailed,
    RequestTimeout,
    Ringing,
    SignalReceived,
    SignalSent,
    TextReceived,
    TextSent,
    WsClosed,
    peer_action_type,
)

_GZIP_MAGIC = b"\x1f\x8b"

#: Why a server drops a connection right after a request (``docs/backends/kkim.md#closes``).
DROP_CAUSES = (
    "the envelope could not be decoded (bad JSON, a non-string msgIncr, bad data encoding)",
    "the envelope sendID differs from the connection's user",
    "the reqIdentifier is not one the server serves (1001-1007, 2003-2005)",
    "a binary frame was not valid gzip while compression=gzip",
    "the frame was over the 51200-byte read limit (close 1009)",
)

#: ``_Action`` names of messages (SendMsg 1003), not call actions.
MESSAGE_ACTIONS = ("send_text", "send_signal", "send_message")

#: The call action a request carries, by the SignalReq oneof name.
ACTION_SENT: dict[str, type[ActionSent]] = {
    "accept": AcceptSent, "reject": RejectSent, "cancel": CancelSent, "hungUp": HangupSent,
}


# ---------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Send:
    frame: bytes | str


@dataclass(frozen=True)
class Reply:
    msg_incr: str
    response: Response


@dataclass(frozen=True)
class Fail:
    msg_incr: str
    req_identifier: int
    close_code: int
    explanation: str


Output = Send | Record | Deliver | Reply | Fail


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class InviteOutcome:
    """The server's answer to an invite: its room, or a refusal."""

    room_id: str = ""
    busy: tuple[str, ...] = ()
    refused: bool = False
    err_code: int = 0
    err_msg: str = ""
    explanation: str = ""


@dataclass(frozen=True)
class ActionOutcome:
    """The server's answer to an action or a message: refused or not."""

    refused: bool = False
    err_code: int = 0
    err_msg: str = ""
    explanation: str = ""
    payload: bytes | None = None


@dataclass
class _Pending:
    req_identifier: int
    sent_ms: float
    what: _Invite | _Action | None = None


@dataclass
class _Invite:
    invitation: rtc_pb2.InvitationInfo
    temp_room: str
    callees: tuple[str, ...]


@dataclass
class _Action:
    action: str                     # SignalReq oneof name, or send_text / send_signal
    room_id: str = ""
    client_msg_id: str = ""


@dataclass
class _Ping:
    number: int
    sent_ms: float
    missed: bool = False
    rtt_ms: float | None = None


@dataclass
class _Closing:
    last_request: tuple[int, str, float] | None = None
    requests: list[tuple[int, str, float]] = field(default_factory=list)


# ---------------------------------------------------------------- pure helpers


def request_name(req_identifier: int) -> str:
    text = REQ_IDENTIFIER_TEXT.get(req_identifier, "unknown identifier")
    return f"{req_identifier} ({text.split(':')[0]})"


def parse_refusal(body: bytes | str) -> tuple[int, str, str]:
    """``(errCode, errMsg, errDlt)`` from a refusal body or status frame; zeros if none."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return 0, "", ""
    if not isinstance(obj, dict):
        return 0, "", ""
    code = obj.get("errCode", 0)
    return (code if isinstance(code, int) and not isinstance(code, bool) else 0,
            str(obj.get("errMsg") or ""), str(obj.get("errDlt") or ""))


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
    """contentType, sendID, seq of each message in a 2001 push, for FrameIn."""
    out: list[dict[str, Any]] = []
    for where, table in (("msgs", push.msgs), ("notificationMsgs", push.notificationMsgs)):
        for conv, pulled in table.items():
            for msg in pulled.Msgs:
                out.append({"map": where, "conversation": conv, "content_type": msg.contentType,
                            "send_id": msg.sendID, "seq": msg.seq, "client_msg_id": msg.clientMsgID})
    return out


def read_text(content: bytes) -> tuple[str, str]:
    """Text and form of a 101 content: ``{"text"}`` (KKIM clients), ``{"content"}``, or raw."""
    try:
        obj = json.loads(content)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return content.decode("utf-8", "replace"), "raw"
    if isinstance(obj, dict):
        for key in ("text", "content"):
            if isinstance(obj.get(key), str):
                return obj[key], key
    return content.decode("utf-8", "replace"), "raw"


# ---------------------------------------------------------------- the client


class KkimClient(ClientCore[Send | Reply | Fail]):
    """One connection's client side, without I/O.

    Args:
        agent: timeline agent name.
        user_id, platform_id, token, nickname: who this connection is.
        data_encoding: request ``data`` as ``"array"`` (default) or ``"base64"``.
        compression: frames are gzipped (``compression=gzip`` was asked for).
        signal_form: form of contentType 110 contents (``rtc_signal`` forms).
        adopt_server_room_id: keep True; False reproduces the field failure of a
            client that keeps its temporary roomID
            (``docs/field-failures.md#call-not-found-temp-room``).
        calls: the calls this agent knows, kept across reconnects.
    """

    def __init__(self, *, agent: str, user_id: str, platform_id: int, token: str, nickname: str = "",
                 data_encoding: DataEncoding = "array", compression: bool = False,
                 signal_form: str = FORM_TOP_LEVEL, adopt_server_room_id: bool = True,
                 calls: KnownCalls | None = None) -> None:
        super().__init__()
        self.agent, self.user_id, self.platform_id, self.token = agent, user_id, platform_id, token
        self.nickname = nickname
        self.data_encoding: DataEncoding = data_encoding
        self.compression = compression
        self.signal_form = signal_form
        self.adopt_server_room_id = adopt_server_room_id
        self.calls = calls if calls is not None else KnownCalls()
        self.closed = False
        self._pending: dict[str, _Pending] = {}
        self._abandoned: set[str] = set()
        self._last_request: tuple[int, str, float] | None = None
        self._incr = 0
        self._pings: collections.deque[_Ping] = collections.deque()
        self._ping_count = 0
        self._rtts: dict[int, float] = {}
        self._invites: dict[str, InviteOutcome] = {}
        self._actions: dict[str, ActionOutcome] = {}

    # ------------------------------------------------------------ requests

    def send_request(self, req_identifier: int, data: bytes, now_ms: float, *,
                     send_id: str | None = None, what: _Invite | _Action | None = None) -> str:
        """Queue one request frame; return its msgIncr."""
        self._incr += 1
        incr = str(self._incr)
        req = Request(req_identifier=int(req_identifier),
                      send_id=self.user_id if send_id is None else send_id, msg_incr=incr,
                      operation_id=uuid.uuid4().hex, token=self.token, data=data)
        frame = envelope.pack(envelope.encode_request(req, self.data_encoding), self.compression)
        self._pending[incr] = _Pending(int(req_identifier), now_ms, what)
        self._last_request = (int(req_identifier), incr, now_ms)
        self._record(FrameOut(label=request_name(req_identifier), req_identifier=int(req_identifier),
                              msg_incr=incr, size=len(frame), encoding=self.data_encoding, gzip=self.compression,
                              operation_id=req.operation_id, over_limit=len(frame) > envelope.MAX_MESSAGE_SIZE))
        self._out.append(Send(frame))
        return incr

    def abandon(self, msg_incr: str, setting: str, seconds: float) -> None:
        """The I/O layer gave up waiting: a later reply is recorded as late."""
        pending = self._pending.pop(msg_incr, None)
        if pending is None:
            return
        self._abandoned.add(msg_incr)
        self._record(RequestTimeout(label=request_name(pending.req_identifier),
                                    req_identifier=pending.req_identifier, msg_incr=msg_incr,
                                    setting=setting, seconds=seconds))

    def invite(self, callees: list[str], media: str, timeout_s: int, now_ms: float, wall_ms: int) -> str:
        """Queue a 1004 invite with the whole invitation (``docs/backends/kkim.md#call-signaling``)."""
        temp_room = f"tmp_{self.user_id}_{wall_ms}_{uuid.uuid4().hex[:6]}"
        req, inv = requests.invite(self.user_id, self.platform_id, self.nickname, callees, media,
                                   timeout_s, temp_room, wall_ms)
        self._record(InviteSent(room_id=temp_room, callees=list(callees), media=media, timeout_s=timeout_s))
        return self.send_request(ReqIdentifier.SEND_SIGNAL_MSG, req.SerializeToString(), now_ms,
                                 what=_Invite(inv, temp_room, tuple(callees)))

    def act(self, action: str, room_id: str, now_ms: float) -> str:
        """Queue accept/reject/cancel/hungUp for ``room_id`` with the invitation it belongs to."""
        record = self.calls.get(room_id)
        if record is None:
            self._record(Note(note="unknown_room", text=f"no invitation known for room {room_id!r}; "
                                                        "sending a minimal one",
                              extra={"action": action, "room_id": room_id}))
            record = CallRecord(room_id, requests.minimal_invitation(room_id), "unknown", now_ms)
        req = requests.action(action, record.invitation, self.user_id, self.platform_id, self.nickname)
        self._record(ACTION_SENT[action](room_id=room_id, peer=record.peer_of(self.user_id)))
        return self.send_request(ReqIdentifier.SEND_SIGNAL_MSG, req.SerializeToString(), now_ms,
                                 what=_Action(action, room_id))

    def send_text(self, peer: str, text: str, now_ms: float, wall_ms: int) -> str:
        msg = requests.msg_data(self.user_id, self.platform_id, self.nickname, peer,
                                int(ContentType.TEXT), requests.text_content(text), wall_ms)
        self._record(TextSent(to=peer, client_msg_id=msg.clientMsgID, length=len(text)))
        return self.send_request(ReqIdentifier.SEND_MSG, msg.SerializeToString(), now_ms,
                                 what=_Action("send_text", client_msg_id=msg.clientMsgID))

    def send_signal(self, peer: str, room_id: str, signal_type: str, data: Any, now_ms: float,
                    wall_ms: int) -> str:
        content = encode_signal(WebRtcSignal(signal_type, room_id, data, self.signal_form))
        msg = requests.msg_data(self.user_id, self.platform_id, self.nickname, peer,
                                int(ContentType.CUSTOM), content, wall_ms)
        self._record(SignalSent(room_id=room_id, signal_type=signal_type, to=peer,
                                client_msg_id=msg.clientMsgID, form=self.signal_form))
        return self.send_request(ReqIdentifier.SEND_MSG, msg.SerializeToString(), now_ms,
                                 what=_Action("send_signal", client_msg_id=msg.clientMsgID))

    def send_message(self, msg: sdkws_pb2.MsgData, now_ms: float) -> str:
        """Queue a whole ``MsgData`` as given (SendMsg 1003), whatever it claims: the walk's probes
        send what another client could, to see whether the server refuses it."""
        self._record(Note(note="message_sent", extra={
            "to": msg.recvID, "content_type": msg.contentType, "msg_from": msg.msgFrom,
            "client_msg_id": msg.clientMsgID}))
        return self.send_request(ReqIdentifier.SEND_MSG, msg.SerializeToString(), now_ms,
                                 what=_Action("send_message", client_msg_id=msg.clientMsgID))

    def invite_outcome(self, msg_incr: str) -> InviteOutcome:
        return self._invites.pop(msg_incr, InviteOutcome(refused=True, explanation="no reply"))

    def action_outcome(self, msg_incr: str) -> ActionOutcome:
        return self._actions.pop(msg_incr, ActionOutcome(refused=True, explanation="no reply"))

    # ------------------------------------------------------------ heartbeat

    def ping(self, now_ms: float) -> int:
        """Queue a text ping (``docs/backends/kkim.md#heartbeat``); its number."""
        self._ping_count += 1
        ping = _Ping(self._ping_count, now_ms)
        self._pings.append(ping)
        self._record(HeartbeatSent(number=ping.number, size=len(envelope.PING_TEXT)))
        self._out.append(Send(envelope.PING_TEXT))
        return ping.number

    def ping_deadline(self, number: int, setting: str, seconds: float) -> None:
        """The pong of ping ``number`` was due now: missed if it has not come."""
        for ping in self._pings:
            if ping.number == number and not ping.missed and not self.closed:
                ping.missed = True
                self._record(HeartbeatMissed(number=number, setting=setting, seconds=seconds))

    def pong_rtt(self, number: int) -> float | None:
        """Round trip of ping ``number`` once its pong came; None while it has not."""
        return self._rtts.get(number)

    # ------------------------------------------------------------ frames in

    def receive_text(self, text: str, now_ms: float) -> None:
        beat: envelope.Heartbeat | None
        try:
            beat = envelope.decode_heartbeat(text)
        except ProtocolError:
            beat = None
        if beat is None:
            code, msg, _ = parse_refusal(text)
            self._record(FrameIn(label="text frame", size=len(text), data_form="text", err_code=code,
                                 err_msg=msg, text=text[:120]))
            self._record(Note(note="unexpected_text_frame",
                              text=f"server sent a text frame that is not a heartbeat: {text[:120]!r}"))
            return
        if beat.type == "ping":  # a server-side text ping: answer as the gateway would
            self._record(Note(note="server_text_ping", extra={"body": beat.body}))
            self._out.append(Send(envelope.encode_pong(beat)))
            return
        if not self._pings:
            self._record(Note(note="unmatched_pong", text="pong without an outstanding ping"))
            return
        ping = self._pings.popleft()
        ping.rtt_ms = round(now_ms - ping.sent_ms, 3)
        self._rtts[ping.number] = ping.rtt_ms
        self._record(HeartbeatReply(number=ping.number, rtt_ms=ping.rtt_ms,
                                    form="pong+body" if "body" in text else "pong", size=len(text),
                                    late=ping.missed))

    def receive_binary(self, frame: bytes, now_ms: float) -> None:
        gz = frame.startswith(_GZIP_MAGIC)
        try:
            raw = envelope.decompress(frame) if gz else frame
            resp = envelope.decode_response(raw)
        except (BadCompression, MalformedEnvelope, BadDataEncoding) as exc:
            self._record(FrameIn(label="undecodable frame", size=len(frame), gzip=gz, error=str(exc)))
            self._record(Note(note="undecodable_frame", text=f"server frame not decodable: {exc}"))
            return
        base = FrameIn(label=request_name(resp.req_identifier), req_identifier=resp.req_identifier,
                       msg_incr=resp.msg_incr, size=len(frame), err_code=resp.err_code,
                       data_form=resp.data_form, gzip=gz, gzip_mismatch=gz != self.compression)
        pending = self._pending.get(resp.msg_incr) if resp.msg_incr else None
        if pending is not None and pending.req_identifier == resp.req_identifier:
            del self._pending[resp.msg_incr]
            self._record(_with(base, latency_ms=round(now_ms - pending.sent_ms, 3)))
            self._on_reply(resp, pending, now_ms)
            return
        if resp.msg_incr and resp.msg_incr in self._abandoned:
            self._abandoned.discard(resp.msg_incr)
            self._record(_with(base, late=True))
            self._record(Note(note="late_reply", text="reply arrived after request_timeout_s",
                              extra={"req_identifier": resp.req_identifier, "msg_incr": resp.msg_incr}))
            return
        push: sdkws_pb2.PushMessages | None = None
        if resp.req_identifier == ReqIdentifier.PUSH_MSG and resp.data:
            try:
                push = parse(sdkws_pb2.PushMessages, resp.data)
                base = _with(base, msgs=push_summary(push))
            except CallprobeError as exc:
                base = _with(base, error=str(exc))
        self._record(base)
        self._on_unsolicited(resp, push, now_ms)

    # ------------------------------------------------------------ closing

    def connection_closed(self, code: int, reason: str, by: str, now_ms: float) -> None:
        """The socket is gone: record why, fail every pending request, tell the agent."""
        if self.closed:
            return
        self.closed = True
        pending = [(p.req_identifier, incr, p.sent_ms) for incr, p in self._pending.items()]
        explanation = explain_close(code, reason, by, pending, self._last_request, now_ms)
        after = None
        if pending and by == "server":
            after = {"req_identifier": pending[0][0], "msg_incr": pending[0][1],
                     "ms_before_close": round(now_ms - pending[0][2], 3)}
        self._record(WsClosed(code=code, reason=reason, by=by, explanation=explanation, after_request=after))
        for ident, incr, _ in pending:
            self._out.append(Fail(incr, ident, code, explanation))
        self._pending.clear()
        self._deliver(DriverNotice("disconnected", data={"code": code, "reason": reason, "by": by,
                                                         "explanation": explanation}))

    # ------------------------------------------------------------ replies

    def _on_reply(self, resp: Response, pending: _Pending, now_ms: float) -> None:
        if resp.err_code:
            self._record(RequestFailed(label=request_name(resp.req_identifier), req_identifier=resp.req_identifier,
                                       msg_incr=resp.msg_incr, err_code=resp.err_code, err_msg=resp.err_msg,
                                       explanation=explain_err_code(resp.err_code)))
        what = pending.what
        if isinstance(what, _Invite):
            self._invites[resp.msg_incr] = self._invite_reply(resp, what, pending.sent_ms)
        elif isinstance(what, _Action):
            self._actions[resp.msg_incr] = self._action_reply(resp, what)
        self._out.append(Reply(resp.msg_incr, resp))

    def _signal_resp(self, resp: Response, action: str) -> rtc_pb2.SignalResp | None:
        if not resp.data:
            return None
        try:
            return parse(rtc_pb2.SignalResp, resp.data)
        except CallprobeError as exc:
            self._record(Note(note="bad_signal_resp", text=str(exc), extra={"action": action}))
            return None

    def _invite_reply(self, resp: Response, what: _Invite, opened_ms: float) -> InviteOutcome:
        signal = self._signal_resp(resp, "invite")
        busy = tuple(signal.invite.busyLineUserIDList) if signal is not None else ()
        if resp.err_code:
            from_reply = bool(busy)
            if not busy and resp.err_code == ErrCode.USER_BUSY:
                busy = what.callees
            explanation = explain_err_code(resp.err_code)
            self._record(InviteRefused(room_id=what.temp_room, err_code=resp.err_code, err_msg=resp.err_msg,
                                       explanation=explanation, busy=list(busy), busy_from_reply=from_reply))
            return InviteOutcome(busy=busy, refused=True, err_code=resp.err_code, err_msg=resp.err_msg,
                                 explanation=explanation)
        server_room = signal.invite.roomID if signal is not None else ""
        room = server_room if (server_room and self.adopt_server_room_id) else what.temp_room
        if not server_room:
            self._record(Note(note="no_server_room_id", room_id=what.temp_room,
                              text="SignalInviteResp carried no roomID; keeping the client's temporary one"))
        self.calls.add(room, what.invitation, "inviter", opened_ms, temp_room_id=what.temp_room)
        self._record(InviteAcked(room_id=room, server_room_id=server_room, temp_room_id=what.temp_room,
                                 busy=list(busy), adopted=room == server_room))
        return InviteOutcome(room_id=room, busy=busy)

    def _action_reply(self, resp: Response, what: _Action) -> ActionOutcome:
        if resp.err_code:
            explanation = explain_err_code(resp.err_code)
            self._record(ActionRefused(room_id=what.room_id, action=what.action, client_msg_id=what.client_msg_id,
                                       err_code=resp.err_code, err_msg=resp.err_msg, explanation=explanation))
            return ActionOutcome(True, resp.err_code, resp.err_msg, explanation)
        if what.action in MESSAGE_ACTIONS:
            # fields 1-3 only: a field 4 (seq int64 in some servers, modify MsgData upstream) is skipped
            ack = sdkws_pb2.UserSendMsgResp()
            try:
                ack.ParseFromString(resp.data or b"")
            except Exception as exc:
                self._record(Note(note="bad_send_msg_resp", text=str(exc)))
            self._record(ActionAcked(action=what.action, client_msg_id=what.client_msg_id,
                                     server_msg_id=ack.serverMsgID, send_time=ack.sendTime))
            return ActionOutcome(payload=resp.data)
        signal = self._signal_resp(resp, what.action)
        got = signal.WhichOneof("payload") if signal is not None else None
        self._record(ActionAcked(room_id=what.room_id, action=what.action, resp_payload=got))
        if what.action != "accept":
            self.calls.end(what.room_id)
        return ActionOutcome(payload=resp.data)

    # ------------------------------------------------------------ pushes

    def _on_unsolicited(self, resp: Response, push: sdkws_pb2.PushMessages | None, now_ms: float) -> None:
        ident = resp.req_identifier
        if ident == ReqIdentifier.PUSH_MSG:
            if push is None:
                self._record(Note(note="push_without_messages", extra={"data_form": resp.data_form}))
                return
            for table in (push.msgs, push.notificationMsgs):
                for conv, pulled in table.items():
                    for msg in pulled.Msgs:
                        self._on_message(msg, conv, now_ms)
        elif ident == ReqIdentifier.KICK_ONLINE_MSG:
            self._kicked("2002", "another login of this user on this platform took the connection")
        elif ident == ReqIdentifier.LOGOUT_MSG:
            self._kicked("2003", "the server logged this connection out")
        elif ident == ReqIdentifier.SEND_SIGNAL_MSG:
            self._on_unsolicited_1004(resp, now_ms)
        else:
            self._record(Note(note="unhandled_frame",
                              extra={"req_identifier": ident, "msg_incr": resp.msg_incr}))

    def _kicked(self, by: str, text: str) -> None:
        self._record(Kicked(by=by, text=text))
        self._deliver(DriverNotice("kicked", data={"by": by, "text": text}))

    def _on_unsolicited_1004(self, resp: Response, now_ms: float) -> None:
        signal: rtc_pb2.SignalResp | None = None
        if resp.data:
            try:
                signal = parse(rtc_pb2.SignalResp, resp.data)
            except CallprobeError as exc:
                self._record(NoticeUndecodable(content_type=int(ReqIdentifier.SEND_SIGNAL_MSG),
                                               reason=f"unsolicited 1004 data is not a SignalResp: {exc}",
                                               size=len(resp.data)))
                return
        call = from_signal_resp(signal) if signal is not None else None
        if call is None or call.action not in ACTION_NOTICE:
            self._record(Note(note="unsolicited_1004_ignored",
                              extra={"err_code": resp.err_code, "payload": call.action if call else None}))
            return
        self._peer_action(call.action, call.room_id, PATH_1004, now_ms, op_user=None, dialect=call.dialect,
                          server_reason=server_reason_1004(resp.operation_id))

    def _on_message(self, msg: sdkws_pb2.MsgData, conv: str, now_ms: float) -> None:
        own = msg.sendID == self.user_id
        ctype = msg.contentType
        if ctype == ContentType.SIGNALING_NOTIFICATION:
            self._on_1601(msg, own, now_ms)
        elif ctype == ContentType.CUSTOM:
            self._on_custom(msg, own)
        elif ctype == ContentType.TEXT:
            if own:
                self._own_echo(msg)
                return
            text, form = read_text(msg.content)
            self._record(TextReceived(sender=msg.sendID, client_msg_id=msg.clientMsgID, seq=msg.seq, via="push",
                                      conversation=conv, form=form, status=msg.status))
            self._deliver(DriverNotice("text_received", peer=msg.sendID, path="push",
                                       data={"text": text, "client_msg_id": msg.clientMsgID, "seq": msg.seq}))
        else:
            self._record(Note(note="message_ignored",
                              extra={"content_type": ctype, "client_msg_id": msg.clientMsgID,
                                     "conversation": conv, "from": msg.sendID}))

    def _on_custom(self, msg: sdkws_pb2.MsgData, own: bool) -> None:
        signal = decode_signal(msg.content)
        if signal is None:
            self._record(Note(note="custom_message", extra={"client_msg_id": msg.clientMsgID, "from": msg.sendID}))
        elif own:
            self._own_echo(msg, signal_type=signal.signal_type)
        else:
            self._record(SignalReceived(room_id=signal.room_id, signal_type=signal.signal_type, sender=msg.sendID,
                                        form=signal.form, client_msg_id=msg.clientMsgID, seq=msg.seq))
            self._deliver(DriverNotice("signal_received", room_id=signal.room_id, peer=msg.sendID, path="push_110",
                                       data={"signal_type": signal.signal_type, "data": signal.data,
                                             "form": signal.form, "client_msg_id": msg.clientMsgID}))

    def _own_echo(self, msg: sdkws_pb2.MsgData, **extra: Any) -> None:
        """Sender sync (``docs/backends/kkim.md#sender-sync``): recorded, never acted upon."""
        self._record(Note(note="own_echo", extra={"content_type": msg.contentType, "client_msg_id": msg.clientMsgID,
                                                  "seq": msg.seq, "status": msg.status, **extra}))

    def _on_1601(self, msg: sdkws_pb2.MsgData, own: bool, now_ms: float) -> None:
        call = decode_1601(msg.content)
        if call is None:
            self._record(NoticeUndecodable(content_type=int(ContentType.SIGNALING_NOTIFICATION),
                                           reason="1601 content is neither a sane SignalInviteReq nor a SignalReq",
                                           size=len(msg.content), client_msg_id=msg.clientMsgID, sender=msg.sendID))
            return
        if own:
            self._own_echo(msg, action=call.action, room_id=call.room_id, dialect=call.dialect)
            return
        if call.action in ("invite", "inviteInGroup"):
            self._ringing(msg, call.dialect, now_ms)
            return
        if call.action not in ACTION_NOTICE:
            self._record(Note(note="1601_ignored", room_id=call.room_id, extra={"action": call.action}))
            return
        self._peer_action(call.action, call.room_id, PATH_1601, now_ms, op_user=call.op_user_id,
                          dialect=call.dialect, platform=call.platform_id, seq=msg.seq,
                          server_reason=server_reason_1601(msg.ex))

    def _ringing(self, msg: sdkws_pb2.MsgData, dialect: str, now_ms: float) -> None:
        inv, _op = invitation_from_1601(msg.content, dialect)
        room = inv.roomID
        if inv.inviteeUserIDList and self.user_id not in inv.inviteeUserIDList:
            self._record(Note(note="invite_not_for_me", room_id=room,
                              extra={"invitees": list(inv.inviteeUserIDList)}))
            return
        earlier = self.calls.first_arrival(room, "invite", PATH_1601, now_ms, "ringing")
        if earlier is not None:
            self._record(Note(note="second_arrival", room_id=room,
                              extra={"action": "invite", "path": PATH_1601, "first_path": earlier.path,
                                     "latency_diff_ms": round(now_ms - earlier.t_ms, 3)}))
            return
        self.calls.add(room, inv, "invitee", now_ms)
        self._record(Ringing(room_id=room, inviter=inv.inviterUserID, media=inv.mediaType, dialect=dialect,
                             via=PATH_1601, platform=self.platform_id, timeout_s=inv.timeout, seq=msg.seq,
                             invitees=list(inv.inviteeUserIDList), sender=msg.sendID, msg_from=msg.msgFrom))
        self._deliver(DriverNotice("ringing", room_id=room, peer=inv.inviterUserID, path=PATH_1601,
                                   data={"media": inv.mediaType, "dialect": dialect, "timeout_s": inv.timeout,
                                         "invitees": list(inv.inviteeUserIDList)}))

    def _peer_action(self, action: str, room_id: str, path: str, now_ms: float, *, op_user: str | None,
                     dialect: str, platform: int = 0, seq: int = 0, server_reason: str = "") -> None:
        room, inferred = self.calls.resolve(room_id)
        record = self.calls.get(room)
        kind = notice_kind(action, op_user=op_user, record=record, t_ms=now_ms, server_reason=server_reason)
        group = record is not None and record.role == "inviter" and record.invitee_count > 1
        earlier = self.calls.first_arrival(room, action, path, now_ms, kind)
        if earlier is not None:
            self._record(Note(note="second_arrival", room_id=room,
                              extra={"action": action, "path": path, "first_path": earlier.path,
                                     "latency_diff_ms": round(now_ms - earlier.t_ms, 3), "notice_kind": kind,
                                     "first_kind": earlier.kind}))
            return
        peer = record.peer_of(self.user_id) if record is not None else ""
        # in a call to several users a notice that names nobody cannot be pinned on one of them
        by = "" if kind == "call_timeout" or (group and not op_user) else (op_user or peer)
        self._record(peer_action_type(kind)(
            room_id=room, path=path, by=by, dialect=dialect, action=action, room_inferred=inferred,
            op_platform=platform, seq=seq, unknown_room=record is None, server_reason=server_reason))
        self._deliver(DriverNotice(kind, room_id=room, peer=by or ("" if group else peer), path=path,
                                   data={"action": action, "dialect": dialect, "room_inferred": inferred,
                                         "server_reason": server_reason}))
        if kind != "answered" and not (group and kind == "rejected"):
            self.calls.end(room)  # one invitee declining ends only that invitee's part


def _with(event: FrameIn, **changes: Any) -> FrameIn:
    return dataclasses.replace(event, **changes)
