"""contentType 110 WebRTC signals in both custom forms (docs/backends/kkim.md#sdp-and-ice)."""

from __future__ import annotations

import json

import pytest

from callprobe.backends.kkim.protocol import rtc_signal as rs

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
             "sdpMid": "0", "sdpMLineIndex": 0}


def test_encode_top_level_exact_bytes() -> None:
    signal = rs.WebRtcSignal("answer", "room-1", {"type": "answer", "sdp": "v=0"})
    assert rs.encode_signal(signal) == (
        b'{"type":"webrtc_signal","signalType":"answer","roomID":"room-1",'
        b'"data":{"type":"answer","sdp":"v=0"}}'
    )


def test_encode_custom_wrapper_exact_bytes() -> None:
    signal = rs.WebRtcSignal("candidate", "r", None, rs.FORM_CUSTOM_WRAPPER)
    assert rs.encode_signal(signal) == (
        b'{"data":"{\\"type\\":\\"webrtc_signal\\",\\"signalType\\":\\"candidate\\",'
        b'\\"roomID\\":\\"r\\",\\"data\\":null}","description":"webrtc_signal","extension":""}'
    )


@pytest.mark.parametrize("form", [rs.FORM_TOP_LEVEL, rs.FORM_CUSTOM_WRAPPER])
@pytest.mark.parametrize(("kind", "data"), [("offer", OFFER), ("candidate", CANDIDATE)])
def test_round_trip_records_the_form(form: str, kind: str, data: object) -> None:
    signal = rs.WebRtcSignal(kind, "room-1", data, form)
    back = rs.decode_signal(rs.encode_signal(signal))
    assert back == signal and back is not None and back.form == form


def test_decode_top_level_form() -> None:
    # KKIM's sample RTC code puts the object at the top level of the content.
    content = json.dumps({"type": "webrtc_signal", "signalType": "offer", "roomID": "abc",
                          "data": OFFER}, ensure_ascii=False, indent=2).encode()
    assert rs.decode_signal(content) == rs.WebRtcSignal("offer", "abc", OFFER)


def test_decode_custom_wrapper_form() -> None:
    inner = json.dumps({"type": "webrtc_signal", "signalType": "candidate", "roomID": "abc",
                        "data": CANDIDATE})
    content = json.dumps({"data": inner, "description": "", "extension": ""}).encode()
    assert rs.decode_signal(content) == rs.WebRtcSignal("candidate", "abc", CANDIDATE,
                                                        rs.FORM_CUSTOM_WRAPPER)


def test_non_string_room_id_reads_as_empty() -> None:
    content = b'{"type":"webrtc_signal","signalType":"offer","roomID":42,"data":null}'
    signal = rs.decode_signal(content)
    assert signal is not None and signal.room_id == ""


@pytest.mark.parametrize("content", [
    b"", b"\xff\xfe\x00", b"hello", b"null", b"[]", b'"webrtc_signal"',
    b'{"type":"text","signalType":"offer"}',
    b'{"type":"webrtc_signal","signalType":"bye"}',
    b'{"type":"webrtc_signal","signalType":["offer"]}',
    b'{"type":"webrtc_signal"}',
    b'{"data":"not json","description":"x"}',
    b'{"data":"{\\"type\\":\\"other\\"}"}',
    b'{"data":{"type":"webrtc_signal","signalType":"offer"}}',   # wrapper data must be a string
    b"[" * 50000,
    b'{"data":"' + b"[" * 50000 + b'"}',
], ids=lambda v: repr(v)[:40])
def test_other_content_is_none(content: bytes) -> None:
    assert rs.decode_signal(content) is None
