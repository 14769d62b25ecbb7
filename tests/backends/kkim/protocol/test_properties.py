"""Properties of the pure codecs, checked on generated input.

Round trips must be exact, and no input, however broken, may escape as an
exception other than the typed ones the I/O layers know how to answer: the
gateway must never crash on a frame (project rule), and a client must never
crash on a push.
"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callprobe.backends.kkim.protocol import call_notice, envelope, rtc_signal
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from callprobe.backends.kkim.protocol.envelope import Request, Response
from callprobe.backends.kkim.protocol.errors import (
    BadCompression,
    BadDataEncoding,
    FatalFrameError,
    MalformedEnvelope,
)

FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
encodings = st.sampled_from(["array", "base64"])

requests = st.builds(
    Request, req_identifier=int32, send_id=st.text(), msg_incr=st.text(),
    operation_id=st.text(), token=st.text(), data=st.binary(max_size=300),
)
responses = st.builds(
    Response, req_identifier=int32, msg_incr=st.text(), operation_id=st.text(),
    err_code=int64, err_msg=st.text(), data=st.none() | st.binary(max_size=300),
)

json_scalars = (st.none() | st.booleans() | st.integers(-300, 2**40)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
#: Envelope keys in random letter case, plus junk keys.
envelope_keys = st.sampled_from(
    ["reqIdentifier", "sendID", "msgIncr", "operationID", "token", "data", "errCode", "errMsg"]
).flatmap(lambda k: st.lists(st.booleans(), min_size=len(k), max_size=len(k)).map(
    lambda flips: "".join(c.swapcase() if f else c for c, f in zip(k, flips, strict=True))
)) | st.text(max_size=8)
envelope_objects = st.dictionaries(envelope_keys, json_values | st.lists(st.integers(-5, 300)),
                                   max_size=7)
frames = st.binary(max_size=400) | envelope_objects.map(lambda o: json.dumps(o).encode())


# ------------------------------------------------------------- round trips


@FAST
@given(requests, encodings)
def test_request_round_trip(req: Request, encoding: envelope.DataEncoding) -> None:
    assert envelope.decode_request(envelope.encode_request(req, encoding)) == req


@FAST
@given(responses)
def test_response_round_trip(resp: Response) -> None:
    raw = envelope.encode_response(resp)
    back = envelope.decode_response(raw)
    assert back == resp
    assert back.data_form == ("null" if resp.data is None else "empty" if resp.data == b"" else "base64")
    raw.decode("utf-8")  # always valid UTF-8


@FAST
@given(st.binary(max_size=2000))
def test_gzip_frames_round_trip(payload: bytes) -> None:
    frame = envelope.pack(payload, gzip_on=True)
    assert frame.startswith(b"\x1f\x8b")
    assert envelope.unpack(frame, gzip_on=True) == payload


@FAST
@given(requests, encodings)
def test_gzipped_request_round_trip(req: Request, encoding: envelope.DataEncoding) -> None:
    frame = envelope.pack(envelope.encode_request(req, encoding), gzip_on=True)
    assert envelope.decode_request(envelope.unpack(frame, gzip_on=True)) == req


@FAST
@given(json_values)
def test_pong_echoes_any_json_body(body: Any) -> None:
    ping = envelope.decode_heartbeat(json.dumps({"type": "ping", "body": body}))
    pong = json.loads(envelope.encode_pong(ping))
    assert pong == {"type": "pong", "body": body}


# ------------------------------------------------------ never crash on input


@FAST
@given(frames)
def test_decode_request_raises_only_fatal_frame_errors(raw: bytes) -> None:
    try:
        req = envelope.decode_request(raw)
    except FatalFrameError as exc:
        assert str(exc)
    else:
        assert isinstance(req.data, bytes) and -(2**31) <= req.req_identifier < 2**31
        for text in (req.send_id, req.msg_incr, req.operation_id, req.token):
            text.encode("utf-8")  # no lone surrogates leak into the gateway


@FAST
@given(frames)
def test_decode_response_raises_only_envelope_errors(raw: bytes) -> None:
    try:
        resp = envelope.decode_response(raw)
    except (MalformedEnvelope, BadDataEncoding) as exc:
        assert str(exc)
    else:
        assert resp.data is None or isinstance(resp.data, bytes)
        assert isinstance(resp.req_identifier, int) and isinstance(resp.err_code, int)


@FAST
@given(st.binary(max_size=300))
def test_unpack_raises_only_bad_compression(tail: bytes) -> None:
    try:
        envelope.unpack(b"\x1f\x8b" + tail, gzip_on=True)
    except BadCompression:
        pass


@FAST
@given(st.binary(max_size=200), st.integers(0, 250), st.integers(1, 255))
def test_corrupted_gzip_never_escapes_as_another_error(payload: bytes, at: int, flip: int) -> None:
    frame = bytearray(envelope.pack(payload, gzip_on=True))
    frame[at % len(frame)] ^= flip
    try:
        envelope.unpack(bytes(frame), gzip_on=True)
    except BadCompression:
        pass


@FAST
@given(st.text(max_size=200) | envelope_objects.map(json.dumps))
def test_decode_heartbeat_raises_only_fatal_frame_errors(text: str) -> None:
    try:
        beat = envelope.decode_heartbeat(text)
    except FatalFrameError:
        pass
    else:
        assert beat.type in ("ping", "pong")


# ---------------------------------------------------------------- call notice

printable_ids = st.text(alphabet=string.ascii_letters + string.digits + "_-.@", min_size=1, max_size=20)
sane_invitations = st.builds(
    rtc_pb2.InvitationInfo,
    inviterUserID=printable_ids,
    inviteeUserIDList=st.lists(printable_ids, max_size=3),
    roomID=st.text(alphabet=string.ascii_letters + string.digits + "-", max_size=36),
    timeout=st.integers(0, 24 * 3600),
    mediaType=st.sampled_from(["", "audio", "video"]),
    platformID=st.integers(0, 11),
    initiateTime=st.integers(0, 2**42),
    busyLineUserIDList=st.lists(printable_ids, max_size=2),
)


def _assert_sane(notice: call_notice.CallNotice) -> None:
    assert notice.action in call_notice.ACTIONS
    assert notice.inviter and notice.inviter.isprintable()
    assert all(uid and uid.isprintable() for uid in notice.invitees)
    assert 0 <= notice.timeout_s <= 24 * 3600
    assert notice.media_type in ("", "audio", "video")
    assert notice.dialect in (call_notice.DIALECT_BARE_INVITE, call_notice.DIALECT_SIGNAL_REQ)


@settings(max_examples=250, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_decode_1601_on_arbitrary_bytes_never_raises(content: bytes) -> None:
    notice = call_notice.decode_1601(content)
    if notice is not None:
        _assert_sane(notice)


@FAST
@given(sane_invitations, printable_ids)
def test_bare_invite_is_recognised_as_bare(inv: rtc_pb2.InvitationInfo, user: str) -> None:
    content = rtc_pb2.SignalInviteReq(invitation=inv, userID=user).SerializeToString()
    notice = call_notice.decode_1601(content)
    assert notice is not None
    assert (notice.dialect, notice.action, notice.inviter, notice.room_id, notice.timeout_s) == (
        call_notice.DIALECT_BARE_INVITE, "invite", inv.inviterUserID, inv.roomID, inv.timeout)
    assert notice.invitees == tuple(inv.inviteeUserIDList)


@FAST
@given(sane_invitations, st.sampled_from(call_notice.ACTIONS[:6]), printable_ids)
def test_wrapper_is_recognised_as_wrapper(inv: rtc_pb2.InvitationInfo, action: str, user: str) -> None:
    req = rtc_pb2.SignalReq()
    inner = getattr(req, action)
    inner.invitation.CopyFrom(inv)
    inner.userID = user
    notice = call_notice.decode_1601(req.SerializeToString())
    assert notice is not None
    assert (notice.dialect, notice.action, notice.op_user_id, notice.inviter) == (
        call_notice.DIALECT_SIGNAL_REQ, action, user, inv.inviterUserID)


# ---------------------------------------------------------------- rtc signal

signals = st.builds(
    rtc_signal.WebRtcSignal,
    signal_type=st.sampled_from(rtc_signal.SIGNAL_TYPES),
    room_id=st.text(max_size=40),
    data=json_values,
    form=st.sampled_from([rtc_signal.FORM_TOP_LEVEL, rtc_signal.FORM_CUSTOM_WRAPPER]),
)


@FAST
@given(signals)
def test_rtc_signal_round_trip_both_forms(signal: rtc_signal.WebRtcSignal) -> None:
    assert rtc_signal.decode_signal(rtc_signal.encode_signal(signal)) == signal


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())
       | json_values.map(lambda v: json.dumps({"data": json.dumps(v)}).encode()))
def test_decode_signal_on_arbitrary_bytes_never_raises(content: bytes) -> None:
    signal = rtc_signal.decode_signal(content)
    if signal is not None:
        assert signal.signal_type in rtc_signal.SIGNAL_TYPES
        assert isinstance(signal.room_id, str)


# -------------------------------------------------------------- conversation


@FAST
@given(st.text(), st.text())
def test_single_chat_id_is_symmetric_and_byte_ordered(a: str, b: str) -> None:
    cid = single_chat_id(a, b)
    assert cid == single_chat_id(b, a)
    lo, hi = (a, b) if a.encode() <= b.encode() else (b, a)
    assert cid == f"si_{lo}_{hi}"
