"""JSON envelopes, gzip frames and the text heartbeat, byte for byte.

Expected bytes are written out literally: they are what a Go gateway and the
KKIM's sample JavaScript client put on the wire (docs/backends/kkim.md#envelope).
"""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc

import pytest

from callprobe.backends.kkim.protocol import envelope
from callprobe.backends.kkim.protocol._pb.openim import msg_pb2
from callprobe.backends.kkim.protocol.constants import CloseCode
from callprobe.backends.kkim.protocol.envelope import Heartbeat, Request, Response
from callprobe.backends.kkim.protocol.errors import (
    BadCompression,
    BadDataEncoding,
    BadTextFrame,
    FatalFrameError,
    FrameTooLarge,
    MalformedEnvelope,
)


def _short(value: object) -> str:
    """Readable test ids for long literals."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} chars)"


# ------------------------------------------------------------ request encode

SAMPLE = Request(
    req_identifier=1003, send_id="user123", msg_incr="1", operation_id="uuid",
    token="xxx", data=b"\n\x08a",
)


def test_encode_request_number_array_exact_bytes() -> None:
    assert envelope.encode_request(SAMPLE) == (
        b'{"reqIdentifier":1003,"token":"xxx","sendID":"user123",'
        b'"operationID":"uuid","msgIncr":"1","data":[10,8,97]}'
    )


def test_encode_request_base64_exact_bytes() -> None:
    assert envelope.encode_request(SAMPLE, "base64") == (
        b'{"reqIdentifier":1003,"token":"xxx","sendID":"user123",'
        b'"operationID":"uuid","msgIncr":"1","data":"Cghh"}'
    )


def test_encode_request_empty_payload() -> None:
    req = Request(1001, "alice")
    assert envelope.encode_request(req) == (
        b'{"reqIdentifier":1001,"token":"","sendID":"alice","operationID":"","msgIncr":"","data":[]}'
    )
    assert envelope.encode_request(req, "base64").endswith(b'"data":""}')


def test_encode_request_base64_is_padded_standard_alphabet() -> None:
    raw = envelope.encode_request(Request(1003, "a", data=b"\xfb\xff"), "base64")
    assert json.loads(raw)["data"] == "+/8="


# ------------------------------------------------------------ request decode


def test_decode_documented_sample_request_shape() -> None:
    # KKIM's documented request sample, comments removed, as its sample client's sendRequest() builds it.
    raw = (b'{"reqIdentifier": 1003, "token": "xxx", "sendID": "user123", '
           b'"operationID": "uuid", "msgIncr": "1", "data": [10, 8, 97]}')
    assert envelope.decode_request(raw) == SAMPLE


def test_decode_rtc_request_with_base64_data() -> None:
    # KKIM's sample RTC code sends 1004 with base64 data; Go accepts it as well.
    raw = b'{"reqIdentifier":1004,"token":"t","sendID":"u","operationID":"o","msgIncr":"7","data":"Cghh"}'
    req = envelope.decode_request(raw)
    assert (req.req_identifier, req.msg_incr, req.data) == (1004, "7", b"\n\x08a")


@pytest.mark.parametrize(("data", "expected"), [
    ("[]", b""),
    ("[0,255]", b"\x00\xff"),
    ('"AP8="', b"\x00\xff"),
    ('""', b""),
    ('"AP\\r\\n8="', b"\x00\xff"),     # CR/LF are skipped, as Go does
    ("null", b""),
])
def test_request_data_accepted_forms(data: str, expected: bytes) -> None:
    raw = f'{{"reqIdentifier":1003,"sendID":"u","data":{data}}}'.encode()
    assert envelope.decode_request(raw).data == expected


def test_request_data_absent_is_empty() -> None:
    assert envelope.decode_request(b'{"reqIdentifier":1003}').data == b""


@pytest.mark.parametrize(("data", "needle"), [
    ("[256]", "data[0] is 256"),
    ("[1,-1]", "data[1] is -1"),
    ("[1.5]", "data[0] is 1.5"),
    ("[1.0]", "data[0] is 1.0"),          # Go refuses fractions even when integral
    ("[1e2]", "data[0] is 100.0"),        # and exponent forms
    ("[true]", "data[0] is True"),
    ('["1"]', "data[0] is '1'"),
    ("[null]", "data[0] is None"),
    ('"AP8"', "padded standard base64"),  # unpadded
    ('"-_8="', "padded standard base64"),  # URL-safe alphabet
    ('"AP8=AP8="', "padded standard base64"),
    ('"AP 8="', "padded standard base64"),
    ("{}", "JSON object"),
    ("7", "JSON number"),
    ("true", "JSON boolean"),
])
def test_request_data_refused_forms(data: str, needle: str) -> None:
    raw = f'{{"reqIdentifier":1003,"sendID":"u","data":{data}}}'.encode()
    with pytest.raises(BadDataEncoding) as info:
        envelope.decode_request(raw)
    assert needle in str(info.value)
    assert info.value.close_code == CloseCode.PROTOCOL_ERROR


def test_msg_incr_must_be_a_string() -> None:
    with pytest.raises(MalformedEnvelope, match="'msgIncr' is 1: expected a string"):
        envelope.decode_request(b'{"reqIdentifier":1003,"sendID":"u","msgIncr":1}')


@pytest.mark.parametrize("value", ['"1003"', "1003.0", "1003.5", "true", "[1003]", "2147483648",
                                   "-2147483649"])
def test_req_identifier_must_be_a_32_bit_integer(value: str) -> None:
    with pytest.raises(MalformedEnvelope, match="reqIdentifier"):
        envelope.decode_request(f'{{"reqIdentifier":{value}}}'.encode())


def test_req_identifier_int32_bounds_accepted() -> None:
    assert envelope.decode_request(b'{"reqIdentifier":2147483647}').req_identifier == 2**31 - 1
    assert envelope.decode_request(b'{"reqIdentifier":-2147483648}').req_identifier == -(2**31)


@pytest.mark.parametrize("key", ["sendid", "SENDID", "SendId", "\u017fendID"])
def test_keys_match_case_insensitively(key: str) -> None:
    raw = json.dumps({"REQIDENTIFIER": 1003, key: "bob", "msgincr": "9", "Data": [1]}).encode()
    req = envelope.decode_request(raw)
    assert (req.req_identifier, req.send_id, req.msg_incr, req.data) == (1003, "bob", "9", b"\x01")


def test_kelvin_sign_folds_onto_k_as_in_go() -> None:
    raw = '{"to\u212aen":"tok"}'.encode()
    assert envelope.decode_request(raw).token == "tok"


def test_case_variant_duplicate_keys_last_one_wins() -> None:
    # Go assigns every key that folds to the field, in order.
    raw = b'{"sendID":"alice","SENDID":"mallory"}'
    assert envelope.decode_request(raw).send_id == "mallory"


def test_null_leaves_a_string_field_unchanged_but_empties_data() -> None:
    raw = b'{"sendID":"alice","sendid":null,"data":[1],"DATA":null}'
    req = envelope.decode_request(raw)
    assert (req.send_id, req.data) == ("alice", b"")


def test_any_bad_duplicate_fails_the_frame() -> None:
    with pytest.raises(MalformedEnvelope):
        envelope.decode_request(b'{"msgIncr":1,"msgIncr":"2"}')
    with pytest.raises(BadDataEncoding):
        envelope.decode_request(b'{"data":[999],"data":[1]}')


def test_unknown_keys_are_ignored() -> None:
    raw = b'{"reqIdentifier":1001,"sendID":"u","extra":{"deep":[1,2,{"x":null}]},"type":"ping"}'
    assert envelope.decode_request(raw) == Request(1001, "u")


@pytest.mark.parametrize("raw", [
    b"", b"null", b"[]", b'"text"', b"1003", b"true", b"{", b"{'a':1}",
    b'{"a":1}x', b"\xff\xfe",
])
def test_non_object_or_non_json_fails(raw: bytes) -> None:
    with pytest.raises(MalformedEnvelope) as info:
        envelope.decode_request(raw)
    assert "request envelope" in str(info.value)


@pytest.mark.parametrize("raw", [
    b'{"reqIdentifier":1003,"x":NaN}',
    b'{"reqIdentifier":1003,"x":Infinity}',
    b'{"reqIdentifier":1003,"x":-Infinity}',
])
def test_non_standard_json_constants_fail(raw: bytes) -> None:
    # Python's json accepts these; Go's decoder does not.
    with pytest.raises(MalformedEnvelope, match="not a JSON value"):
        envelope.decode_request(raw)


def test_byte_order_mark_and_utf16_fail_as_in_go() -> None:
    body = '{"reqIdentifier":1001}'
    with pytest.raises(MalformedEnvelope):
        envelope.decode_request(b"\xef\xbb\xbf" + body.encode())
    with pytest.raises(MalformedEnvelope):
        envelope.decode_request(body.encode("utf-16"))


def test_invalid_utf8_and_lone_surrogates_become_replacement_chars() -> None:
    assert envelope.decode_request(b'{"sendID":"a\xffb"}').send_id == "a\ufffdb"
    assert envelope.decode_request(b'{"sendID":"a\\ud800b"}').send_id == "a\ufffdb"
    assert envelope.decode_request(b'{"sendID":"\\ud83d\\ude00"}').send_id == "\U0001f600"


def test_deep_nesting_is_a_malformed_frame_not_a_crash() -> None:
    with pytest.raises(MalformedEnvelope, match="too deeply"):
        envelope.decode_request(b"[" * 60000)
    with pytest.raises(MalformedEnvelope, match="too deeply"):
        envelope.decode_request(b'{"x":' + b"[" * 60000 + b"]" * 60000 + b"}")


def test_envelope_errors_are_fatal_frame_errors() -> None:
    assert issubclass(MalformedEnvelope, FatalFrameError)
    assert issubclass(BadDataEncoding, FatalFrameError)
    assert MalformedEnvelope.close_code == CloseCode.PROTOCOL_ERROR


# ----------------------------------------------------------- response encode


@pytest.mark.parametrize(("data", "wire"), [
    (b"\x08\x01", b'"CAE="'),
    (b"", b'""'),
    (None, b"null"),
])
def test_encode_response_exact_bytes(data: bytes | None, wire: bytes) -> None:
    resp = Response(1003, "5", "op-1", 0, "", data)
    assert envelope.encode_response(resp) == (
        b'{"reqIdentifier":1003,"msgIncr":"5","operationID":"op-1","errCode":0,"errMsg":"","data":'
        + wire + b"}"
    )


def test_encode_error_response_and_kick() -> None:
    assert envelope.encode_response(Response(1003, "2", "o", 500, "ServerInternalError")) == (
        b'{"reqIdentifier":1003,"msgIncr":"2","operationID":"o","errCode":500,'
        b'"errMsg":"ServerInternalError","data":null}'
    )
    assert envelope.encode_response(Response(2002)) == (
        b'{"reqIdentifier":2002,"msgIncr":"","operationID":"","errCode":0,"errMsg":"","data":null}'
    )


def test_encode_response_escapes_like_go() -> None:
    # UTF-8 as is; <, >, &, U+2028/U+2029 escaped; control chars short or \u00XX.
    resp = Response(2001, "", "<a&b>\u00e9\u2028\u2029\n\x01", 0, "")
    raw = envelope.encode_response(resp)
    assert b'"operationID":"\\u003ca\\u0026b\\u003e\xc3\xa9\\u2028\\u2029\\n\\u0001"' in raw
    assert envelope.decode_response(raw).operation_id == resp.operation_id


def test_encode_response_writes_lone_surrogate_as_replacement_escape() -> None:
    raw = envelope.encode_response(Response(2001, "", "x\ud800", 0, ""))
    raw.decode("utf-8")  # valid UTF-8, unlike a raw surrogate
    assert b'"operationID":"x\\ufffd"' in raw


# ----------------------------------------------------------- response decode


@pytest.mark.parametrize(("data", "value", "form"), [
    ('"CAE="', b"\x08\x01", "base64"),
    ('"CA\\nE="', b"\x08\x01", "base64"),
    ('""', b"", "empty"),
    ("null", None, "null"),
    ("[8,1]", b"\x08\x01", "array"),
    ('"-_8"', b"\xfb\xff", "base64url"),   # URL-safe, unpadded
    ('"+/8"', b"\xfb\xff", "base64url"),   # standard alphabet, unpadded
    ('"-_8="', b"\xfb\xff", "base64url"),  # URL-safe, padded
])
def test_decode_response_tolerates_every_data_form(data: str, value: bytes | None, form: str) -> None:
    raw = f'{{"reqIdentifier":1003,"msgIncr":"1","errCode":0,"data":{data}}}'.encode()
    resp = envelope.decode_response(raw)
    assert (resp.data, resp.data_form) == (value, form)


def test_decode_response_absent_data_is_null() -> None:
    resp = envelope.decode_response(b'{"reqIdentifier":2002}')
    assert (resp.data, resp.data_form) == (None, "null")


@pytest.mark.parametrize("data", ['"not base64!"', '"!!!!"', '"AAAAA"', '"é"', "[256]", "{}",
                                  "true", "3"])
def test_decode_response_refuses_data_that_is_not_bytes(data: str) -> None:
    with pytest.raises(BadDataEncoding):
        envelope.decode_response(f'{{"reqIdentifier":1003,"data":{data}}}'.encode())


def test_decode_response_is_tolerant_of_field_types() -> None:
    raw = b'{"REQIDENTIFIER":1003.0,"msgIncr":12,"operationID":null,"errcode":1802,"errMsg":"busy"}'
    resp = envelope.decode_response(raw)
    assert (resp.req_identifier, resp.msg_incr, resp.operation_id, resp.err_code, resp.err_msg) == (
        1003, "12", "", 1802, "busy")


@pytest.mark.parametrize("raw", [
    b'{"errCode":1.5}', b'{"errCode":"0"}', b'{"errCode":1e400}', b'{"errCode":NaN}',
    b'{"reqIdentifier":true}', b"[]", b"nope", b"[" * 60000,
], ids=_short)
def test_decode_response_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedEnvelope):
        envelope.decode_response(raw)


def test_response_equality_ignores_data_form() -> None:
    a = envelope.decode_response(b'{"reqIdentifier":1,"data":[1]}')
    b = envelope.decode_response(b'{"reqIdentifier":1,"data":"AQ=="}')
    assert a == b and a.data_form != b.data_form


def test_documented_send_msg_resp_sample_decodes_to_upstream_send_time() -> None:
    # KKIM's documented SendMsgResp sample; the sendTime printed beside it (1766630084563) is wrong: docs/backends/kkim.md#messages.
    sample = "CiA0ZmFiZTI1MzViNzkxMjljYjAwNzhjMWQwZGRkZjE1NRIWYWxpY2UxMjRfMTc2NjYzMDA4NDYzMhjToO+atTM="
    raw = json.dumps({"reqIdentifier": 1003, "msgIncr": "1", "operationID": "uuid",
                      "errCode": 0, "errMsg": "", "data": sample}).encode()
    resp = envelope.decode_response(raw)
    assert resp.data_form == "base64"
    body = msg_pb2.SendMsgResp.FromString(resp.data or b"")
    assert body.serverMsgID == "4fabe2535b79129cb0078c1d0dddf155"
    assert body.clientMsgID == "alice124_1766630084632"
    assert body.sendTime == 1766630084691
    # Re-encoding gives back the exact sample bytes.
    assert base64.b64encode(body.SerializeToString()).decode() == sample


# --------------------------------------------------------------------- gzip


def test_gzip_pack_unpack_round_trip() -> None:
    env = envelope.encode_request(SAMPLE)
    frame = envelope.pack(env, gzip_on=True)
    assert frame[:2] == b"\x1f\x8b"
    assert frame == envelope.pack(env, gzip_on=True)  # mtime=0: deterministic
    assert gzip.decompress(frame) == env               # a standard RFC 1952 stream
    assert envelope.unpack(frame, gzip_on=True) == env


def test_pack_without_gzip_is_identity() -> None:
    env = envelope.encode_request(SAMPLE)
    assert envelope.pack(env, gzip_on=False) is env
    assert envelope.unpack(env, gzip_on=False) is env


def test_unpack_accepts_gzip_from_other_writers() -> None:
    frame = gzip.compress(b'{"reqIdentifier":1001}', compresslevel=1, mtime=123456)
    assert envelope.unpack(frame, gzip_on=True) == b'{"reqIdentifier":1001}'


@pytest.mark.parametrize(("frame", "needle"), [
    (b'{"reqIdentifier":1001}', "not gzip"),
    (b"", "not gzip"),
    (b"\x1f\x8b", "not a valid gzip stream"),
    (gzip.compress(b"hello", mtime=0)[:-4], "not a valid gzip stream"),   # truncated
    (gzip.compress(b"hello", mtime=0)[:-8] + b"\0\0\0\0\5\0\0\0", "not a valid gzip stream"),  # CRC
    (b"\x1f\x8b\x08\x00" + b"\xff" * 20, "not a valid gzip stream"),
])
def test_bad_gzip(frame: bytes, needle: str) -> None:
    with pytest.raises(BadCompression, match=needle) as info:
        envelope.unpack(frame, gzip_on=True)
    assert info.value.close_code == CloseCode.PROTOCOL_ERROR


def test_gzip_bomb_stops_at_the_limit_with_bounded_memory() -> None:
    # 40 MB of JSON that gzips to ~40 KB: a frame under the wire limit that
    # would inflate to 800 times the limit without a cap
    inflated = 40_000_000
    bomb = gzip.compress(b'{"reqIdentifier":1001,"sendID":"alice","data":[' + b"0," * (inflated // 2) + b"0]}",
                         mtime=0)
    assert len(bomb) < envelope.MAX_MESSAGE_SIZE
    tracemalloc.start()
    try:
        with pytest.raises(FrameTooLarge, match="inflates past the 51200-byte limit") as info:
            envelope.unpack(bomb, gzip_on=True, max_size=envelope.MAX_MESSAGE_SIZE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG
    assert peak < 4 * envelope.MAX_MESSAGE_SIZE + len(bomb)  # never the 40 MB it inflates to


def test_inflated_size_limit_is_inclusive_and_counts_every_member() -> None:
    exact = gzip.compress(b"x" * 100, mtime=0)
    assert envelope.unpack(exact, gzip_on=True, max_size=100) == b"x" * 100
    with pytest.raises(FrameTooLarge):
        envelope.unpack(exact, gzip_on=True, max_size=99)
    two = gzip.compress(b"a" * 60, mtime=0) + gzip.compress(b"b" * 60, mtime=0)
    assert envelope.unpack(two, gzip_on=True) == b"a" * 60 + b"b" * 60  # members concatenate (RFC 1952 2.2)
    with pytest.raises(FrameTooLarge):
        envelope.unpack(two, gzip_on=True, max_size=100)
    with pytest.raises(BadCompression, match="after the gzip stream"):
        envelope.unpack(exact + b"garbage", gzip_on=True)
    assert envelope.unpack(exact + b"\0\0", gzip_on=True) == b"x" * 100  # zero padding, as gzip allows


# ---------------------------------------------------------------- heartbeat


def test_ping_text_constant() -> None:
    assert envelope.PING_TEXT == '{"type":"ping"}'
    assert envelope.decode_heartbeat(envelope.PING_TEXT) == Heartbeat("ping", None)


def test_pong_without_body_is_exact_upstream_text() -> None:
    ping = envelope.decode_heartbeat('{"type":"ping"}')
    assert envelope.encode_pong(ping) == '{"type":"pong","body":null}'


@pytest.mark.parametrize(("ping", "pong"), [
    ('{"type":"ping","body":"hi"}', '{"type":"pong","body":"hi"}'),
    ('{"type":"ping","body":{"n":1,"l":[true,null]}}', '{"type":"pong","body":{"n":1,"l":[true,null]}}'),
    ('{"type":"ping","body":null}', '{"type":"pong","body":null}'),
    ('{ "type" : "ping" , "body" : 7 }', '{"type":"pong","body":7}'),
])
def test_pong_echoes_body(ping: str, pong: str) -> None:
    assert envelope.encode_pong(envelope.decode_heartbeat(ping)) == pong


def test_heartbeat_keys_bind_like_go() -> None:
    assert envelope.decode_heartbeat('{"TYPE":"ping","Body":3}') == Heartbeat("ping", 3)
    assert envelope.decode_heartbeat('{"type":"pong","type":"ping"}').type == "ping"


def test_client_pong_is_accepted() -> None:
    assert envelope.decode_heartbeat('{"type":"pong"}').type == "pong"


@pytest.mark.parametrize("text", [
    "", "ping", "null", "[]", '"ping"', '{"type":"PING"}', '{"type":"hello"}', '{"type":1}',
    '{"body":"x"}', '{"type":["ping"]}',
    # A request envelope sent as text has no type: the gateway drops the connection (docs/backends/kkim.md#frames).
    '{"reqIdentifier":1001,"sendID":"u","msgIncr":"1","data":[]}',
    '{"type":"ping","body":NaN}', "[" * 60000,
], ids=_short)
def test_non_heartbeat_text_frames_fail(text: str) -> None:
    with pytest.raises(BadTextFrame) as info:
        envelope.decode_heartbeat(text)
    assert info.value.close_code == CloseCode.UNSUPPORTED_DATA


def test_max_message_size_is_upstream_read_limit() -> None:
    assert envelope.MAX_MESSAGE_SIZE == 51200
