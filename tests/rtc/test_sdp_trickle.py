"""Separating candidates from SDP, and reading remote candidate signals."""

from __future__ import annotations

import pytest

from callprobe.rtc.errors import InvalidSignal
from callprobe.rtc.sdp_trickle import (
    Candidate,
    embedded_candidates,
    media_sections,
    parse_candidate,
    parse_candidate_init,
    parse_description,
    split_candidates,
)

# Shaped like aiortc's max-bundle offer: the shared candidates repeated per m-line.
OFFER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 42009 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 127.0.0.1", "a=sendrecv", "a=mid:0",
    "a=rtpmap:96 opus/48000/2",
    "a=candidate:abc 1 udp 2130706431 127.0.0.1 42009 typ host",
    "a=candidate:def 1 udp 16777215 127.0.0.1 50000 typ relay raddr 0.0.0.0 rport 0",
    "a=end-of-candidates", "a=ice-ufrag:O2Tz", "a=ice-pwd:Taeqk3L9m7e0QZUPef9gRN",
    "m=video 42009 UDP/TLS/RTP/SAVPF 97", "c=IN IP4 127.0.0.1", "a=recvonly", "a=mid:1",
    "a=candidate:abc 1 udp 2130706431 127.0.0.1 42009 typ host",
    "a=end-of-candidates", "a=ice-ufrag:O2Tz",
    "m=application 0 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 127.0.0.1", "a=mid:2",
]) + "\r\n"


def test_split_removes_candidates_and_addresses_like_a_trickling_browser() -> None:
    sdp, candidates = split_candidates(OFFER)
    assert "a=candidate" not in sdp and "a=end-of-candidates" not in sdp
    assert "127.0.0.1" not in sdp
    assert [line for line in sdp.split("\r\n") if line.startswith("m=")] == [
        "m=audio 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 UDP/TLS/RTP/SAVPF 97",
        "m=application 0 UDP/DTLS/SCTP webrtc-datachannel"]   # a rejected m-line keeps port 0
    assert sdp.count("c=IN IP4 0.0.0.0") == 3
    assert sdp.endswith("\r\n") and "\r\n\r\n" not in sdp
    assert [c.to_json() for c in candidates] == [
        {"candidate": "candidate:abc 1 udp 2130706431 127.0.0.1 42009 typ host",
         "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "O2Tz"},
        {"candidate": "candidate:def 1 udp 16777215 127.0.0.1 50000 typ relay raddr 0.0.0.0 rport 0",
         "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "O2Tz"},
    ]


def test_candidates_round_trip_through_json() -> None:
    _, candidates = split_candidates(OFFER)
    for init in candidates:
        again = parse_candidate_init(init.to_json())
        assert again == init


def test_parse_candidate_fields() -> None:
    c = parse_candidate("candidate:f 1 UDP 100 192.0.2.1 3478 typ srflx raddr 10.0.0.2 rport 5000 generation 0")
    assert c == Candidate("f", 1, "udp", 100, "192.0.2.1", 3478, "srflx", "10.0.0.2", 5000)
    assert c.describe() == {"type": "srflx", "protocol": "udp", "address": "192.0.2.1",
                            "port": 3478, "related_address": "10.0.0.2"}
    tcp = parse_candidate("a=candidate:f 1 tcp 100 192.0.2.1 9 typ host tcptype active")
    assert tcp.tcp_type == "active" and tcp.to_sdp().endswith("tcptype active")


@pytest.mark.parametrize("text, message", [
    ("candidate:1 1 udp 5", "at least 8 are required"),
    ("candidate:1 1 udp 5 127.0.0.1 9 type host", "expected 'typ'"),
    ("candidate:1 x udp 5 127.0.0.1 9 typ host", "must be integers"),
    ("candidate:1 1 sctp 5 127.0.0.1 9 typ host", "neither udp nor tcp"),
    ("candidate:1 1 udp 5 127.0.0.1 9 typ magic", "unknown type 'magic'"),
    ("candidate:1 1 udp 5 127.0.0.1 99999 typ host", "is not a port number"),
])
def test_parse_candidate_names_the_fault(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_candidate(text)


@pytest.mark.parametrize("signal", [None, {"candidate": ""}, {"candidate": None, "sdpMid": "0"}, "null"])
def test_end_of_candidates_forms(signal: object) -> None:
    assert parse_candidate_init(signal) is None


@pytest.mark.parametrize("signal, message", [
    ("{not json", "not JSON"),
    ([1, 2], "expected an object"),
    ({"candidate": 5, "sdpMid": "0"}, "'candidate' must be a string"),
    ({"candidate": "candidate:1 1 udp 5 127.0.0.1 9 typ host"}, "needs 'sdpMid' or 'sdpMLineIndex'"),
    ({"candidate": "candidate:1 1 udp 5 127.0.0.1 9 typ host", "sdpMLineIndex": -1}, "non-negative"),
    ({"candidate": "candidate:1 1 udp 5 127.0.0.1 9 typ host", "sdpMid": 0}, "'sdpMid' must be a string"),
    ({"candidate": "candidate:1 1 udp 5 host.example 9 typ host", "sdpMid": "0"}, "neither an IP nor an mDNS"),
])
def test_bad_candidate_signals(signal: object, message: str) -> None:
    with pytest.raises(InvalidSignal, match=message) as caught:
        parse_candidate_init(signal)
    assert caught.value.signal == "candidate"


def test_candidate_signal_as_json_text_and_mdns_name() -> None:
    init = parse_candidate_init(
        '{"candidate": "candidate:1 1 udp 5 0b7c.local 9 typ host", "sdpMLineIndex": 0}')
    assert init is not None and init.candidate.address == "0b7c.local" and init.sdp_mid is None


@pytest.mark.parametrize("obj, message", [
    ({"type": "answer", "sdp": OFFER}, "'type' is 'answer', expected 'offer'"),
    ({"type": "offer"}, "'sdp' is missing or empty"),
    ({"type": "offer", "sdp": "hello"}, "must start with 'v=0'"),
    ({"type": "offer", "sdp": "v=0\r\ns=-\r\n"}, "no m= line"),
    ("[]", "expected an object"),
])
def test_bad_descriptions(obj: object, message: str) -> None:
    with pytest.raises(InvalidSignal, match=message):
        parse_description(obj, "offer")


def test_description_as_json_text() -> None:
    import json
    assert parse_description(json.dumps({"type": "offer", "sdp": OFFER}), "offer") == OFFER


def test_media_sections_directions_and_what_the_writer_sends() -> None:
    sections = media_sections(OFFER)
    assert [(s.kind, s.mid, s.direction, s.remote_sends) for s in sections] == [
        ("audio", "0", "sendrecv", True), ("video", "1", "recvonly", False),
        ("application", "2", "sendrecv", False)]


def test_embedded_candidates_are_listed_once() -> None:
    assert [c.type for c in embedded_candidates(OFFER)] == ["host", "relay"]
    assert embedded_candidates(split_candidates(OFFER)[0]) == []
