"""Request handling per identifier (1001-1007, 2003-2005): docs/backends/kkim.md#request-identifiers.

Each handler decodes its protobuf, checks it, and returns the reply payload;
pushes it causes are returned as follow-ups the session runs *after* queuing
the reply, so a sender sees its SendMsgResp before its own echo push.
Business failures raise ``BusinessError`` and become a Resp with the KKIM
``errCode`` (docs/backends/kkim.md#error-codes) and ``data`` null; the connection stays open. Each
refusal (a ``data`` that does not parse is 500, a bad token 1001/1002, and
every other errCode) is logged at WARNING on one line.

A request's own ``token`` field, when not empty, is checked too: an expired
token is 1001, any other problem (bad signature, kicked, another user's) 1002.
An empty field is not checked: upstream ignores the field altogether.

What an ordinary user may send (``docs/backends/kkim.md#limits``): never
``msgFrom`` 200 (system) and never a content type of the notification range
1000-5000, which only the server (or an admin) produces, except a 1601 call
notice in which the sender invites as itself; anything else is 1002, so no
user can forge an invitation from someone else. Conversations a user may read
are the stored pairs it belongs to (``GatewayCore.conversations_of``), and every
list a request names and every history reply is bounded (``limits``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from google.protobuf.message import DecodeError

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import (
    msg_pb2,
    push_pb2,
    rtc_pb2,
    sdkws_pb2,
)
from callprobe.backends.kkim.protocol.call_notice import (
    DIALECT_BARE_INVITE,
    decode_1601,
    sane_invitation,
)
from callprobe.backends.kkim.protocol.call_state import UserBusy
from callprobe.backends.kkim.protocol.constants import (
    KKIM_ERR_MSG,
    CloseCode,
    ContentType,
    ErrCode,
    MsgFrom,
    MsgStatus,
    ReqIdentifier,
    SessionType,
)
from callprobe.backends.kkim.protocol.conversation import is_notification
from callprobe.backends.kkim.protocol.envelope import Request, Response
from callprobe.backends.kkim.protocol.errors import BusinessError
from callprobe.backends.kkim.protocol.rtc_signal import decode_signal
from callprobe.backends.kkim.server.auth import TokenError
from callprobe.backends.kkim.server.core import (
    FollowUps,
    GatewayCore,
    now_ms,
    server_msg_id,
)
from callprobe.backends.kkim.server.limits import ReplyBudget, check_items
from callprobe.backends.kkim.server.logsafe import quoted
from callprobe.backends.kkim.server.session import Session
from callprobe.backends.kkim.server.signaling import Signaling
from callprobe.backends.kkim.server.store import Conversation

log = logging.getLogger("callprobe.server.kkim")

#: the content types only a server produces (upstream NotificationBegin..NotificationEnd,
#: docs/backends/kkim.md#constants)
NOTIFICATION_BEGIN, NOTIFICATION_END = 1000, 5000


def _fail(code: ErrCode, detail: str) -> BusinessError:
    return BusinessError(code, detail)


class Handlers:
    """Dispatches requests of every connection of one gateway."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core
        self.signaling = Signaling(core)
        self._table: dict[int, Callable[[Session, Request, FollowUps], bytes | None]] = {
            ReqIdentifier.GET_NEWEST_SEQ: self.get_newest_seq,
            ReqIdentifier.PULL_MSG_BY_SEQ_LIST: self.pull_by_seq_list,
            ReqIdentifier.SEND_MSG: self.send_msg,
            ReqIdentifier.SEND_SIGNAL_MSG: self.signaling.handle,
            ReqIdentifier.PULL_MSG: self.pull_msg,
            ReqIdentifier.GET_CONV_MAX_READ_SEQ: self.get_conv_max_read_seq,
            ReqIdentifier.PULL_CONV_LAST_MESSAGE: self.pull_conv_last_message,
            ReqIdentifier.LOGOUT_MSG: self.logout,
            ReqIdentifier.SET_BACKGROUND_STATUS: self.set_background,
            ReqIdentifier.SUB_USER_ONLINE_STATUS: self.sub_online_status,
        }

    async def dispatch(self, session: Session, req: Request) -> tuple[Response, FollowUps]:
        then: FollowUps = []
        handler = self._table[req.req_identifier]
        try:
            self._check_token_field(session, req)
            data = handler(session, req, then)
        except BusinessError as exc:
            code = int(exc.err_code or ErrCode.SERVER_INTERNAL)
            log.warning("refused request %d from %s (operationID %s): %d %s", req.req_identifier,
                        session.conn_id, quoted(req.operation_id), code, exc)
            err_data: bytes | None = None
            if isinstance(exc, UserBusy):
                busy = rtc_pb2.SignalResp()
                busy.invite.busyLineUserIDList.extend(exc.busy)
                err_data = busy.SerializeToString()
            return Response(req.req_identifier, req.msg_incr, req.operation_id, code,
                            KKIM_ERR_MSG.get(code, "error"), err_data), []
        return Response(req.req_identifier, req.msg_incr, req.operation_id, 0, "", data), then

    def _check_token_field(self, session: Session, req: Request) -> None:
        if not req.token or self.core.faults.accept_any_token:
            return
        try:
            claims = self.core.authority.verify(req.token, time.time())
        except TokenError as exc:
            raise BusinessError(exc.resp_code, f"request token: {exc.message}") from None
        if claims.user_id != session.user_id:
            raise _fail(ErrCode.TOKEN_INVALID, f"request token is for {claims.user_id!r}, not {session.user_id!r}")

    def _own_user(self, session: Session, user_id: str) -> str:
        """The request's userID must be the connection's (empty means the connection's)."""
        if user_id and user_id != session.user_id and not self.core.authority.is_admin(session.user_id):
            raise _fail(ErrCode.TOKEN_INVALID, f"userID {user_id!r} is not the connection's user")
        return user_id or session.user_id

    # ------------------------------------------------------------ 1003

    def send_msg(self, session: Session, req: Request, then: FollowUps) -> bytes:
        core = self.core
        msg = payloads.parse(sdkws_pb2.MsgData, req.data)
        if not msg.sendID:
            msg.sendID = session.user_id
        elif msg.sendID != session.user_id:
            raise _fail(ErrCode.TOKEN_INVALID, f"MsgData.sendID {msg.sendID!r} is not the connection's user")
        if not msg.content:
            raise _fail(ErrCode.CONTENT_EMPTY, "MsgData.content is empty")
        if len(msg.content) > core.settings.max_content_bytes:
            raise _fail(ErrCode.MESSAGE_TOO_LARGE,
                        f"content is {len(msg.content)} bytes, over {core.settings.max_content_bytes}")
        if msg.sessionType != SessionType.SINGLE_CHAT:
            raise _fail(ErrCode.USER_NOT_EXIST,
                        f"sessionType {msg.sessionType}: only single chat (1) is served, no group exists")
        if not msg.recvID or not core.store.user_exists(msg.recvID):
            raise _fail(ErrCode.USER_NOT_EXIST, f"recipient {msg.recvID!r} is not registered")
        if msg.recvID == msg.sendID:
            raise _fail(ErrCode.SEND_TO_SELF, "recvID equals sendID")
        if not core.authority.is_admin(session.user_id) and not core.faults.relay_forged_notices:
            self._check_user_message(msg)  # fault relay-forged-notices: anything goes
        msg.serverMsgID = server_msg_id(msg.sendID)
        stamp = now_ms()
        if msg.sendTime == 0:
            msg.sendTime = stamp
        msg.createTime = stamp
        conv = core.store_message(msg)
        if not self._dropped(msg):
            targets = [msg.recvID]
            if msg.options.get("senderSync", True):
                targets.append(msg.sendID)

            def push() -> None:
                core.push_message(conv, msg, targets, req.operation_id)
            then.append(push)
        resp = msg_pb2.SendMsgResp(serverMsgID=msg.serverMsgID, clientMsgID=msg.clientMsgID,
                                   sendTime=msg.sendTime)
        return resp.SerializeToString()

    @staticmethod
    def _check_user_message(msg: sdkws_pb2.MsgData) -> None:
        """Refuse (1002) what only a server may send: system messages and notices in another's name."""
        if msg.msgFrom == MsgFrom.SYSTEM:
            raise _fail(ErrCode.TOKEN_INVALID, "msgFrom 200 (system) is the server's: a user sends msgFrom 100")
        kind = msg.contentType
        if not NOTIFICATION_BEGIN <= kind <= NOTIFICATION_END:
            return
        if kind != ContentType.SIGNALING_NOTIFICATION:
            raise _fail(ErrCode.TOKEN_INVALID, f"contentType {kind} is a notification only the server sends")
        # a client may read either dialect (docs/backends/kkim.md#invite-notice): both readings must name the sender
        named: list[str] = []
        for cls in (rtc_pb2.SignalInviteReq, rtc_pb2.SignalReq):
            parsed = cls()
            try:
                parsed.ParseFromString(msg.content)
            except DecodeError:
                continue
            inner = parsed if isinstance(parsed, rtc_pb2.SignalInviteReq) else (
                getattr(parsed, str(parsed.WhichOneof("payload") or ""), None))
            inv = getattr(inner, "invitation", None)
            if inv is None or not sane_invitation(inv):
                continue
            named.append(inv.inviterUserID)
            op_user = getattr(inner, "userID", "")
            if op_user and op_user != msg.sendID:
                named.append(op_user)
        if not named:
            raise _fail(ErrCode.TOKEN_INVALID, "a 1601 from a user must carry a call invitation")
        others = [uid for uid in named if uid != msg.sendID]
        if others:
            raise _fail(ErrCode.TOKEN_INVALID, f"a 1601 naming {quoted(others[0])} as the inviter is not "
                                               f"{quoted(msg.sendID)}'s to send")

    def _dropped(self, msg: sdkws_pb2.MsgData) -> bool:
        """Fault ``drop-custom``: swallow 110 messages (all, ICE candidates, or those going to a callee)."""
        mode = self.core.faults.drop_custom
        if not mode or msg.contentType != ContentType.CUSTOM:
            return False
        if mode == "all":
            return True
        signal = decode_signal(msg.content)
        if signal is None or signal.signal_type != "candidate":
            return False
        if mode == "candidates-to-callee":  # one direction only: the call can still connect
            call = self.signaling.book.get(signal.room_id)
            return call is not None and msg.recvID != call.inviter
        return True

    # ------------------------------------------------------- 1001, 1006

    def get_newest_seq(self, session: Session, req: Request, then: FollowUps) -> bytes:
        ask = payloads.parse(sdkws_pb2.GetMaxSeqReq, req.data)
        user = self._own_user(session, ask.userID)
        resp = sdkws_pb2.GetMaxSeqResp()
        for conv, mine in self.core.conversations_of(user).items():
            seq = self.core.store.max_seq(mine.key)
            if seq > 0:
                resp.maxSeqs[conv] = seq
        return resp.SerializeToString()

    def get_conv_max_read_seq(self, session: Session, req: Request, then: FollowUps) -> bytes:
        ask = payloads.parse(msg_pb2.GetConversationsHasReadAndMaxSeqReq, req.data)
        check_items(len(ask.conversationIDs), self.core.settings.max_request_items, "conversationIDs")
        user = self._own_user(session, ask.userID)
        mine = self.core.conversations_of(user)
        wanted = list(dict.fromkeys(ask.conversationIDs)) or list(mine)
        resp = msg_pb2.GetConversationsHasReadAndMaxSeqResp()
        store = self.core.store
        for conv in wanted:
            if conv not in mine:
                continue
            key = mine[conv].key
            max_seq = store.max_seq(key)
            resp.seqs[conv].CopyFrom(msg_pb2.Seqs(maxSeq=max_seq, hasReadSeq=mine[conv].has_read_seq,
                                                  maxSeqTime=store.message_time(key, max_seq)))
        return resp.SerializeToString()

    # ------------------------------------------------------- history

    def _history_view(self, msg: sdkws_pb2.MsgData) -> sdkws_pb2.MsgData:
        """Fault ``history-without-payload``: invite records lose their content."""
        if (self.core.faults.history_without_payload and msg.contentType == ContentType.SIGNALING_NOTIFICATION
                and msg.content):
            notice = decode_1601(msg.content)
            if notice is not None and notice.dialect == DIALECT_BARE_INVITE:
                stripped = sdkws_pb2.MsgData()
                stripped.CopyFrom(msg)
                stripped.content = b""
                return stripped
        return msg

    #: seqs read from the store at a time, so a spent budget stops the reading too
    _CHUNK = 20

    def _fill(self, out: sdkws_pb2.PullMsgs, key: str, seqs: list[int], budget: ReplyBudget) -> bool:
        """Add the messages of ``seqs`` in order while the budget lasts; ``False`` if it ran out."""
        for start in range(0, len(seqs), self._CHUNK):
            chunk = seqs[start:start + self._CHUNK]
            found = self.core.store.messages(key, chunk)
            for seq in chunk:
                msg = found.get(seq)
                # a missing document comes back as upstream's placeholder (docs/backends/kkim.md#history)
                shown = sdkws_pb2.MsgData(seq=seq, status=MsgStatus.HAS_DELETED) if msg is None \
                    else self._history_view(msg)
                if not budget.admit(shown.ByteSize()):
                    return False
                out.Msgs.append(shown)
        return True

    def _own_conversations(self, session: Session, user_id: str) -> dict[str, Conversation]:
        return self.core.conversations_of(self._own_user(session, user_id))

    def _note_cut(self, session: Session, req: Request, budget: ReplyBudget) -> None:
        if budget.cut:
            log.info("reply to %d on %s cut at %d bytes (max_reply_bytes %d): isEnd false where messages "
                     "were left out", req.req_identifier, session.conn_id, budget.used,
                     self.core.settings.max_reply_bytes)

    def pull_by_seq_list(self, session: Session, req: Request, then: FollowUps) -> bytes:
        """1002 as upstream, bounded: ranges per request, messages per range, reply bytes.

        See docs/backends/kkim.md#history and #limits.

        A conversation named twice is answered once, for its last range (the
        upstream reply is a map). A range holding more than ``num`` seqs, or
        than ``max_pull_per_range``, keeps its last seqs; when the gateway's
        own limit or the reply budget left messages out, ``isEnd`` is false.
        """
        settings = self.core.settings
        ask = payloads.parse(sdkws_pb2.PullMessageBySeqsReq, req.data)
        check_items(len(ask.seqRanges), settings.max_request_items, "seqRanges")
        mine = self._own_conversations(session, ask.userID)
        ranges = {rng.conversationID: rng for rng in ask.seqRanges}
        resp = sdkws_pb2.PullMessageBySeqsResp()
        budget = ReplyBudget(settings.max_reply_bytes)
        for conv, rng in ranges.items():
            if is_notification(conv) or conv not in mine:
                continue  # no notification conversations here; unknown ones are skipped silently
            key = mine[conv].key
            max_seq = self.core.store.max_seq(key)
            begin, end = max(rng.begin, 1), min(rng.end, max_seq)
            if end < begin or rng.num <= 0:
                continue
            num = min(rng.num, settings.max_pull_per_range)
            seqs = list(range(max(begin, end - num + 1), end + 1))
            limited = end - begin + 1 > num and num < rng.num  # the gateway's limit, not the client's num
            pulled = resp.msgs[conv]
            if budget.cut or not self._fill(pulled, key, seqs, budget) or limited:
                pulled.isEnd = False
            elif ask.order == sdkws_pb2.PullOrderDesc:
                pulled.isEnd = rng.begin <= 1
            else:
                pulled.isEnd = max_seq <= rng.end
        self._note_cut(session, req, budget)
        return resp.SerializeToString()

    def pull_msg(self, session: Session, req: Request, then: FollowUps) -> bytes:
        """1005 (docs/backends/kkim.md#history), bounded: conversations per request, seqs per conversation, reply bytes.

        Past ``max_pull_per_range`` the first seqs in the requested order are
        served and ``isEnd`` is false.
        """
        settings = self.core.settings
        ask = payloads.parse(msg_pb2.GetSeqMessageReq, req.data)
        check_items(len(ask.conversations), settings.max_request_items, "conversations")
        mine = self._own_conversations(session, ask.userID)
        resp = msg_pb2.GetSeqMessageResp()
        budget = ReplyBudget(settings.max_reply_bytes)
        desc = ask.order == sdkws_pb2.PullOrderDesc
        for item in ask.conversations:
            conv = item.conversationID
            if is_notification(conv) or conv not in mine:
                continue
            key = mine[conv].key
            max_seq = self.core.store.max_seq(key)
            wanted = sorted({s for s in item.seqs if 1 <= s <= max_seq}, reverse=desc)
            seqs = sorted(wanted[:settings.max_pull_per_range])
            pulled = resp.msgs[conv]
            complete = not budget.cut and (not seqs or self._fill(pulled, key, seqs, budget))
            if not complete or len(wanted) > len(seqs):
                pulled.isEnd = False
            elif desc and any(s < 1 for s in item.seqs):
                pulled.isEnd, pulled.endSeq = True, 1
            elif not desc and any(s > max_seq for s in item.seqs):
                pulled.isEnd, pulled.endSeq = True, max_seq
        self._note_cut(session, req, budget)
        return resp.SerializeToString()

    def pull_conv_last_message(self, session: Session, req: Request, then: FollowUps) -> bytes:
        """1007: the last message per conversation; past the reply budget the rest are left out."""
        settings = self.core.settings
        ask = payloads.parse(msg_pb2.GetLastMessageReq, req.data)
        check_items(len(ask.conversationIDs), settings.max_request_items, "conversationIDs")
        mine = self._own_conversations(session, ask.userID)
        resp = msg_pb2.GetLastMessageResp()
        budget = ReplyBudget(settings.max_reply_bytes)
        for conv in dict.fromkeys(ask.conversationIDs):
            if conv not in mine:
                continue
            key = mine[conv].key
            seq = self.core.store.max_seq(key)
            found = self.core.store.messages(key, [seq])
            if seq in found:
                shown = self._history_view(found[seq])
                if not budget.admit(shown.ByteSize() + len(conv.encode())):
                    break
                resp.msgs[conv].CopyFrom(shown)
        self._note_cut(session, req, budget)
        return resp.SerializeToString()

    # ------------------------------------------------- 2003-2005

    def logout(self, session: Session, req: Request, then: FollowUps) -> bytes:
        ask = payloads.parse(push_pb2.DelUserPushTokenReq, req.data)
        self._own_user(session, ask.userID)
        then.append(lambda: session.close(CloseCode.NORMAL, "logout"))
        return push_pb2.DelUserPushTokenResp().SerializeToString()

    def set_background(self, session: Session, req: Request, then: FollowUps) -> None:
        ask = payloads.parse(sdkws_pb2.SetAppBackgroundStatusReq, req.data)
        self._own_user(session, ask.userID)
        session.background = ask.isBackground

    def sub_online_status(self, session: Session, req: Request, then: FollowUps) -> bytes:
        settings = self.core.settings
        ask = payloads.parse(sdkws_pb2.SubUserOnlineStatus, req.data)
        check_items(len(ask.subscribeUserID) + len(ask.unsubscribeUserID), settings.max_request_items,
                    "subscribeUserID and unsubscribeUserID")
        hub = self.core.hub
        hub.unsubscribe(session, list(ask.unsubscribeUserID))
        hub.subscribe(session, list(ask.subscribeUserID))
        check_items(hub.watching(session), settings.max_subscriptions, "users watched by one connection (2005)")
        tips = sdkws_pb2.SubUserOnlineStatusTips()
        for uid in ask.subscribeUserID:
            tips.subscribers.add(userID=uid, onlinePlatformIDs=hub.platforms(uid))
        return tips.SerializeToString()
