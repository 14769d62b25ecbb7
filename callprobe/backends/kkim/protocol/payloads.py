"""Which protobuf travels in ``data`` for each identifier, and safe parsing.

The generated modules live in ``callprobe.backends.kkim.protocol._pb``; this module is the
only place that maps identifiers to them (docs/backends/kkim.md#request-identifiers).
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from callprobe.backends.kkim.protocol._pb.openim import msg_pb2, push_pb2, rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.constants import ReqIdentifier
from callprobe.backends.kkim.protocol.errors import BadPayload

M = TypeVar("M", bound=Message)

#: reqIdentifier -> (request payload type, response payload type or None).
PAYLOADS: dict[int, tuple[type[Message] | None, type[Message] | None]] = {
    ReqIdentifier.GET_NEWEST_SEQ: (sdkws_pb2.GetMaxSeqReq, sdkws_pb2.GetMaxSeqResp),
    ReqIdentifier.PULL_MSG_BY_SEQ_LIST: (sdkws_pb2.PullMessageBySeqsReq, sdkws_pb2.PullMessageBySeqsResp),
    ReqIdentifier.SEND_MSG: (sdkws_pb2.MsgData, msg_pb2.SendMsgResp),
    ReqIdentifier.SEND_SIGNAL_MSG: (rtc_pb2.SignalReq, rtc_pb2.SignalResp),
    ReqIdentifier.PULL_MSG: (msg_pb2.GetSeqMessageReq, msg_pb2.GetSeqMessageResp),
    ReqIdentifier.GET_CONV_MAX_READ_SEQ: (
        msg_pb2.GetConversationsHasReadAndMaxSeqReq,
        msg_pb2.GetConversationsHasReadAndMaxSeqResp,
    ),
    ReqIdentifier.PULL_CONV_LAST_MESSAGE: (msg_pb2.GetLastMessageReq, msg_pb2.GetLastMessageResp),
    ReqIdentifier.PUSH_MSG: (None, sdkws_pb2.PushMessages),
    ReqIdentifier.KICK_ONLINE_MSG: (None, None),
    ReqIdentifier.LOGOUT_MSG: (push_pb2.DelUserPushTokenReq, push_pb2.DelUserPushTokenResp),
    ReqIdentifier.SET_BACKGROUND_STATUS: (sdkws_pb2.SetAppBackgroundStatusReq, None),
    ReqIdentifier.SUB_USER_ONLINE_STATUS: (sdkws_pb2.SubUserOnlineStatus, sdkws_pb2.SubUserOnlineStatusTips),
}


def parse(cls: type[M], data: bytes | None, what: str = "") -> M:
    """Decode ``data`` as ``cls``; raise ``BadPayload`` (errCode 500) on garbage."""
    msg = cls()
    try:
        msg.ParseFromString(data or b"")
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        label = what or cls.DESCRIPTOR.full_name
        raise BadPayload(f"data does not decode as {label}: {exc}") from None
    return msg


def parse_request(req_identifier: int, data: bytes) -> Message | None:
    """Decode a request payload for its identifier (``None`` if it carries none)."""
    req_cls, _ = PAYLOADS.get(req_identifier, (None, None))
    return None if req_cls is None else parse(req_cls, data)


def parse_response(req_identifier: int, data: bytes | None) -> Message | None:
    """Decode a response/push payload for its identifier."""
    _, resp_cls = PAYLOADS.get(req_identifier, (None, None))
    return None if resp_cls is None else parse(resp_cls, data)
