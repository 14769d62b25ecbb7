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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import msg_pb2, push_pb2, rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import DIALECT_BARE_INVITE, decode_1601
from callprobe.backends.kkim.protocol.call_state import UserBusy
from callprobe.backends.kkim.protocol.constants import (
    KKIM_ERR_MSG,
    CloseCode,
    ContentType,
    ErrCode,
    MsgStatus,
    ReqIdentifier,
    SessionType,
)
from callprobe.backends.kkim.protocol.conversation import is_notification, single_chat_id
from callprobe.backends.kkim.protocol.envelope import Request, Response
from callprobe.backends.kkim.protocol.errors import BusinessError
from callprobe.backends.kkim.protocol.rtc_signal import decode_signal
from callprobe.backends.kkim.server.auth import TokenError
from callprobe.backends.kkim.server.core import FollowUps, GatewayCore, now_ms, server_msg_id
from callprobe.backends.kkim.server.session import Session
from callprobe.backends.kkim.server.signaling import Signaling

log = logging.getLogger("callprobe.server.kkim")


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
                        session.conn_id, req.operation_id, code, exc)
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
        msg.serverMsgID = server_msg_id(msg.sendID)
        stamp = now_ms()
        if msg.sendTime == 0:
            msg.sendTime = stamp
        msg.createTime = stamp
        conv = single_chat_id(msg.sendID, msg.recvID)
        core.store_message(msg, conv)
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

    def _dropped(self, msg: sdkws_pb2.MsgData) -> bool:
        """Fault ``drop-custom``: swallow 110 messages (all, or ICE candidates)."""
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
        for conv in self.core.store.conversations_of(user):
            seq = self.core.store.max_seq(conv)
            if seq > 0:
                resp.maxSeqs[conv] = seq
        return resp.SerializeToString()

    def get_conv_max_read_seq(self, session: Session, req: Request, then: FollowUps) -> bytes:
        ask = payloads.parse(msg_pb2.GetConversationsHasReadAndMaxSeqReq, req.data)
        user = self._own_user(session, ask.userID)
        mine = self.core.store.conversations_of(user)
        wanted = list(ask.conversationIDs) or list(mine)
        resp = msg_pb2.GetConversationsHasReadAndMaxSeqResp()
        store = self.core.store
        for conv in wanted:
            if conv not in mine:
                continue
            max_seq = store.max_seq(conv)
            resp.seqs[conv].CopyFrom(msg_pb2.Seqs(maxSeq=max_seq, hasReadSeq=mine[conv],
                                                  maxSeqTime=store.message_time(conv, max_seq)))
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

    def _fill(self, out: sdkws_pb2.PullMsgs, conv: str, seqs: list[int]) -> None:
        found = self.core.store.messages(conv, seqs)
        for seq in seqs:
            msg = found.get(seq)
            if msg is None:  # upstream placeholder for a missing document (docs/backends/kkim.md#history)
                out.Msgs.add(seq=seq, status=MsgStatus.HAS_DELETED)
            else:
                out.Msgs.append(self._history_view(msg))

    def pull_by_seq_list(self, session: Session, req: Request, then: FollowUps) -> bytes:
        ask = payloads.parse(sdkws_pb2.PullMessageBySeqsReq, req.data)
        user = self._own_user(session, ask.userID)
        mine = self.core.store.conversations_of(user)
        resp = sdkws_pb2.PullMessageBySeqsResp()
        for rng in ask.seqRanges:
            conv = rng.conversationID
            if is_notification(conv) or conv not in mine:
                continue  # no notification conversations here; unknown ones are skipped silently
            max_seq = self.core.store.max_seq(conv)
            begin, end = max(rng.begin, 1), min(rng.end, max_seq)
            if end < begin:
                continue
            if end - begin + 1 <= rng.num:
                seqs = list(range(begin, end + 1))
            else:
                seqs = list(range(end - rng.num + 1, end + 1)) if rng.num > 0 else []
            if not seqs:
                continue
            pulled = resp.msgs[conv]
            self._fill(pulled, conv, seqs)
            if ask.order == sdkws_pb2.PullOrderDesc:
                pulled.isEnd = rng.begin <= 1
            else:
                pulled.isEnd = max_seq <= rng.end
        return resp.SerializeToString()

    def pull_msg(self, session: Session, req: Request, then: FollowUps) -> bytes:
        ask = payloads.parse(msg_pb2.GetSeqMessageReq, req.data)
        user = self._own_user(session, ask.userID)
        mine = self.core.store.conversations_of(user)
        resp = msg_pb2.GetSeqMessageResp()
        for item in ask.conversations:
            conv = item.conversationID
            if is_notification(conv) or conv not in mine:
                continue
            max_seq = self.core.store.max_seq(conv)
            seqs = sorted({s for s in item.seqs if 1 <= s <= max_seq})
            pulled = resp.msgs[conv]
            if seqs:
                self._fill(pulled, conv, seqs)
            if ask.order == sdkws_pb2.PullOrderDesc and any(s < 1 for s in item.seqs):
                pulled.isEnd, pulled.endSeq = True, 1
            elif ask.order != sdkws_pb2.PullOrderDesc and any(s > max_seq for s in item.seqs):
                pulled.isEnd, pulled.endSeq = True, max_seq
        return resp.SerializeToString()

    def pull_conv_last_message(self, session: Session, req: Request, then: FollowUps) -> bytes:
        ask = payloads.parse(msg_pb2.GetLastMessageReq, req.data)
        user = self._own_user(session, ask.userID)
        mine = self.core.store.conversations_of(user)
        resp = msg_pb2.GetLastMessageResp()
        for conv in ask.conversationIDs:
            if conv not in mine:
                continue
            seq = self.core.store.max_seq(conv)
            found = self.core.store.messages(conv, [seq])
            if seq in found:
                resp.msgs[conv].CopyFrom(self._history_view(found[seq]))
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
        return None

    def sub_online_status(self, session: Session, req: Request, then: FollowUps) -> bytes:
        ask = payloads.parse(sdkws_pb2.SubUserOnlineStatus, req.data)
        hub = self.core.hub
        hub.unsubscribe(session, list(ask.unsubscribeUserID))
        hub.subscribe(session, list(ask.subscribeUserID))
        tips = sdkws_pb2.SubUserOnlineStatusTips()
        for uid in ask.subscribeUserID:
            tips.subscribers.add(userID=uid, onlinePlatformIDs=hub.platforms(uid))
        return tips.SerializeToString()
