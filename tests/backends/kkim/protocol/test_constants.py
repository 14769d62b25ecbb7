"""Wire constants and their words: every number a report may print is explained."""

from __future__ import annotations

import pytest

from callprobe.backends.kkim.protocol import constants as c
from callprobe.backends.kkim.protocol import errors as perr


def test_every_req_identifier_has_a_text() -> None:
    missing = [m for m in c.ReqIdentifier if m.value not in c.REQ_IDENTIFIER_TEXT]
    assert missing == []
    assert set(c.REQ_IDENTIFIER_TEXT) == {m.value for m in c.ReqIdentifier}


def test_req_identifier_values_match_upstream() -> None:
    assert [int(m) for m in c.ReqIdentifier] == [
        1001, 1002, 1003, 1004, 1005, 1006, 1007, 2001, 2002, 2003, 2004, 2005, 3001]
    assert c.ReqIdentifier.SEND_SIGNAL_MSG == 1004


def test_client_requests_are_the_ones_the_gateway_serves() -> None:
    # docs/backends/kkim.md#frames: only 1001-1007, 2003, 2004, 2005; a client sending 2001/2002/3001 is dropped.
    assert {1001, 1002, 1003, 1004, 1005, 1006, 1007, 2003, 2004, 2005} == c.CLIENT_REQUESTS
    assert set(c.REQ_IDENTIFIER_TEXT) >= c.CLIENT_REQUESTS
    assert not {2001, 2002, 3001} & c.CLIENT_REQUESTS


def test_close_code_text_covers_every_close_code() -> None:
    assert set(c.CLOSE_CODE_TEXT) == {m.value for m in c.CloseCode}
    assert all(text.strip() for text in c.CLOSE_CODE_TEXT.values())
    assert "51200" in c.CLOSE_CODE_TEXT[c.CloseCode.MESSAGE_TOO_BIG]


def test_content_type_and_platform_texts_cover_their_enums() -> None:
    assert set(c.CONTENT_TYPE_TEXT) == {m.value for m in c.ContentType}
    assert set(c.PLATFORM_TEXT) == {m.value for m in c.Platform}
    assert c.Platform.WEB == 5 and c.Platform.HARMONY_OS == 11
    assert c.ContentType.CUSTOM == 110 and c.ContentType.SIGNALING_NOTIFICATION == 1601


def test_every_protocol_error_closes_with_a_known_close_code() -> None:
    fatal = [perr.FatalFrameError, perr.MalformedEnvelope, perr.BadDataEncoding, perr.BadCompression,
             perr.UnknownIdentifier, perr.BadTextFrame, perr.SendIDMismatch, perr.FrameTooLarge]
    for cls in fatal:
        assert cls.close_code in c.CLOSE_CODE_TEXT, cls
        assert cls.err_code is None, cls
    assert perr.FrameTooLarge.close_code == c.CloseCode.MESSAGE_TOO_BIG
    assert perr.SendIDMismatch.close_code == c.CloseCode.POLICY_VIOLATION
    assert perr.UnknownIdentifier.close_code == c.CloseCode.UNSUPPORTED_DATA
    codes = [cls.code for cls in fatal]
    assert len(codes) == len(set(codes))


def test_business_errors_carry_an_err_code() -> None:
    err = perr.BusinessError(c.ErrCode.USER_BUSY, "user is already in a call")
    assert err.err_code == 1802 and type(err.err_code) is int
    assert err.close_code is None
    assert str(err) == "user is already in a call"
    assert perr.BadPayload("x").err_code == 500


# -------------------------------------------------------- explain_err_code


def test_kkim_only_code() -> None:
    assert c.explain_err_code(1802) == "1802 user is already in a call (KKIM)"
    assert c.explain_err_code(1801).startswith("1801 call not found")


def test_openim_only_code() -> None:
    assert c.explain_err_code(1506) == "1506 TokenKickedError (OpenIM)"
    assert c.explain_err_code(1302) == "1302 BlockedByPeer (OpenIM)"


@pytest.mark.parametrize(("code", "kkim", "openim"), [
    (1001, "token expired", "ArgsError"),
    (1002, "token invalid", "NoPermissionError"),
    (1004, "sender equals receiver", "RecordNotFoundError"),
    (1101, "message content empty", "UserIDNotFoundError"),
])
def test_code_in_both_tables_gives_both_readings_kkim_first(code: int, kkim: str, openim: str) -> None:
    assert c.explain_err_code(code) == f"{code} {kkim} (KKIM) / {openim} (OpenIM)"


def test_code_with_the_same_meaning_in_both_is_said_once() -> None:
    assert c.explain_err_code(0) == "0 ok (KKIM)"


def test_unknown_code() -> None:
    assert c.explain_err_code(4242) == "4242 unknown error code"
    assert c.explain_err_code(-1) == "-1 unknown error code"


@pytest.mark.parametrize(("dialect", "expected"), [
    ("kkim", "1001 token expired (KKIM)"),
    ("openim", "1001 ArgsError (OpenIM)"),
    (None, "1001 token expired (KKIM) / ArgsError (OpenIM)"),
])
def test_dialect_forces_one_reading(dialect: str | None, expected: str) -> None:
    assert c.explain_err_code(1001, dialect) == expected


def test_forced_dialect_that_lacks_the_code_falls_back_and_says_so() -> None:
    # The reading is labelled with the table it came from, never passed off as the forced one.
    assert c.explain_err_code(1802, "openim") == "1802 user is already in a call (KKIM)"
    assert c.explain_err_code(1506, "kkim") == "1506 TokenKickedError (OpenIM)"
    assert c.explain_err_code(9, "kkim") == "9 unknown error code"


def test_every_err_code_member_is_explained_in_the_kkim_table() -> None:
    assert set(c.KKIM_ERR_TEXT) == {m.value for m in c.ErrCode}


def test_handshake_codes_are_upstream_ones() -> None:
    for member in c.HandshakeCode:
        assert member.value in c.OPENIM_ERR_TEXT, member
    assert c.explain_err_code(c.HandshakeCode.CONN_ARGS_ERR, "openim") == "1602 ConnArgsErr (OpenIM)"
