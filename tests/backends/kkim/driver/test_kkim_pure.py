"""Pure parts of the KKIM driver: URLs, refusals, close explanations, call bookkeeping."""

from __future__ import annotations

import pytest

from callprobe.backends.kkim.calls import (
    KnownCalls,
    invitation_from_1601,
    notice_kind,
    server_reason_1004,
    server_reason_1601,
)
from callprobe.backends.kkim.client import explain_close, parse_refusal, push_summary
from callprobe.backends.kkim.driver import default_api_url
from callprobe.backends.kkim.handshake import build_ws_url
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import (
    DIALECT_BARE_INVITE,
    DIALECT_SIGNAL_REQ,
)
from callprobe.backends.kkim.requests import text_content
from callprobe.backends.urls import redact
from callprobe.errors import ConfigError

from .scripted import invitation, signal_req


def test_ws_url_keeps_existing_query_and_path() -> None:
    url = build_ws_url("ws://h:1/gw?x=1", user_id="u 1", token="t", platform_id=5, operation_id="op")
    assert url.startswith("ws://h:1/gw?") and "x=1" in url and "sendID=u+1" in url
    assert "compression" not in url and "isMsgResp" not in url
    assert "token=REDACTED" in redact(url) and "t&" not in redact(url).split("token=")[1][:2]
    with pytest.raises(ConfigError, match="ws://host:port"):
        build_ws_url("http://h:1", user_id="u", token="t", platform_id=5, operation_id="op")


def test_parse_refusal_tolerates_junk() -> None:
    assert parse_refusal(b'{"errCode":1602,"errMsg":"ConnArgsErr","errDlt":"need token"}') == (
        1602, "ConnArgsErr", "need token")
    assert parse_refusal(b"<html>") == (0, "", "")
    assert parse_refusal(b"[1]") == (0, "", "")
    assert parse_refusal('{"errCode":"x"}') == (0, "", "")


def test_explain_close_variants() -> None:
    pending = [(1003, "7", 100.0)]
    text = explain_close(1006, "", "server", pending, (1003, "7", 100.0), 130.0)
    assert "30 ms after request 1003 (SendMsg) msgIncr 7" in text and "reqIdentifier" in text
    assert "51200-byte limit" in explain_close(1009, "", "server", pending, None, 101.0)
    assert "logout" in explain_close(1000, "", "server", [], (2003, "2", 1.0), 2.0)
    assert explain_close(1000, "", "client", pending, None, 1.0).startswith("closed by this client")
    assert explain_close(1001, "bye", "server", [], None, 1.0).endswith("): bye")


def test_push_summary_lists_both_maps() -> None:
    push = sdkws_pb2.PushMessages()
    push.msgs["si_a_b"].Msgs.add(sendID="a", contentType=101, seq=3, clientMsgID="c")
    push.notificationMsgs["n_a_b"].Msgs.add(sendID="b", contentType=2101, seq=1)
    rows = push_summary(push)
    assert [(r["map"], r["content_type"], r["send_id"]) for r in rows] == [
        ("msgs", 101, "a"), ("notificationMsgs", 2101, "b")]


def test_default_api_url_is_one_port_up() -> None:
    assert default_api_url("ws://10.0.0.1:10001") == "http://10.0.0.1:10002"
    assert default_api_url("wss://example.test:443/") == "https://example.test:444"


def test_text_content_is_kkims_documented_form() -> None:
    assert text_content("hé") == '{"text":"hé"}'.encode()


def test_callbook_resolves_dedupes_and_ends() -> None:
    book = KnownCalls()
    assert book.resolve("") == ("", True)
    book.add("r1", invitation("alice", "bob", "tmp"), "inviter", 10.0, temp_room_id="tmp")
    book.add("r2", invitation("carol", "alice", "r2"), "invitee", 20.0)
    assert book.get("r1").invitation.roomID == "r1"  # type: ignore[union-attr]
    assert book.resolve("") == ("r2", True) and book.resolve("rx") == ("rx", False)
    book.end("r2")
    assert book.resolve("") == ("r1", True)
    assert book.first_arrival("r1", "accept", "unsolicited_1004", 5.0, "answered") is None
    earlier = book.first_arrival("r1", "accept", "push_1601", 9.0, "answered")
    assert earlier is not None and earlier.path == "unsolicited_1004" and earlier.t_ms == 5.0
    assert book.get("r1").peer_of("alice") == "bob"  # type: ignore[union-attr]
    assert book.get("r2").peer_of("alice") == "carol"  # type: ignore[union-attr]


def test_notice_kind_recognises_timeouts() -> None:
    book = KnownCalls()
    record = book.add("r", invitation("alice", "bob", "r", timeout=2), "invitee", 1000.0)
    assert notice_kind("accept", op_user="bob", record=record, t_ms=1100.0) == "answered"
    assert notice_kind("hungUp", op_user=None, record=record, t_ms=9999.0) == "hung_up"
    assert notice_kind("cancel", op_user="alice", record=record, t_ms=1100.0) == "cancelled"
    assert notice_kind("cancel", op_user="", record=record, t_ms=1100.0) == "call_timeout"
    assert notice_kind("reject", op_user=None, record=record, t_ms=1100.0, server_reason="timeout") == "call_timeout"
    # no operator named and the ring deadline passed: the server's timeout
    assert notice_kind("cancel", op_user=None, record=record, t_ms=2900.0) == "call_timeout"
    assert notice_kind("cancel", op_user=None, record=record, t_ms=1500.0) == "cancelled"
    assert notice_kind("cancel", op_user="alice", record=record, t_ms=5000.0) == "cancelled"


def test_server_reasons() -> None:
    assert server_reason_1004("call-timeout") == "timeout"
    assert server_reason_1004("a1b2") == ""
    assert server_reason_1601('{"reason":"timeout"}') == "timeout"
    assert server_reason_1601("") == "" and server_reason_1601("{bad") == "" and server_reason_1601("[]") == ""


def test_invitation_from_1601_both_dialects() -> None:
    inv = invitation("alice", "bob", "r9")
    bare = rtc_pb2.SignalInviteReq(userID="alice")
    bare.invitation.CopyFrom(inv)
    got, op = invitation_from_1601(bare.SerializeToString(), DIALECT_BARE_INVITE)
    assert got.roomID == "r9" and op == "alice"
    got, op = invitation_from_1601(signal_req("reject", inv, "bob").SerializeToString(), DIALECT_SIGNAL_REQ)
    assert got.inviterUserID == "alice" and op == "bob"
