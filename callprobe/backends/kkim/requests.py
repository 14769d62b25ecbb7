"""Request payloads a KKIM client sends, built purely (``docs/backends/kkim.md#call-signaling``).

What a KKIM web client sends: a 1004 SignalReq in v3 numbering carrying the
*whole* invitation with every action, MsgData with status 1 (sending) and
msgFrom 100 (a user), text contents as ``{"text": ...}``. Wall-clock times
(``initiateTime``, ``createTime``) are passed in.
"""

from __future__ import annotations

import json
import uuid

from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.constants import ContentType, MsgFrom, MsgStatus, SessionType
from callprobe.backends.kkim.protocol.conversation import single_chat_id


def participant(user_id: str, nickname: str) -> rtc_pb2.ParticipantMetaData:
    meta = rtc_pb2.ParticipantMetaData()
    meta.userInfo.userID = user_id
    meta.userInfo.nickname = nickname or user_id
    return meta


def invite(user_id: str, platform_id: int, nickname: str, callees: list[str], media: str, timeout_s: int,
           temp_room: str, wall_ms: int) -> tuple[rtc_pb2.SignalReq, rtc_pb2.InvitationInfo]:
    """The invite SignalReq and its invitation, under the client's temporary roomID."""
    inv = rtc_pb2.InvitationInfo(
        inviterUserID=user_id, inviteeUserIDList=list(callees), roomID=temp_room,
        timeout=int(timeout_s), mediaType=media, platformID=platform_id,
        sessionType=int(SessionType.SINGLE_CHAT), initiateTime=wall_ms)
    req = rtc_pb2.SignalReq()
    req.invite.invitation.CopyFrom(inv)
    req.invite.offlinePushInfo.title = "incoming call"
    req.invite.offlinePushInfo.desc = f"{media} call from {nickname or user_id}"
    req.invite.participant.CopyFrom(participant(user_id, nickname))
    req.invite.userID = user_id
    return req, inv


def minimal_invitation(room_id: str) -> rtc_pb2.InvitationInfo:
    """What to send for a room this client never saw an invitation of."""
    return rtc_pb2.InvitationInfo(roomID=room_id, sessionType=int(SessionType.SINGLE_CHAT))


def action(name: str, invitation: rtc_pb2.InvitationInfo, user_id: str, platform_id: int,
           nickname: str) -> rtc_pb2.SignalReq:
    """accept / reject / cancel / hungUp, resending the whole invitation."""
    req = rtc_pb2.SignalReq()
    inner = getattr(req, name)
    inner.invitation.CopyFrom(invitation)
    if name != "hungUp":
        inner.participant.CopyFrom(participant(user_id, nickname))
    if name in ("accept", "reject"):
        inner.opUserPlatformID = platform_id
    inner.userID = user_id
    return req


def text_content(text: str) -> bytes:
    """A 101 text content as KKIM clients write it: ``{"text": ...}``."""
    return json.dumps({"text": text}, ensure_ascii=False, separators=(",", ":")).encode()


def msg_data(user_id: str, platform_id: int, nickname: str, peer: str, content_type: int, content: bytes,
             wall_ms: int) -> sdkws_pb2.MsgData:
    return sdkws_pb2.MsgData(
        sendID=user_id, recvID=peer, clientMsgID=uuid.uuid4().hex, senderPlatformID=platform_id,
        senderNickname=nickname, sessionType=int(SessionType.SINGLE_CHAT), msgFrom=int(MsgFrom.USER),
        contentType=content_type, content=content, createTime=wall_ms, status=int(MsgStatus.SENDING))


def newest_seq(user_id: str) -> sdkws_pb2.GetMaxSeqReq:
    return sdkws_pb2.GetMaxSeqReq(userID=user_id)


def pull_conversation(user_id: str, peer: str, max_seq: int) -> sdkws_pb2.PullMessageBySeqsReq:
    """Every message of the ``si_`` conversation with ``peer``, oldest first."""
    return pull_range(user_id, single_chat_id(user_id, peer), max_seq)


def pull_range(user_id: str, conversation_id: str, max_seq: int, begin: int = 1) -> sdkws_pb2.PullMessageBySeqsReq:
    """Seqs ``begin`` to ``max_seq`` of a conversation named by its ID, oldest first."""
    req = sdkws_pb2.PullMessageBySeqsReq(userID=user_id, order=sdkws_pb2.PullOrderAsc)
    req.seqRanges.add(conversationID=conversation_id, begin=begin, end=max_seq, num=max_seq - begin + 1)
    return req


def call_notice(sender: str, platform_id: int, recipient: str, invitation: rtc_pb2.InvitationInfo,
                wall_ms: int, *, msg_from: int = MsgFrom.SYSTEM) -> sdkws_pb2.MsgData:
    """A 1601 message carrying ``invitation`` as a bare ``SignalInviteReq`` (the dialect KKIM pushes),
    as the server files a call's invitation: what only the server may send when the inviter is not
    ``sender`` (``docs/backends/kkim.md#limits``)."""
    inner = rtc_pb2.SignalInviteReq(invitation=invitation, userID=invitation.inviterUserID)
    msg = msg_data(sender, platform_id, "", recipient, int(ContentType.SIGNALING_NOTIFICATION),
                   inner.SerializeToString(), wall_ms)
    msg.msgFrom = int(msg_from)
    return msg
