"""Identifier to protobuf mapping and safe payload parsing (docs/backends/kkim.md#request-identifiers)."""

from __future__ import annotations

import pytest

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import msg_pb2, rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.constants import ReqIdentifier
from callprobe.backends.kkim.protocol.errors import BadPayload, BusinessError


@pytest.mark.parametrize("garbage", [b"\xff", b"\x0a\x05ab", b"\x08", b"\x0a\x02\xff\xfe"])
def test_garbage_is_bad_payload_500(garbage: bytes) -> None:
    with pytest.raises(BadPayload) as info:
        payloads.parse(sdkws_pb2.MsgData, garbage)
    err = info.value
    assert err.err_code == 500
    assert isinstance(err, BusinessError) and err.close_code is None
    assert "openim.sdkws.MsgData" in str(err)


def test_label_names_the_payload() -> None:
    with pytest.raises(BadPayload, match="SendMsg request"):
        payloads.parse(sdkws_pb2.MsgData, b"\xff", "SendMsg request")


@pytest.mark.parametrize("data", [None, b""])
def test_empty_or_null_data_is_an_empty_message(data: bytes | None) -> None:
    assert payloads.parse(sdkws_pb2.GetMaxSeqReq, data) == sdkws_pb2.GetMaxSeqReq()


def test_parse_round_trips_a_real_message() -> None:
    msg = sdkws_pb2.MsgData(sendID="a", recvID="b", contentType=101, content=b"hi", seq=7,
                            status=1, msgFrom=100, options={"history": False})
    assert payloads.parse(sdkws_pb2.MsgData, msg.SerializeToString()) == msg


def test_send_msg_resp_field_4_ignored_whatever_its_type() -> None:
    # KKIM's documented `int64 seq = 4` arrives as a varint where upstream has a message.
    wire = msg_pb2.SendMsgResp(serverMsgID="s", sendTime=5).SerializeToString() + b"\x20\x09"
    resp = payloads.parse_response(ReqIdentifier.SEND_MSG, wire)
    assert isinstance(resp, msg_pb2.SendMsgResp)
    assert (resp.serverMsgID, resp.sendTime, resp.HasField("modify")) == ("s", 5, False)


def test_every_client_request_has_a_payload_entry() -> None:
    from callprobe.backends.kkim.protocol.constants import CLIENT_REQUESTS

    assert set(payloads.PAYLOADS) >= CLIENT_REQUESTS
    assert payloads.PAYLOADS[ReqIdentifier.SEND_MSG][0] is sdkws_pb2.MsgData  # bare, not SendMsgReq
    assert payloads.PAYLOADS[ReqIdentifier.SEND_SIGNAL_MSG] == (rtc_pb2.SignalReq, rtc_pb2.SignalResp)


def test_parse_request_and_response_by_identifier() -> None:
    req = rtc_pb2.SignalReq()
    req.cancel.userID = "bob"
    parsed = payloads.parse_request(ReqIdentifier.SEND_SIGNAL_MSG, req.SerializeToString())
    assert parsed == req
    assert payloads.parse_request(ReqIdentifier.PUSH_MSG, b"") is None
    assert payloads.parse_request(9999, b"\xff") is None
    assert payloads.parse_response(ReqIdentifier.KICK_ONLINE_MSG, None) is None
    push = payloads.parse_response(ReqIdentifier.PUSH_MSG, b"")
    assert isinstance(push, sdkws_pb2.PushMessages)
    with pytest.raises(BadPayload):
        payloads.parse_response(ReqIdentifier.GET_NEWEST_SEQ, b"\xff")
