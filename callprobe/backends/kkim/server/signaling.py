"""Call signaling over 1004, driven by the pure call state machine.

Rules (docs/backends/kkim.md#call-signaling and the sections after it):

* 1004 ``data`` is a SignalReq (v3 numbering). An invite gets a gateway
  roomID in ``SignalResp.invite``; each invitee gets a 2001 push of a 1601
  message (msgFrom 200, ``si_`` conversation, stored) whose content is a bare
  ``SignalInviteReq`` carrying that roomID. As every push, it also goes to the
  inviter's own connections (docs/backends/kkim.md#sender-sync).
* A peer action (accept, reject, cancel, hungUp) reaches the other party as an
  unsolicited binary Resp: ``reqIdentifier`` 1004, ``msgIncr`` "", ``data`` a
  SignalResp with that oneof set. It is also stored (not pushed) as a 1601
  message whose content is the actor's whole SignalReq.
* The ``operationID`` of an unsolicited notice is the actor's; when the
  gateway itself acts it names why: ``call-timeout`` (nobody answered),
  ``answered-elsewhere`` (another device of the same user accepted or
  rejected), ``call-ended`` (the call ended while this invitee still rang),
  ``peer-disconnected`` (the other party's last connection closed).
* A user whose last connection closes (client close, read deadline, kick,
  logout, forced logout) has left every call it is in, since a crashed client
  can never hang up: the gateway ends its part as the matching action would.
  The inviter of a ringing call cancels it (invitees get ``cancel``); a
  ringing invitee rejects it (the inviter gets ``reject``: the callee is no
  longer reachable); a party of an answered call hangs up (the others get
  ``hungUp``). Each is recorded as a 1601 message sent by the party that
  left, with ``MsgData.ex`` = ``{"reason":"disconnected"}``. A connection
  replaced by a new login of the same user (kick 2002) leaves the user
  online, so its calls go on; so do they when the ``kick-callee`` fault kicks
  the callee, which stands for such a login elsewhere. Connections closed by
  the gateway's own shutdown end nothing.
* Unanswered invites end after ``InvitationInfo.timeout`` seconds (default
  ``invite_timeout_default_s``; ``invite_timeout_override_s`` replaces it):
  invitees get ``cancel``, and the inviter gets ``reject`` (the reject-like
  notice: the invitee did not take the call). Both are recorded with
  ``MsgData.ex`` = ``{"reason":"timeout"}``.
* Unknown roomID or an action the call state does not allow: 1801. Inviting
  a user already in a call: 1802, busy users in ``busyLineUserIDList`` of the
  SignalResp carried in ``data`` (the one error reply with ``data``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_state import (
    REASON_ACTION,
    REASON_DISCONNECTED,
    REASON_ENDED,
    REASON_OTHER_DEVICE,
    REASON_TIMEOUT,
    CallEvent,
    CallNotFound,
    CallRegistry,
    Effect,
    Ended,
    Notify,
    Outcome,
    Ring,
    StartTimer,
    StopTimer,
)
from callprobe.backends.kkim.protocol.constants import (
    ContentType,
    ErrCode,
    MsgFrom,
    MsgStatus,
    ReqIdentifier,
    SessionType,
)
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from callprobe.backends.kkim.protocol.envelope import Request, Response
from callprobe.backends.kkim.protocol.errors import BusinessError
from callprobe.backends.kkim.server.core import (
    FollowUps,
    GatewayCore,
    now_ms,
    server_msg_id,
)
from callprobe.backends.kkim.server.hub import Peer
from callprobe.backends.kkim.server.limits import check_items

log = logging.getLogger("callprobe.server.kkim")

#: operationID of a notice the gateway sends on its own account
REASON_OPERATION_ID = {
    REASON_TIMEOUT: "call-timeout",
    REASON_OTHER_DEVICE: "answered-elsewhere",
    REASON_ENDED: "call-ended",
    REASON_DISCONNECTED: "peer-disconnected",
}

#: endings after which the ``stale-call-state`` fault leaves the users busy
_STALE_AFTER = (CallEvent.HANGUP.value, CallEvent.DISCONNECT.value)

_ACTIONS = {"accept": CallEvent.ACCEPT, "reject": CallEvent.REJECT, "cancel": CallEvent.CANCEL,
            "hungUp": CallEvent.HANGUP}


class Signaling:
    """The 1004 handler, call timers and the call history records."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core
        self.book = CallRegistry()
        self.invitations: dict[str, rtc_pb2.InvitationInfo] = {}
        self.stale_busy: set[str] = set()   # fault stale-call-state
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._kicked_by_fault: set[str] = set()  # fault kick-callee: online elsewhere, in theory
        self._stopped = False
        core.offline_hooks.append(self.user_left)

    # ------------------------------------------------------------ entry

    def handle(self, session: Peer, req: Request, then: FollowUps) -> bytes:
        sreq = payloads.parse(rtc_pb2.SignalReq, req.data)
        action = sreq.WhichOneof("payload")
        if action is None:
            raise BusinessError(ErrCode.SERVER_INTERNAL, "SignalReq has no payload set")
        if action in ("invite", "inviteInGroup"):
            return self._invite(session, req, sreq, action, then)
        if action == "getTokenByRoomID":
            room = sreq.getTokenByRoomID.roomID
            if self.book.get(room) is None:
                raise CallNotFound(f"call not found: no live call in room {room!r}")
            resp = rtc_pb2.SignalResp()
            resp.getTokenByRoomID.SetInParent()
            return resp.SerializeToString()
        return self._act(session, req, sreq, action, then)

    def stop(self) -> None:
        """The gateway shuts down: no more timers, and closing connections end no call."""
        self._stopped = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # ----------------------------------------------------------- invite

    def _invite(self, session: Peer, req: Request, sreq: rtc_pb2.SignalReq, action: str,
                then: FollowUps) -> bytes:
        core = self.core
        inner = getattr(sreq, action)
        inv = inner.invitation
        user = session.user_id
        if inv.inviterUserID and inv.inviterUserID != user:
            raise BusinessError(ErrCode.TOKEN_INVALID,
                                f"inviterUserID {inv.inviterUserID!r} is not the connection's user")
        check_items(len(inv.inviteeUserIDList), core.settings.max_request_items, "inviteeUserIDList")
        invitees = list(dict.fromkeys(inv.inviteeUserIDList))
        if not invitees:
            raise BusinessError(ErrCode.USER_NOT_EXIST, "inviteeUserIDList is empty")
        for uid in invitees:
            if uid == user:
                raise BusinessError(ErrCode.SEND_TO_SELF, "the inviter is in inviteeUserIDList")
            if not core.store.user_exists(uid):
                raise BusinessError(ErrCode.USER_NOT_EXIST, f"invitee {uid!r} is not registered")
        settings = core.settings
        if settings.invite_timeout_override_s is not None:
            ring_s: float = settings.invite_timeout_override_s
        else:
            ring_s = inv.timeout if inv.timeout > 0 else settings.invite_timeout_default_s
        room = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        outcome = self.book.invite(room, user, invitees, loop.time(), ring_s, inv.mediaType,
                                   also_busy=frozenset(self.stale_busy))
        log.info("%s", outcome.transition)
        stored = rtc_pb2.InvitationInfo()
        stored.CopyFrom(inv)
        stored.inviterUserID = user
        stored.roomID = room
        stored.timeout = inv.timeout if inv.timeout > 0 else settings.invite_timeout_default_s
        stored.platformID = inv.platformID or session.platform_id
        stored.initiateTime = inv.initiateTime or now_ms()
        del stored.busyLineUserIDList[:]
        stored.busyLineUserIDList.extend(outcome.busy)
        self.invitations[room] = stored
        core.store.record_call(room, user, tuple(invitees), inv.mediaType, now_ms())

        pushed = rtc_pb2.SignalInviteReq()
        pushed.ParseFromString(inner.SerializeToString())  # invite and inviteInGroup share a layout
        pushed.invitation.CopyFrom(stored)
        pushed.userID = user
        if core.faults.room_id_mismatch:
            pushed.invitation.roomID = uuid.uuid4().hex
        content = pushed.SerializeToString()
        for effect in outcome.effects:
            if isinstance(effect, Ring):
                then.append(self._ring_later(session, effect.user_id, content, req.operation_id))
        self._apply(outcome, None, req.operation_id, then)

        resp = rtc_pb2.SignalResp()
        answer = getattr(resp, action)
        answer.roomID = room
        answer.busyLineUserIDList.extend(outcome.busy)
        return resp.SerializeToString()

    def _ring_later(self, session: Peer, callee: str, content: bytes, operation_id: str) -> Callable[[], None]:
        def ring() -> None:
            core = self.core
            msg = self._record(session.user_id, callee, content, session.platform_id)
            conv = single_chat_id(session.user_id, callee)
            targets = [session.user_id] if core.faults.invite_not_pushed else [callee, session.user_id]
            core.push_message(conv, msg, targets, operation_id)
            if core.faults.kick_callee:
                self._kicked_by_fault.add(callee)
                try:
                    for peer in core.hub.peers(callee):
                        log.info("fault kick-callee: kicking %s after the invite", peer.conn_id)
                        peer.kick()
                finally:
                    self._kicked_by_fault.discard(callee)
        return ring

    # ------------------------------------------------------------ leave

    def user_left(self, user_id: str) -> None:
        """The user's last connection closed: end its part in each of its calls."""
        if self._stopped:
            return
        if user_id in self._kicked_by_fault:
            log.info("fault kick-callee: %s counts as logged in elsewhere, its calls go on", user_id)
            return
        try:
            then: FollowUps = []
            for outcome in self.book.leave(user_id):
                log.info("%s", outcome.transition)
                self._apply(outcome, None, REASON_OPERATION_ID[REASON_DISCONNECTED], then)
            for action in then:
                action()
        except Exception:  # a bug here must not break the connection's cleanup
            log.exception("ending the calls of %s after its last connection closed failed", user_id)

    # ---------------------------------------------------------- actions

    def _act(self, session: Peer, req: Request, sreq: rtc_pb2.SignalReq, action: str,
             then: FollowUps) -> bytes:
        inner = getattr(sreq, action)
        room = inner.invitation.roomID
        if not room:
            raise CallNotFound(f"call not found: {action} names no roomID")
        outcome = self.book.act(room, _ACTIONS[action], session.user_id, device=session.conn_id)
        log.info("%s", outcome.transition)
        self._apply(outcome, sreq, req.operation_id, then)
        resp = rtc_pb2.SignalResp()
        answer = getattr(resp, action)
        answer.SetInParent()
        if action == "accept":
            answer.roomID = room
        return resp.SerializeToString()

    def _on_timer(self, room: str) -> None:
        self._timers.pop(room, None)
        call = self.book.get(room)
        if call is None:
            return
        try:
            outcome = self.book.timeout(room, max(asyncio.get_running_loop().time(), call.deadline))
            if outcome is None:
                return
            log.info("%s", outcome.transition)
            then: FollowUps = []
            self._apply(outcome, None, REASON_OPERATION_ID[REASON_TIMEOUT], then)
            for action in then:
                action()
        except Exception:
            log.exception("call timer for room %s failed", room)

    # ---------------------------------------------------------- effects

    def _apply(self, outcome: Outcome, source: rtc_pb2.SignalReq | None, operation_id: str,
               then: FollowUps) -> None:
        for effect in outcome.effects:
            self._apply_one(effect, source, operation_id, then)

    def _apply_one(self, effect: Effect, source: rtc_pb2.SignalReq | None, operation_id: str,
                   then: FollowUps) -> None:
        if isinstance(effect, Notify):
            inv = self.invitations.get(effect.room_id)  # captured now: Ended may drop it before the push
            then.append(lambda: self._notify(effect, source, operation_id, inv))
        elif isinstance(effect, StartTimer):
            loop = asyncio.get_running_loop()
            old = self._timers.pop(effect.room_id, None)
            if old is not None:
                old.cancel()
            self._timers[effect.room_id] = loop.call_at(effect.deadline, self._on_timer, effect.room_id)
        elif isinstance(effect, StopTimer):
            handle = self._timers.pop(effect.room_id, None)
            if handle is not None:
                handle.cancel()
        elif isinstance(effect, Ended):
            self.core.store.end_call(effect.room_id, now_ms(), effect.reason)
            self.invitations.pop(effect.room_id, None)
            if self.core.faults.stale_call_state and effect.reason in _STALE_AFTER:
                log.info("fault stale-call-state: %s stay busy", ", ".join(effect.users))
                self.stale_busy.update(effect.users)

    def _notify(self, effect: Notify, source: rtc_pb2.SignalReq | None, operation_id: str,
                inv: rtc_pb2.InvitationInfo | None) -> None:
        core = self.core
        inviter = inv.inviterUserID if inv is not None else ""
        if (core.faults.answer_not_relayed and effect.action == "accept" and effect.user_id == inviter
                and effect.reason == REASON_ACTION):
            log.info("fault answer-not-relayed: %s is not told of the accept", effect.user_id)
            return
        resp = rtc_pb2.SignalResp()
        answer = getattr(resp, effect.action)
        answer.SetInParent()
        if effect.action == "accept":
            answer.roomID = effect.room_id
        op_id = REASON_OPERATION_ID.get(effect.reason, operation_id)
        core.deliver([effect.user_id], Response(ReqIdentifier.SEND_SIGNAL_MSG, "", op_id, 0, "",
                                                resp.SerializeToString()),
                     exclude_conn=effect.exclude_device)
        if not effect.record:
            return
        actor = effect.op_user_id or effect.peer_id
        record = rtc_pb2.SignalReq()
        if source is not None and effect.reason == REASON_ACTION:
            record.CopyFrom(source)  # the actor's whole SignalReq ...
        inner = getattr(record, effect.action)
        if inv is not None:  # ... with the gateway's authoritative invitation
            inner.invitation.CopyFrom(inv)
        else:
            inner.invitation.roomID = effect.room_id
        if not inner.userID:
            inner.userID = actor
        content = record.SerializeToString()
        ex = json.dumps({"reason": effect.reason}) if effect.reason else ""
        self._record(actor, effect.user_id, content, 0, ex=ex)

    def _record(self, send_id: str, recv_id: str, content: bytes, platform_id: int,
                ex: str = "") -> sdkws_pb2.MsgData:
        """Store one 1601 message in the pair's single chat."""
        stamp = now_ms()
        msg = sdkws_pb2.MsgData(
            sendID=send_id, recvID=recv_id, clientMsgID=server_msg_id(recv_id),
            serverMsgID=server_msg_id(send_id), senderPlatformID=platform_id,
            sessionType=SessionType.SINGLE_CHAT, msgFrom=MsgFrom.SYSTEM,
            contentType=ContentType.SIGNALING_NOTIFICATION, content=content,
            sendTime=stamp, createTime=stamp, status=MsgStatus.SEND_SUCCESS, ex=ex)
        self.core.store_message(msg)
        return msg
